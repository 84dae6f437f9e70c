"""Atom 1.0 (RFC 4287) and RSS 2.0, written with lxml, with per-item provenance.

Atom: each entry's `atom:source` names the original publisher (its feed as id and
self link, its site as alternate); every other carrier is a `link rel="via"`
(RFC 4287 §4.2.7.2). RSS: `<source url>` names the original publisher, the item
author is `dc:creator` (RSS `<author>` must be an e-mail address). Both carry a
visible credit line at the end of the content, the WebSub hub (`rel="hub"`) and
the RFC 5005 archive links (`current`, `prev-archive`, `next-archive`,
`fh:archive`) that `FeedInfo` names.

Documents follow the W3C Feed Validator's rules (tests/feedcheck.py checks each
one): metadata before entries, typed self and alternate links, `xml:lang`,
descriptions before `content:encoded`, distinct entry `updated` values, plain-text
fields without markup, RFC 822 dates in RSS.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from lxml import etree

from aggregator.models import Item
from aggregator.publish.common import (
    GENERATOR,
    GENERATOR_URI,
    FeedInfo,
    body_html,
    canonical_uri,
    entry_updated,
    item_base,
    rfc3339,
    rfc3339_ms,
    safe_html,
    safe_url,
    text,
    unique_items,
)

ATOM_NAME = "atom.xml"
RSS_NAME = "rss.xml"
ATOM_NS = "http://www.w3.org/2005/Atom"
FH_NS = "http://purl.org/syndication/history/1.0"
DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
HTML_TYPE = "text/html"
RSS_DOCS = "https://www.rssboard.org/rss-specification"
UNTITLED = "(untitled)"

# RSS plain-text elements get "&", "<" and ">" as hexadecimal character references,
# the encoding the RSS Best Practices Profile recommends (W3C: CharacterData). The
# text carries private-use stand-ins through lxml, replaced after serialisation.
_STAND_INS = {"&": "\ue000", "<": "\ue001", ">": "\ue002"}
_HEX_REFS = {
    "\ue000".encode(): b"&#x26;",
    "\ue001".encode(): b"&#x3C;",
    "\ue002".encode(): b"&#x3E;",
}


def _sub(
    parent: etree._Element, tag: str, value: str | None = None, **attrs: str
) -> etree._Element:
    element = etree.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrs.items()})
    if value is not None:
        element.text = value
    return element


def _serialise(root: etree._Element) -> bytes:
    etree.indent(root, space="  ")
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data + b"\n"


def _feed_id(info: FeedInfo) -> str:
    """Archive documents share the id of their subscription document (one logical feed)."""
    return info.link(info.current, ATOM_NAME) or info.url(ATOM_NAME)


def _archive_links(info: FeedInfo, name: str) -> list[tuple[str, str]]:
    links = []
    for rel, folder in (
        ("current", info.current),
        ("prev-archive", info.prev_archive),
        ("next-archive", info.next_archive),
    ):
        url = info.link(folder, name)
        if url is not None:
            links.append((rel, url))
    return links


# --- Atom ---


def render_atom(info: FeedInfo, items: list[Item]) -> bytes:
    items = unique_items(items)
    nsmap: dict[str | None, str] = {None: ATOM_NS}
    if info.archived:
        nsmap["fh"] = FH_NS
    a = f"{{{ATOM_NS}}}"
    root = etree.Element(a + "feed", nsmap=nsmap)  # type: ignore[arg-type]  # stubs lack None
    root.set(f"{{{XML_NS}}}lang", info.language)
    _sub(root, a + "id", canonical_uri(_feed_id(info)))
    _sub(root, a + "title", info.title or UNTITLED, type="text")
    if info.subtitle:
        _sub(root, a + "subtitle", info.subtitle, type="text")
    updates = [entry_updated(item) for item in items]
    _sub(root, a + "updated", rfc3339_ms(max(updates)) if updates else rfc3339(info.updated))
    author = _sub(root, a + "author")
    _sub(author, a + "name", info.title or UNTITLED)
    _sub(author, a + "uri", info.home_url)
    _sub(root, a + "link", rel="alternate", type=HTML_TYPE, href=info.home_url)
    _sub(root, a + "link", rel="self", type=ATOM_TYPE, href=info.url(ATOM_NAME))
    if info.hub:
        _sub(root, a + "link", rel="hub", href=info.hub)
    for rel, url in _archive_links(info, ATOM_NAME):
        _sub(root, a + "link", rel=rel, type=ATOM_TYPE, href=url)
    if info.archived:
        _sub(root, f"{{{FH_NS}}}archive")
    _sub(root, a + "generator", GENERATOR, uri=GENERATOR_URI, version=info.version)
    for item, updated in zip(items, updates, strict=True):
        _atom_entry(root, info, item, rfc3339_ms(updated))
    return _serialise(root)


def _atom_entry(root: etree._Element, info: FeedInfo, item: Item, updated: str) -> None:
    a = f"{{{ATOM_NS}}}"
    entry = _sub(root, a + "entry")
    _sub(entry, a + "id", item.id)
    _sub(entry, a + "title", text(item.title) or UNTITLED, type="text")
    link = safe_url(item.link)
    if link:
        _sub(entry, a + "link", rel="alternate", type=HTML_TYPE, href=link)
    seen = {link}
    for source in item.sources:
        via = safe_url(source.link)
        if via and via not in seen:
            seen.add(via)
            name = text(source.source_name) or source.source_id
            _sub(entry, a + "link", rel="via", type=HTML_TYPE, href=via, title=name)
    _sub(entry, a + "published", rfc3339(item.published))
    _sub(entry, a + "updated", updated)
    if text(item.author):
        _sub(_sub(entry, a + "author"), a + "name", text(item.author))
    for tag in dict.fromkeys(text(t) for t in item.tags):
        if tag:
            _sub(entry, a + "category", term=tag)
    base = item_base(item, info)
    if item.summary_html and item.content_html:
        summary = safe_html(item.summary_html, base)
        if summary:
            _sub(entry, a + "summary", summary, type="html")
    _sub(entry, a + "content", body_html(item, base), type="html")
    if item.sources:
        _atom_source(entry, item)


def _atom_source(entry: etree._Element, item: Item) -> None:
    """RFC 4287 §4.2.11: the original publisher's feed, with the metadata we know."""
    a = f"{{{ATOM_NS}}}"
    origin = item.sources[0]
    feed_url = safe_url(origin.source_url)
    source = _sub(entry, a + "source")
    _sub(source, a + "id", canonical_uri(feed_url) if feed_url else f"{item.id}:source")
    _sub(source, a + "title", text(origin.source_name) or origin.source_id, type="text")
    # The partner's own feed `updated` is not kept; its date for this story is
    # the latest we know it to have changed.
    _sub(source, a + "updated", rfc3339(origin.published))
    if feed_url:
        _sub(source, a + "link", rel="self", href=feed_url)
    home = safe_url(origin.home_page)
    if home:
        _sub(source, a + "link", rel="alternate", type=HTML_TYPE, href=home)


