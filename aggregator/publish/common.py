"""What every output format shares: the feed's metadata and provenance markup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from aggregator import __version__
from aggregator.config import Settings
from aggregator.models import Item

GENERATOR = "aggregator"
GENERATOR_URI = "https://github.com/forced-labour-news/aggregator"
# The `updated` of a feed with no items: a fixed instant, so an empty feed is stable.
EMPTY_FEED_UPDATED = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FeedInfo:
    title: str
    subtitle: str
    home_url: str
    language: str
    updated: datetime
    version: str = __version__

    def url(self, name: str) -> str:
        return self.home_url + name


def feed_info(settings: Settings, items: list[Item]) -> FeedInfo:
    updated = max((i.updated for i in items), default=EMPTY_FEED_UPDATED)
    return FeedInfo(
        title=settings.title,
        subtitle=settings.subtitle or settings.title,
        home_url=settings.public_url,
        language=settings.language,
        updated=updated,
    )


def provenance_html(item: Item) -> str:
    """A visible credit line, so every reader shows who carried the story."""
    parts = []
    for source in item.sources:
        name = escape(source.source_name)
        parts.append(f'<a href="{escape(source.link)}">{name}</a>' if source.link else name)
    first, others = parts[0], parts[1:]
    text = f"Published by {first}"
    if others:
        text += "; also carried by " + ", ".join(others)
    return f'<p class="provenance"><small>{text}.</small></p>'


def body_html(item: Item) -> str:
    return (item.content_html or item.summary_html) + provenance_html(item)


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
