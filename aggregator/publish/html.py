"""The timeline pages: index.html, one page per tag, the tags index, and embed.js.

Purpose: a readable, accessible page for people, with no JavaScript at all.
Input: a `Snapshot`. Output: `(path, bytes)` pairs like every renderer.
Failure: none expected; a template error is a bug and stops the publish.

Pages are rendered with Jinja2 with autoescaping on for every template, so all
item text (titles, summaries, partner names, tags) is escaped; summaries are shown
as plain text, never as HTML. Every link is relative to the page (the site works
wherever output/ is served, and in a local preview); a link whose scheme is not
http(s) is dropped. Days and months are UTC days and months, newest first, as in
digest.json. Nothing depends on the wall clock except the `stale` flag of the
health summary, so an unchanged store renders byte-identical pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined

from aggregator import __version__
from aggregator.config import Source
from aggregator.health import STATES, Health, assess
from aggregator.models import Item, SourceState
from aggregator.normalize import plain_text
from aggregator.publish.common import GENERATOR_URI, feed_info, rfc3339, tag_slug

if TYPE_CHECKING:
    from aggregator.publish import Snapshot

PAGE_NAME = "index.html"
TAGS_INDEX = "tags/index.html"
EMBED_NAME = "embed.js"
SUMMARY_CHARS = 280  # a summary longer than this is cut at a word and ends with "…"
# States that mean the operator should look at a source (see health.py).
ATTENTION = ("failing", "gone", "moved", "slow")

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Link:
    """A name with an optional http(s) URL (relative or absolute)."""

    text: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class PageItem:
    id: str
    title: str
    url: str | None
    summary: str
    published: str  # RFC 3339, for <time datetime>
    when: str  # "2 November 2026, 10:00 UTC"
    tags: tuple[Link, ...]
    sources: tuple[Link, ...]  # the original publisher first


@dataclass(frozen=True, slots=True)
class Day:
    date: str  # YYYY-MM-DD (UTC), also the heading's id
    heading: str  # "Monday 2 November 2026"
    items: tuple[PageItem, ...]


@dataclass(frozen=True, slots=True)
class Month:
    key: str  # YYYY-MM
    heading: str  # "November 2026"
    days: tuple[Day, ...]


@dataclass(frozen=True, slots=True)
class TagPage:
    slug: str
    label: str
    url: str  # relative to the page that links to it
    count: int


@dataclass(frozen=True, slots=True)
class Attention:
    name: str
    url: str | None
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class HealthSummary:
    total: int
    counts: tuple[tuple[str, int], ...]  # every state, in health.STATES order
    stale: int
    attention: tuple[Attention, ...]


def safe_url(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL with a host, else None (no javascript: etc.)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def summary_text(item: Item, limit: int = SUMMARY_CHARS) -> str:
    """The item's summary as plain text, cut at a word boundary near `limit`."""
    text = plain_text(item.summary_html or item.content_html)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.—-")
    return cut + "…"


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _when(value: datetime) -> str:
    """ "2 November 2026, 10:00 UTC"; midnight is a date-only source, so no time is shown."""
    date = f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    if (value.hour, value.minute, value.second) == (0, 0, 0):
        return date
    return f"{date}, {value:%H:%M} UTC"


def _tags(tags: Iterable[str], tag_urls: dict[str, str]) -> tuple[Link, ...]:
    """An item's tags once per slug ("child labour" and "child-labour" are one tag)."""
    seen: set[str] = set()
    links = []
    for tag in tags:
        slug = tag_slug(tag)
        if slug and slug not in seen:
            seen.add(slug)
            links.append(Link(tag, tag_urls.get(slug)))
    return tuple(links)


def page_item(item: Item, tag_urls: dict[str, str]) -> PageItem:
    """One item as the page shows it; `tag_urls` maps a tag slug to its page's URL."""
    published = _utc(item.published)
    sources = tuple(Link(p.source_name, safe_url(p.link)) for p in item.sources)
    return PageItem(
        id=item.id,
        title=item.title,
        url=safe_url(item.link),
        summary=summary_text(item),
        published=rfc3339(published),
        when=_when(published),
        tags=_tags(item.tags, tag_urls),
        sources=sources,
    )


def group_by_day(items: Sequence[Item], tag_urls: dict[str, str] | None = None) -> list[Month]:
    """Items (newest first) grouped into UTC months and days, in the items' order."""
    days: dict[str, list[PageItem]] = {}
    first: dict[str, datetime] = {}
    for item in items:
        published = _utc(item.published)
        key = f"{published:%Y-%m-%d}"
        first.setdefault(key, published)
        days.setdefault(key, []).append(page_item(item, tag_urls or {}))
    months: dict[str, list[Day]] = {}
    for key, day_items in days.items():
        when = first[key]
        heading = f"{WEEKDAYS[when.weekday()]} {when.day} {MONTHS[when.month - 1]} {when.year}"
        months.setdefault(key[:7], []).append(Day(key, heading, tuple(day_items)))
    return [
        Month(key, f"{MONTHS[int(key[5:]) - 1]} {key[:4]}", tuple(month_days))
        for key, month_days in months.items()
    ]


