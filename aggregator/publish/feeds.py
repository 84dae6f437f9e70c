"""Atom 1.0 and RSS 2.0 through feedgen, with per-item provenance.

Atom: `atom:source` names the original publisher; every carrier is also a
`link rel="via"` (RFC 4287 §4.2.7.2). RSS: `<source url>` names the original
publisher. Both carry a visible credit line at the end of the content.
"""

from __future__ import annotations

from feedgen.feed import FeedGenerator
from lxml import etree

from aggregator.models import Item
from aggregator.publish.common import GENERATOR, GENERATOR_URI, FeedInfo, body_html

ATOM_NAME = "atom.xml"
RSS_NAME = "rss.xml"
ATOM_NS = "http://www.w3.org/2005/Atom"


def _generator(info: FeedInfo, items: list[Item], self_name: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(info.url(ATOM_NAME))
    fg.title(info.title)
    fg.subtitle(info.subtitle)
    fg.description(info.subtitle)
    fg.author({"name": info.title, "uri": info.home_url})
    fg.link(href=info.home_url, rel="alternate")
    fg.link(href=info.url(self_name), rel="self")
    fg.language(info.language)
    fg.updated(info.updated)
    fg.lastBuildDate(info.updated)
    fg.generator(GENERATOR, version=info.version, uri=GENERATOR_URI)
    # feedgen prepends entries; add oldest first so the document is newest first.
    for item in reversed(items):
        fe = fg.add_entry()
        fe.id(item.id)
        fe.guid(item.id, permalink=False)
        fe.title(item.title)
        if item.link:
            fe.link(href=item.link, rel="alternate")
        fe.published(item.published)
        fe.updated(item.updated)
        if item.author:
            fe.author({"name": item.author})
        for tag in item.tags:
            fe.category(term=tag)
        fe.content(body_html(item), type="html")
        if item.summary_html and item.content_html:
            fe.summary(item.summary_html, type="html")
        origin = item.sources[0]
        fe.source(url=origin.source_url, title=origin.source_name)
    return fg


def render_atom(info: FeedInfo, items: list[Item]) -> bytes:
    root = etree.fromstring(_generator(info, items, ATOM_NAME).atom_str())
    # feedgen 1.0 drops rel and title from entry links, so add them here.
    for element, item in zip(root.iterfind(f"{{{ATOM_NS}}}entry"), items, strict=True):
        for link in element.iterfind(f"{{{ATOM_NS}}}link"):
            link.set("rel", "alternate")
        seen = {item.link}
        for source in item.sources:
            if source.link and source.link not in seen:
                seen.add(source.link)
                via = etree.SubElement(element, f"{{{ATOM_NS}}}link")
                via.set("rel", "via")
                via.set("href", source.link)
                via.set("title", source.source_name)
    etree.indent(root, space="  ")
    data: bytes = etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    return data


def render_rss(info: FeedInfo, items: list[Item]) -> bytes:
    data: bytes = _generator(info, items, RSS_NAME).rss_str(pretty=True)
    return data
