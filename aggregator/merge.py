"""Merge entries from different sources into stories, with stable ids and provenance.

Pure functions. Entries whose canonical URLs are equal are one story (so a partner
re-publishing a story under a tracking-parameter link joins the original); so are
entries of different partners with near-duplicate titles published within WINDOW
of each other (similarity.py says what "near-duplicate" means). A story's `tag:`
URI is derived once from its seed — the first member's canonical URL (or its
source and key when it has no link) — stored, and never recomputed, whatever joins
the cluster later. Members are processed in a fixed order (date, source, key), so a
rebuild from scratch over the same data mints the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aggregator.config import Source
from aggregator.models import Item, Provenance, StoredEntry
from aggregator.normalize import plain_text
from aggregator.similarity import TitleKey, same_story, similarity, text_words, title_key


def seed_of(entry: StoredEntry) -> str:
    return entry.canonical_url or f"{entry.source_id} {entry.key}"


def story_uri(seed: str, authority: str) -> str:
    """RFC 4151 tag: URI for a story, e.g. tag:news.example.org,2026:story/3f2a…"""
    digest = hashlib.sha256(seed.encode()).hexdigest()[:20]
    return f"tag:{authority}:story/{digest}"


WINDOW = timedelta(days=10)  # re-publications come within days of the original
NEAR = timedelta(days=4)  # a rewritten title joins by its summary only this close in time
CANDIDATES = 10  # stories examined per entry: those sharing its rarest words
COMMON_WORD = 50  # a word in more stories of the window than this finds no candidates


@dataclass(slots=True)
class _Story:
    uri: str
    sources: set[str] = field(default_factory=set)
    members: list[tuple[datetime, TitleKey, frozenset[str]]] = field(default_factory=list)


class _FuzzyIndex:
    """Stories near in time, found through their title words (an inverted index)."""

    def __init__(self) -> None:
        self.stories: dict[str, _Story] = {}
        self.by_word: dict[str, set[str]] = {}

    def add(self, uri: str, entry: StoredEntry) -> None:
        story = self.stories.setdefault(uri, _Story(uri))
        story.sources.add(entry.source_id)
        key = title_key(entry.title)
        story.members.append((entry.published_at, key, _summary(entry)))
        for word in key.words:
            self.by_word.setdefault(word, set()).add(uri)

    def sources_of(self, uri: str) -> set[str]:
        story = self.stories.get(uri)
        return story.sources if story else set()

    def find(self, entry: StoredEntry) -> str | None:
        source_id, published = entry.source_id, entry.published_at
        key = title_key(entry.title)
        summary = _summary(entry)
        # Candidates come through the title's less common words: a word carried by
        # very many stories in the window ("forced", "labour") finds nothing specific.
        counts: dict[str, int] = {}
        weights: dict[str, float] = {}
        specific = 0
        for word in key.words:
            posting = self.by_word.get(word, ())
            if len(posting) > COMMON_WORD:
                continue
            specific += 1
            rarity = 1.0 / len(posting) if posting else 0.0
            for uri in posting:
                counts[uri] = counts.get(uri, 0) + 1
                weights[uri] = weights.get(uri, 0.0) + rarity
        needed = min(2, specific)
        # The stories sharing the rarest words, at most CANDIDATES of them: a
        # re-publication shares its specific words, and this bounds the work per entry
        # whatever the size of the window.
        ranked = sorted(
            (uri for uri, shared in counts.items() if shared >= needed),
            key=lambda uri: (-weights[uri], uri),
        )[:CANDIDATES]
        best: tuple[float, str] | None = None
        for uri in ranked:
            story = self.stories[uri]
            if source_id in story.sources:
                continue  # a partner does not publish one story twice
            for when, other, other_summary in story.members:
                if abs(when - published) > WINDOW:
                    continue
                near = abs(when - published) <= NEAR
                if not same_story(key, other, summary, other_summary, near=near):
                    continue
                score = similarity(key, other)
                if best is None or (score, uri) > best:
                    best = (score, uri)
        return best[1] if best else None


def _summary(entry: StoredEntry) -> frozenset[str]:
    return text_words(plain_text(entry.summary_html)) if entry.summary_html else frozenset()


def plan_assignments(
    unassigned: Iterable[StoredEntry],
    known: Mapping[str, str],
    authority: str,
    neighbours: Iterable[StoredEntry] = (),
) -> list[tuple[int, str, str]]:
    """Decide the story of each unassigned entry: [(entry pk, story uri, seed)].

    `known` maps canonical URLs (and seeds) already in the store to their story URI;
    `neighbours` are entries already in stories and published near the unassigned
    ones (within WINDOW), for near-duplicate titles. An entry joins, in order: the
    story of its canonical URL; a story of another partner with a near-duplicate
    title within WINDOW (see similarity.py); else a new story.
    """
    index = dict(known)
    fuzzy = _FuzzyIndex()
    for entry in sorted(neighbours, key=lambda e: (e.published_at, e.source_id, e.key)):
        if entry.story_uri is not None:
            fuzzy.add(entry.story_uri, entry)
    plan: list[tuple[int, str, str]] = []
    ordered = sorted(unassigned, key=lambda e: (e.published_at, e.source_id, e.key))
    for entry in ordered:
        seed = seed_of(entry)
        uri = index.get(entry.canonical_url or "") or index.get(seed)
        if uri is not None and entry.source_id in fuzzy.sources_of(uri):
            # The partner already gave this story under another id with the same
            # link: a generic link (its news page), not one story. Keep them apart.
            uri, seed = None, f"{entry.source_id} {entry.key}"
        if uri is None:
            uri = fuzzy.find(entry)
        if uri is None:
            uri = story_uri(seed, authority)
        index.setdefault(seed, uri)
        if entry.canonical_url:
            index.setdefault(entry.canonical_url, uri)
        fuzzy.add(uri, entry)
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
    # Our own tags first (classification, then the partners' tags from feeds.toml),
    # then the categories the partners' feeds gave.
    tags: dict[str, None] = {}
    for member in [primary, *by_date]:
        tags.update(dict.fromkeys(member.labels))
    for member in [primary, *by_date]:
        tags.update(dict.fromkeys(sources[member.source_id].tags))
    for member in [primary, *by_date]:
        tags.update(dict.fromkeys(member.tags))
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
        language=primary.language,
        why=primary.why,
    )


def build_items(
    stories: Iterable[Sequence[StoredEntry]], sources: Mapping[str, Source]
) -> list[Item]:
    items = [build_item(members, sources) for members in stories if members]
    items.sort(key=lambda i: (i.published, i.id), reverse=True)
    return items


def item_json(item: Item) -> dict[str, Any]:
    """An item as plain JSON values (the snapshot kept when a story is pruned)."""
    return {
        "id": item.id,
        "title": item.title,
        "url": item.link,
        "summary_html": item.summary_html,
        "content_html": item.content_html,
        "author": item.author,
        "published": item.published.isoformat(),
        "updated": item.updated.isoformat(),
        "tags": list(item.tags),
        "sources": [
            {
                "id": p.source_id,
                "name": p.source_name,
                "feed_url": p.source_url,
                "home_page_url": p.home_page,
                "url": p.link,
                "published": p.published.isoformat(),
            }
            for p in item.sources
        ],
    }


def item_from_json(data: dict[str, Any]) -> Item:
    """The inverse of `item_json`: a pruned story's snapshot back as an Item."""
    return Item(
        id=str(data["id"]),
        title=str(data.get("title") or ""),
        link=data.get("url"),
        summary_html=str(data.get("summary_html") or ""),
        content_html=str(data.get("content_html") or ""),
        author=data.get("author"),
        published=datetime.fromisoformat(data["published"]),
        updated=datetime.fromisoformat(data["updated"]),
        tags=tuple(str(t) for t in data.get("tags") or ()),
        sources=tuple(
            Provenance(
                source_id=str(p["id"]),
                source_name=str(p.get("name") or p["id"]),
                source_url=str(p.get("feed_url") or ""),
                home_page=p.get("home_page_url"),
                link=p.get("url"),
                published=datetime.fromisoformat(p["published"]),
            )
            for p in data.get("sources") or ()
        ),
    )