def health_summary(
    sources: Sequence[Source], states: dict[str, SourceState], now: datetime
) -> HealthSummary:
    """Counts per state and the sources that need the operator's attention."""
    counts = dict.fromkeys(STATES, 0)
    stale = 0
    attention = []
    for source in sources:
        health = assess(source, states.get(source.id), now)
        counts[health.state] = counts.get(health.state, 0) + 1
        stale += health.stale
        if health.state in ATTENTION or health.stale:
            state = states.get(source.id)
            shown = health.state if health.state in ATTENTION else "stale"
            url = safe_url(source.home_page) or safe_url(source.url)
            attention.append(Attention(source.name, url, shown, _reason(shown, health, state)))
    return HealthSummary(
        total=len(sources),
        counts=tuple(counts.items()),
        stale=stale,
        attention=tuple(attention),
    )


def _reason(shown: str, health: Health, state: SourceState | None) -> str:
    """A short reason that stays the same while the state does.

    Health reasons count failures and time fetches; on the page that would rewrite
    index.html every pass. The details are in status.json and `aggregator sources`.
    """
    if shown == "failing" and state is not None:
        return f"the last fetch failed ({state.last_error_kind or 'error'})"
    if shown == "moved" and state is not None and state.moved_to:
        return f"the feed moved to {state.moved_to}"
    if shown == "gone":
        return "the feed is gone (HTTP 410)"
    if shown == "slow":
        return "the feed answers slowly"
    return health.reason  # stale: "nothing new since <date>"


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("aggregator.publish", "templates"),
        autoescape=True,  # every template: item text is data, never markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_ENV = _environment()


def _root(path: str) -> str:
    """The relative URL from a page in folder `path` back to the site root."""
    depth = path.count("/")
    return "../" * depth


def render_pages(snapshot: Snapshot) -> Iterable[tuple[str, bytes]]:
    """index.html, tags/<slug>/index.html for every tag timeline, and tags/index.html."""
    settings = snapshot.settings
    timelines = sorted(snapshot.tags, key=lambda t: ((t.label or t.slug).casefold(), t.slug))
    main_info = feed_info(settings, snapshot.main.items)
    now = snapshot.now or main_info.updated
    common = {
        "site_title": settings.title,
        "site_subtitle": settings.subtitle,
        "language": settings.language,
        "version": __version__,
        "generator_uri": GENERATOR_URI,
    }

    def tag_links(root: str) -> list[TagPage]:
        return [
            TagPage(t.slug, t.label or t.slug, f"{root}{t.path}", len(t.items)) for t in timelines
        ]

    for timeline in (snapshot.main, *timelines):
        root = _root(timeline.path)
        info = feed_info(settings, timeline.items, timeline)
        tag_urls = {t.slug: f"{root}{t.path}" for t in timelines}
        page = _ENV.get_template("timeline.html").render(
            **common,
            root=root,
            title=timeline.label or timeline.slug or settings.title,
            html_title=(
                f"{timeline.label or timeline.slug} — {settings.title}"
                if timeline.slug
                else settings.title
            ),
            feed_title=info.title,
            feed_path=timeline.path,
            is_tag=bool(timeline.slug),
            is_tags_index=False,
            current=timeline.slug,
            canonical=info.page_url,
            updated=rfc3339(info.updated) if timeline.items else None,
            updated_text=_when(_utc(info.updated)) if timeline.items else None,
            months=group_by_day(timeline.items, tag_urls),
            count=len(timeline.items),
            tags=tag_links(root),
            health=(
                health_summary(snapshot.sources, snapshot.states, now)
                if not timeline.slug
                else None
            ),
        )
        yield timeline.path + PAGE_NAME, page.encode("utf-8")
    root = _root(TAGS_INDEX)
    page = _ENV.get_template("tags.html").render(
        **common,
        root=root,
        title="Tags",
        html_title=f"Tags — {settings.title}",
        feed_title=main_info.title,
        feed_path="",
        is_tags_index=True,
        current="",
        canonical=settings.public_url + "tags/",
        tags=tag_links(root),
    )
    yield TAGS_INDEX, page.encode("utf-8")


def embed_script() -> bytes:
    """The partner widget, shipped as package data (aggregator/publish/static/embed.js)."""
    return (resources.files("aggregator.publish") / "static" / EMBED_NAME).read_bytes()


def render_embed(snapshot: Snapshot) -> Iterable[tuple[str, bytes]]:
    yield EMBED_NAME, embed_script()
