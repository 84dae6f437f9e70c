"""OPML 2.0 subscription lists: the partners (sources.opml) and our own feeds (feeds.opml).

Purpose: move source lists between feed readers and aggregators, and let a reader
subscribe to every timeline we publish in one go. Input: settings and sources, or a
publish `Snapshot`'s timelines. Output: OPML 2.0 bytes (http://opml.org/spec2.opml),
written with lxml. Failure: none (every value is escaped by lxml; characters XML
forbids are removed first).

sources.opml, one outline per configured source, in feeds.toml order:

- a feed: `type="rss"` (OPML's word for any feed, Atom and JSON Feed included),
  `text` and `title` = name, `xmlUrl` = url, `htmlUrl` = home_page when configured;
- an HTML news list: `type="link"` with `url` = the page (OPML 2.0 §"link": it is not
  a feed, so it has no `xmlUrl` a reader would fail on);
- `category` = the source's tags, comma-separated (OPML 2.0: a category without a
  slash is a tag); a comma or slash inside a tag becomes a space, since both are
  separators there;
- in our own namespace (`aggregator:`, ignored by other readers, OPML 2.0
  §"Extending OPML"): the source `id`, and for an HTML source `type="html"` and its
  selectors (`html-item`, `html-title`, …), so `aggregator opml import` on another
  instance recreates the same sources.

feeds.opml: three folders, "Atom 1.0", "RSS 2.0" and "JSON Feed 1.1", each with the
whole timeline and every per-tag timeline of the snapshot in that format. A reader
should subscribe to one folder; importing all three subscribes to each timeline thrice.

Neither file holds a wall-clock time (feeds.opml's `dateModified` is the newest
item's), so an unchanged pass leaves both byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC
from email.utils import format_datetime
from typing import TYPE_CHECKING

from lxml import etree

from aggregator.config import HtmlSelectors, Settings, Source
from aggregator.encoding import strip_xml_forbidden
from aggregator.publish.common import FeedInfo, Timeline, feed_info
from aggregator.publish.feeds import ATOM_NAME, RSS_NAME
from aggregator.publish.jsonfeed import JSONFEED_NAME

if TYPE_CHECKING:
    from aggregator.publish import Snapshot

SOURCES_OPML_NAME = "sources.opml"
FEEDS_OPML_NAME = "feeds.opml"
OPML_DOCS = "http://opml.org/spec2.opml"
NS = "https://github.com/forced-labour-news/aggregator/ns/opml"
NS_PREFIX = "aggregator"
HTML_PREFIX = "html-"  # selector attributes: aggregator:html-item, aggregator:html-title, …
FORMATS = (
    ("Atom 1.0", ATOM_NAME),
    ("RSS 2.0", RSS_NAME),
    ("JSON Feed 1.1", JSONFEED_NAME),
)


def _clean(value: str) -> str:
    return strip_xml_forbidden(value, char_refs=False)[0]


def _set(element: etree._Element, name: str, value: str | None) -> None:
    if value:
        element.set(name, _clean(value))


def _ns(name: str) -> str:
    return f"{{{NS}}}{name}"


def tag_category(tags: Sequence[str]) -> str:
    """Tags as an OPML `category` value: comma-separated, without slashes."""
    cleaned = (" ".join(t.replace(",", " ").replace("/", " ").split()) for t in tags)
    return ",".join(t for t in cleaned if t)


def _document(
    title: str, owner: str | None, nsmap: dict[str, str] | None = None
) -> tuple[etree._Element, etree._Element, etree._Element]:
    root = etree.Element("opml", nsmap=nsmap)
    root.set("version", "2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _clean(title)
    if owner:
        etree.SubElement(head, "ownerId").text = _clean(owner)
    etree.SubElement(head, "docs").text = OPML_DOCS
    body = etree.SubElement(root, "body")
    return root, head, body


def _bytes(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _selectors(html: HtmlSelectors) -> list[tuple[str, str]]:
    out = []
    for field in fields(html):
        value = getattr(html, field.name)
        if field.name == "day_first":
            if value is False:  # the default, True, is left out
                out.append((field.name, "false"))
        elif value is not None:
            out.append((field.name, str(value)))
    return out


def source_outline(parent: etree._Element, source: Source) -> etree._Element:
    outline = etree.SubElement(parent, "outline")
    outline.set("text", _clean(source.name))
    outline.set("title", _clean(source.name))
    if source.type == "html":
        outline.set("type", "link")
        outline.set("url", source.url)
    else:
        outline.set("type", "rss")
        outline.set("xmlUrl", source.url)
    _set(outline, "htmlUrl", source.home_page)
    _set(outline, "category", tag_category(source.tags))
    outline.set(_ns("id"), source.id)
    if source.type == "html" and source.html is not None:
        outline.set(_ns("type"), "html")
        for key, value in _selectors(source.html):
            outline.set(_ns(HTML_PREFIX + key), _clean(value))
    return outline


def render_sources_opml(settings: Settings, sources: Sequence[Source]) -> bytes:
    """The partners: one outline per configured source (see the module docstring)."""
    root, _, body = _document(
        f"{settings.title}: partner sources",
        settings.contact_url or settings.public_url,
        {NS_PREFIX: NS},
    )
    for source in sources:
        source_outline(body, source)
    return _bytes(root)


def render_feeds_opml(settings: Settings, timelines: Sequence[Timeline]) -> bytes:
    """Our own feeds: a folder per format, each with every timeline in that format."""
    infos: list[tuple[FeedInfo, Timeline]] = [
        (feed_info(settings, t.items, t), t) for t in timelines
    ]
    root, head, body = _document(
        f"{settings.title}: feeds", settings.contact_url or settings.public_url
    )
    if infos:
        newest = max(info.updated for info, _ in infos)
        # OPML 2.0 dates are RFC 822; placed before <docs> like the spec's examples.
        modified = etree.Element("dateModified")
        modified.text = format_datetime(newest.astimezone(UTC), usegmt=True)
        head.insert(1, modified)
    for label, name in FORMATS:
        folder = etree.SubElement(body, "outline")
        folder.set("text", label)
        folder.set("title", label)
        for info, timeline in infos:
            outline = etree.SubElement(folder, "outline")
            outline.set("text", _clean(info.title))
            outline.set("title", _clean(info.title))
            outline.set("type", "rss")
            outline.set("xmlUrl", info.url(name))
            outline.set("htmlUrl", info.page_url)
            _set(outline, "category", tag_category([timeline.label or timeline.slug]))
            _set(outline, "description", info.subtitle)
            _set(outline, "language", info.language)
    return _bytes(root)


def render_opml(snapshot: Snapshot) -> Iterable[tuple[str, bytes]]:
    """The publish renderer: sources.opml (#7) and feeds.opml (#6)."""
    yield SOURCES_OPML_NAME, render_sources_opml(snapshot.settings, snapshot.sources)
    yield FEEDS_OPML_NAME, render_feeds_opml(snapshot.settings, (snapshot.main, *snapshot.tags))
