"""Merge entries from different sources into stories, with stable ids and provenance.

Pure functions. First version of the clustering rule: entries whose canonical URLs
are equal are one story (so a partner re-publishing a story under a tracking-
parameter link joins the original). A story's `tag:` URI is derived once from its
seed — the first member's canonical URL (or its source and key when it has no
link) — stored, and never recomputed, whatever joins the cluster later. Members are
processed in a fixed order (date, source, key), so a rebuild from scratch over the
same data mints the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from aggregator.config import Source
from aggregator.models import Item, Provenance, StoredEntry


def seed_of(entry: StoredEntry) -> str:
    return entry.canonical_url or f"{entry.source_id} {entry.key}"


def story_uri(seed: str, authority: str) -> str:
    """RFC 4151 tag: URI for a story, e.g. tag:news.example.org,2026:story/3f2a…"""
    digest = hashlib.sha256(seed.encode()).hexdigest()[:20]
    return f"tag:{authority}:story/{digest}"


def plan_assignments(
    unassigned: Iterable[StoredEntry], known: Mapping[str, str], authority: str
) -> list[tuple[int, str, str]]:
    """Decide the story of each unassigned entry: [(entry pk, story uri, seed)].

    `known` maps canonical URLs (and seeds) already in the store to their story URI.
    """
    index = dict(known)
    plan: list[tuple[int, str, str]] = []
    ordered = sorted(unassigned, key=lambda e: (e.published_at, e.source_id, e.key))
    for entry in ordered:
        seed = seed_of(entry)
        uri = index.get(entry.canonical_url or "") or index.get(seed)
        if uri is None:
            uri = story_uri(seed, authority)
        index.setdefault(seed, uri)
        if entry.canonical_url:
            index.setdefault(entry.canonical_url, uri)
        plan.append((entry.pk, uri, seed))
    return plan


def _host(url: str | None) -> str:
    if not url:
        return ""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def _is_original(entry: StoredEntry, source: Source) -> bool:
    """The partner whose own site the story's link points to published it first-hand."""
    link_host = _host(entry.link)
    return bool(link_host) and link_host in {_host(source.home_page), _host(source.url)}


def build_item(members: Sequence[StoredEntry], sources: Mapping[str, Source]) -> Item:
    """One published item from a story's members (all carried by configured sources)."""
    by_date = sorted(members, key=lambda e: (e.published_at, e.source_id, e.pk))
    originals = [m for m in by_date if _is_original(m, sources[m.source_id])]
    primary = originals[0] if originals else by_date[0]
    published = by_date[0].published_at
    changes = [published]
    for member in members:
        if member.modified_at:
            changes.append(member.modified_at)
        if member.claimed_updated and member.claimed_updated <= member.last_seen_at:
            changes.append(member.claimed_updated)
    provenance = tuple(
        Provenance(
            source_id=m.source_id,
            source_name=sources[m.source_id].name,
            source_url=sources[m.source_id].url,
            home_page=sources[m.source_id].home_page,
            link=m.link,
            published=m.published_at,
        )
        for m in [primary, *(m for m in by_date if m is not primary)]
    )
    tags: dict[str, None] = {}
    for member in [primary, *by_date]:
        tags.update(dict.fromkeys(member.tags))
        tags.update(dict.fromkeys(sources[member.source_id].tags))
    assert primary.story_uri is not None
    return Item(
        id=primary.story_uri,
        title=primary.title,
        link=primary.link,
        summary_html=primary.summary_html,
        content_html=primary.content_html,
        author=primary.author,
        published=published,
        updated=max(changes),
        tags=tuple(tags),
        sources=provenance,
    )


def build_items(
    stories: Iterable[Sequence[StoredEntry]], sources: Mapping[str, Source]
) -> list[Item]:
    items = [build_item(members, sources) for members in stories if members]
    items.sort(key=lambda i: (i.published, i.id), reverse=True)
    return items
