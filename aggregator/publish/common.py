"""What every output format shares: the feed's metadata and provenance markup."""

from __future__ import annotations

import re
import unicodedata
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
    """One feed's metadata. `path` is its folder under the site ("" or "tags/x/")."""

    title: str
    subtitle: str
    home_url: str
    language: str
    updated: datetime
    version: str = __version__
    path: str = ""

    def url(self, name: str) -> str:
        """The public URL of `name` in this feed's folder."""
        return self.home_url + self.path + name

    @property
    def page_url(self) -> str:
        """The HTML page this feed belongs to (its folder's index)."""
        return self.home_url + self.path


def tag_slug(tag: str) -> str:
    """A stable URL slug for a tag: "Child Labour" -> "child-labour", "Côte" -> "cote"."""
    folded = unicodedata.normalize("NFKD", tag)
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")


@dataclass(frozen=True, slots=True)
class Timeline:
    """The items of one published feed: the whole timeline, or one tag's."""

    items: list[Item]
    slug: str = ""  # "" for the whole timeline; else the tag slug
    label: str = ""  # what the tag is, for titles ("Child labour")

    @property
    def path(self) -> str:
        return f"tags/{self.slug}/" if self.slug else ""


def feed_info(settings: Settings, items: list[Item], timeline: Timeline | None = None) -> FeedInfo:
    updated = max((i.updated for i in items), default=EMPTY_FEED_UPDATED)
    title, subtitle = settings.title, settings.subtitle or settings.title
    if timeline is not None and timeline.slug:
        title = f"{settings.title}: {timeline.label or timeline.slug}"
        subtitle = f"{subtitle} — {timeline.label or timeline.slug}"
    return FeedInfo(
        title=title,
        subtitle=subtitle,
        home_url=settings.public_url,
        language=settings.language,
        updated=updated,
        path=timeline.path if timeline is not None else "",
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
