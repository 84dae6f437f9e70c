"""JSON Feed 1.1 and the JSON digest.

JSON Feed provenance lives in the `_aggregator` extension of each item:
`{"sources": [{"id", "name", "url", "feed_url", "date_published"}]}`, the first
being the original publisher. JSON Feed has no archive standard, so the feed-level
`_aggregator` extension carries the RFC 5005 links (`current`, `prev_archive`,
`next_archive`, `archive`, `month`) and `next_url` points to the next older
document, so a reader that pages through `next_url` walks the whole history. The
WebSub hub is in `hubs`. Both formats are documented in docs/CLI.md ("Output
formats"); the digest is versioned by its `version` key.
"""

from __future__ import annotations

import json
from typing import Any

from aggregator.models import Item
from aggregator.normalize import plain_text
from aggregator.publish.common import (
    FeedInfo,
    body_html,
    item_base,
    rfc3339,
    safe_url,
    text,
    unique_items,
)

JSONFEED_NAME = "feed.json"
DIGEST_NAME = "digest.json"
DIGEST_VERSION = "1"


def _dump(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _sources(item: Item) -> list[dict[str, Any]]:
    out = []
    for source in item.sources:
        entry: dict[str, Any] = {
            "id": source.source_id,
            "name": text(source.source_name) or source.source_id,
        }
        feed_url = safe_url(source.source_url)
        if feed_url:
            entry["feed_url"] = feed_url
        entry["date_published"] = rfc3339(source.published)
        link = safe_url(source.link)
        if link:
            entry["url"] = link
        home = safe_url(source.home_page)
        if home:
            entry["home_page_url"] = home
        out.append(entry)
    return out


def _history(info: FeedInfo) -> dict[str, Any]:
    """The feed-level `_aggregator` extension: where this document sits in the history."""
    links: dict[str, Any] = {}
    if info.month is not None:
        links["month"] = info.month
        links["archive"] = info.archived
    for key, folder in (
        ("current", info.current),
        ("prev_archive", info.prev_archive),
        ("next_archive", info.next_archive),
    ):
        url = info.link(folder, JSONFEED_NAME)
        if url is not None:
            links[key] = url
    return links


def render_jsonfeed(info: FeedInfo, items: list[Item]) -> bytes:
    doc: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": info.title or "(untitled)",
        "home_page_url": info.home_url,
        "feed_url": info.url(JSONFEED_NAME),
    }
    older = info.link(info.prev_archive, JSONFEED_NAME)
    if older is not None:
        doc["next_url"] = older
    doc.update(
        description=info.subtitle,
        language=info.language,
        authors=[{"name": info.title or "(untitled)", "url": info.home_url}],
    )
    if info.hub:
        doc["hubs"] = [{"type": "WebSub", "url": info.hub}]
    history = _history(info)
    if history:
        doc["_aggregator"] = history
    doc["items"] = [_item(info, item) for item in unique_items(items)]
    return _dump(doc)


def _item(info: FeedInfo, item: Item) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": item.id}
    link = safe_url(item.link)
    if link:
        entry["url"] = link
    entry["title"] = text(item.title) or "(untitled)"
    entry["content_html"] = body_html(item, item_base(item, info))
    summary = text(plain_text(item.summary_html))
    if summary:
        entry["summary"] = summary
    entry["date_published"] = rfc3339(item.published)
    entry["date_modified"] = rfc3339(item.updated)
    if text(item.author):
        entry["authors"] = [{"name": text(item.author)}]
    tags = [t for t in dict.fromkeys(text(t) for t in item.tags) if t]
    if tags:
        entry["tags"] = tags
    if item.language:
        entry["language"] = text(item.language)
    entry["_aggregator"] = {"sources": _sources(item)}
    return entry


def relevance(item: Item) -> dict[str, Any] | None:
    """Why the item was kept (classification of its primary entry), for digest.json."""
    if not item.why:
        return None
    why = json.loads(item.why)
    return {
        "score": why.get("score"),
        "kind": text(str(why.get("kind") or "")),
        "themes": [text(str(t)) for t in why.get("themes") or ()],
        "countries": [text(str(c)) for c in why.get("countries") or ()],
        "matches": [
            {"term": text(str(m.get("term"))), "field": text(str(m.get("field")))}
            for m in why.get("matches") or ()
        ],
    }


def render_digest(info: FeedInfo, items: list[Item]) -> bytes:
    """Latest items grouped by UTC day, newest day first."""
    days: dict[str, list[dict[str, Any]]] = {}
    items = unique_items(items)
    for item in items:
        day = item.published.strftime("%Y-%m-%d")
        days.setdefault(day, []).append(
            {
                "id": item.id,
                "title": text(item.title) or "(untitled)",
                "url": safe_url(item.link),
                "published": rfc3339(item.published),
                "updated": rfc3339(item.updated),
                "summary": text(plain_text(item.summary_html or item.content_html))[:500],
                "tags": [t for t in dict.fromkeys(text(t) for t in item.tags) if t],
                "language": text(item.language) if item.language else None,
                "relevance": relevance(item),
                "sources": _sources(item),
            }
        )
    doc = {
        "version": DIGEST_VERSION,
        "title": info.title,
        "home_page_url": info.home_url,
        "feeds": {
            "atom": info.url("atom.xml"),
            "rss": info.url("rss.xml"),
            "json": info.url(JSONFEED_NAME),
        },
        "updated": rfc3339(info.updated),
        "item_count": len(items),
        "days": [{"date": day, "items": day_items} for day, day_items in days.items()],
    }
    return _dump(doc)
