"""What every output format shares: the feed's metadata, provenance markup and the
publish-time safety net (plain text without markup, sanitised HTML, absolute URLs).

Everything an output prints goes through `text`, `safe_html` or `safe_url`, even
though normalize.py cleaned it on the way in: an item can come from a retention
snapshot, a store written by an older version, or `feeds.toml` itself (partner
names), and a feed reader must never be handed something executable.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from urllib.parse import urljoin, urlsplit, urlunsplit

import nh3

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
    hub: str | None = None  # WebSub hub advertised by subscription documents
    # RFC 5005 links, as folders under the site ("archive/2026-11/"); None: no link.
    current: str | None = None  # the subscription document, from an archive
    prev_archive: str | None = None
    next_archive: str | None = None
    archived: bool = False  # a closed month's archive document (fh:archive)
    month: str | None = None  # "2026-11" for a month's document
    ttl: int | None = None  # minutes a reader may cache the document (RSS <ttl>)

    def url(self, name: str) -> str:
        """The public URL of `name` in this feed's folder."""
        return self.home_url + self.path + name

    def link(self, folder: str | None, name: str) -> str | None:
        """The public URL of `name` in another folder of the site (None stays None)."""
        return None if folder is None else self.home_url + folder + name

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
    ttl = max(1, int(settings.schedule_interval.total_seconds() // 60))
    return FeedInfo(
        title=text(title),
        subtitle=text(subtitle),
        home_url=settings.public_url,
        language=settings.language,
        updated=updated,
        path=timeline.path if timeline is not None else "",
        hub=settings.websub_hub,
        ttl=ttl,
    )


# A "<" that would open a tag, a comment or a declaration in an HTML reader.
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
# C0/C1 controls other than tab and newline (invalid in XML 1.0, invisible anyway),
# and the private-use characters the RSS writer uses as stand-ins (feeds.py).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ue000-\ue002\ufffe\uffff]")
URL_SCHEMES = frozenset({"http", "https"})
_LINK_SCHEMES = frozenset({*URL_SCHEMES, "mailto"})
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "longdesc", "poster", "background"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def text(value: str | None) -> str:
    """A plain-text field (title, name, tag) that no reader can take for markup.

    RSS readers disagree on whether a title is HTML, and the W3C validator flags
    markup in text fields (ContainsHTML, SecurityRisk). So whitespace is
    collapsed, control characters are dropped, and a "<" that would open a tag
    becomes "‹" (U+2039): "use <script> injection" reads "use ‹script› injection".
    A "<" before a space or digit ("wages < 300") is left alone.
    """
    if not value:
        return ""
    cleaned = _CONTROL.sub("", value)
    cleaned = _TAG_OPEN.sub("\u2039", cleaned)
    if "\u2039" in cleaned:
        cleaned = cleaned.replace(">", "\u203a")
    return " ".join(cleaned.split())


def safe_url(url: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) URL, or None: resolves `url` against `base`, drops the rest."""
    if not url:
        return None
    candidate = _CONTROL.sub("", url).strip()
    try:
        resolved = urljoin(base or "", candidate)
        parts = urlsplit(resolved)
    except ValueError:
        return None
    if parts.scheme.lower() not in URL_SCHEMES or not parts.netloc:
        return None
    return resolved


def canonical_uri(url: str) -> str:
    """An http(s) URL in the canonical form feed validators expect of ids (RFC 3986 §6.2.2).

    Lower-case scheme and host, no default port, "/" for an empty path, upper-case
    percent escapes. Other URIs (tag:, urn:) are returned unchanged.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.lower()
    if parts.port is not None and parts.port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"

    def upper(match: re.Match[str]) -> str:
        return match.group(0).upper()

    path = re.sub(r"%[0-9a-fA-F]{2}", upper, parts.path or "/")
    query = re.sub(r"%[0-9a-fA-F]{2}", upper, parts.query)
    return urlunsplit((scheme, host, path, query, parts.fragment))


def safe_html(value: str, base: str | None) -> str:
    """HTML with nothing executable and every URL absolute (ammonia's allow-list via nh3).

    No script, style, frames, forms or event-handler attributes survive; URLs are
    resolved against `base` (the item's link) and kept only when http(s) or mailto.
    """
    if not value or not value.strip():
        return ""

    def resolve(element: str, attribute: str, attr_value: str) -> str | None:
        if attribute not in _URL_ATTRIBUTES:
            return attr_value
        if attr_value.strip().lower().startswith("mailto:"):
            return attr_value.strip()
        return safe_url(attr_value, base)

    cleaned = nh3.clean(
        _CONTROL.sub("", value),
        url_schemes=set(_LINK_SCHEMES),
        attribute_filter=resolve,
        link_rel="noopener noreferrer",
    )
    return cleaned.strip()


def provenance_html(item: Item) -> str:
    """A visible credit line, so every reader shows who carried the story."""
    parts = []
    for source in item.sources:
        name = escape(text(source.source_name) or source.source_id)
        link = safe_url(source.link)
        parts.append(
            f'<a href="{escape(link)}" rel="noopener noreferrer">{name}</a>' if link else name
        )
    if not parts:
        return ""
    first, others = parts[0], parts[1:]
    credit = f"Published by {first}"
    if others:
        credit += "; also carried by " + ", ".join(others)
    return f'<p class="provenance"><small>{credit}.</small></p>'


def item_base(item: Item, info: FeedInfo | None = None) -> str | None:
    """What relative URLs inside an item resolve against: its link, else the site."""
    return safe_url(item.link) or (info.home_url if info is not None else None)


def body_html(item: Item, base: str | None = None) -> str:
    """The item's content (or summary), sanitised, followed by the credit line."""
    content = safe_html(item.content_html or item.summary_html, base or item_base(item))
    return content + provenance_html(item)


def unique_items(items: list[Item]) -> list[Item]:
    """Items with distinct ids (the first wins): a feed must never repeat an id."""
    seen: set[str] = set()
    out = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            out.append(item)
    return out


def entry_updated(item: Item) -> datetime:
    """The item's `updated` with a millisecond fraction derived from its id.

    The W3C validator warns when two entries of an Atom document share an
    `updated` (DuplicateUpdated), which items dated by day alone often would. A
    fraction taken from the id (never from the neighbours) keeps the value within
    the same second and stable wherever the item appears.
    """
    fraction = int(hashlib.sha256(item.id.encode()).hexdigest()[:8], 16) % 1000
    return item.updated.replace(microsecond=fraction * 1000)


def month_of(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m")


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_ms(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds (for `entry_updated`)."""
    moment = value.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