# --- RSS 2.0 ---


def _plain(value: str) -> str:
    """RSS plain text, with stand-ins for the characters written as hex references."""
    return "".join(_STAND_INS.get(c, c) for c in value)


def _rfc822(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC))


def render_rss(info: FeedInfo, items: list[Item]) -> bytes:
    items = unique_items(items)
    nsmap = {"atom": ATOM_NS, "dc": DC_NS, "content": CONTENT_NS}
    if info.archived:
        nsmap["fh"] = FH_NS
    a = f"{{{ATOM_NS}}}"
    root = etree.Element("rss", nsmap=nsmap, version="2.0")
    channel = _sub(root, "channel")
    _sub(channel, "title", _plain(info.title or UNTITLED))
    _sub(channel, "link", info.home_url)
    _sub(channel, "description", _plain(info.subtitle or info.title or UNTITLED))
    _sub(channel, "language", info.language)
    _sub(channel, "lastBuildDate", _rfc822(info.updated))
    _sub(channel, "generator", _plain(f"{GENERATOR} {info.version}"))
    _sub(channel, "docs", RSS_DOCS)
    if info.ttl is not None:
        _sub(channel, "ttl", str(info.ttl))
    _sub(channel, a + "link", rel="self", type=RSS_TYPE, href=info.url(RSS_NAME))
    if info.hub:
        _sub(channel, a + "link", rel="hub", href=info.hub)
    for rel, url in _archive_links(info, RSS_NAME):
        _sub(channel, a + "link", rel=rel, type=RSS_TYPE, href=url)
    if info.archived:
        _sub(channel, f"{{{FH_NS}}}archive")
    for item in items:
        _rss_item(channel, info, item)
    data = _serialise(root)
    for stand_in, reference in _HEX_REFS.items():
        data = data.replace(stand_in, reference)
    return data


def _rss_item(channel: etree._Element, info: FeedInfo, item: Item) -> None:
    element = _sub(channel, "item")
    _sub(element, "title", _plain(text(item.title) or UNTITLED))
    link = safe_url(item.link)
    if link:
        _sub(element, "link", link)
    base = item_base(item, info)
    body = body_html(item, base)
    summary = safe_html(item.summary_html, base) if item.content_html else ""
    # RSS Best Practices Profile: the summary in description, before the full text
    # in content:encoded; without a summary the full text is the description.
    if summary:
        _sub(element, "description", summary)
        _sub(element, f"{{{CONTENT_NS}}}encoded", body)
    else:
        _sub(element, "description", body)
    if text(item.author):
        _sub(element, f"{{{DC_NS}}}creator", _plain(text(item.author)))
    for tag in dict.fromkeys(text(t) for t in item.tags):
        if tag:
            _sub(element, "category", _plain(tag))
    _sub(element, "guid", item.id, isPermaLink="false")
    _sub(element, "pubDate", _rfc822(item.published))
    if item.sources:
        origin = item.sources[0]
        feed_url = safe_url(origin.source_url)
        if feed_url:
            name = text(origin.source_name) or origin.source_id
            _sub(element, "source", _plain(name), url=feed_url)
