"""JSON Feed 1.1 and the JSON digest.

JSON Feed provenance lives in the `_aggregator` extension of each item:
`{"sources": [{"id", "name", "url", "feed_url", "date_published"}]}`, the first
being the original publisher. The digest format is documented in docs/CLI.md
("Output formats") and is versioned by its `version` key.
"""

from __future__ import annotations

import json
from typing import Any

from aggregator.models import Item
from aggregator.normalize import plain_text
from aggregator.publish.common import FeedInfo, body_html, rfc3339

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
            "name": source.source_name,
            "feed_url": source.source_url,
            "date_published": rfc3339(source.published),
        }
        if source.link:
            entry["url"] = source.link
        if source.home_page:
            entry["home_page_url"] = source.home_page
        out.append(entry)
    return out


def render_jsonfeed(info: FeedInfo, items: list[Item]) -> bytes:
    doc: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": info.title,
        "home_page_url": info.home_url,
        "feed_url": info.url(JSONFEED_NAME),
        "description": info.subtitle,
        "language": info.language,
        "authors": [{"name": info.title, "url": info.home_url}],
        "items": [],
    }
    for item in items:
        entry: dict[str, Any] = {"id": item.id}
        if item.link:
            entry["url"] = item.link
        entry["title"] = item.title
        entry["content_html"] = body_html(item)
        summary = plain_text(item.summary_html)
        if summary:
            entry["summary"] = summary
        entry["date_published"] = rfc3339(item.published)
        entry["date_modified"] = rfc3339(item.updated)
        if item.author:
            entry["authors"] = [{"name": item.author}]
        if item.tags:
            entry["tags"] = list(item.tags)
        entry["_aggregator"] = {"sources": _sources(item)}
        doc["items"].append(entry)
    return _dump(doc)


def render_digest(info: FeedInfo, items: list[Item]) -> bytes:
    """Latest items grouped by UTC day, newest day first."""
    days: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        day = item.published.strftime("%Y-%m-%d")
        days.setdefault(day, []).append(
            {
                "id": item.id,
                "title": item.title,
                "url": item.link,
                "published": rfc3339(item.published),
                "updated": rfc3339(item.updated),
                "summary": plain_text(item.summary_html or item.content_html)[:500],
                "tags": list(item.tags),
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
