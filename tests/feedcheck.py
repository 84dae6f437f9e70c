"""The W3C Feed Validator's rules that apply to what we publish, as checks (#7).

Each problem is reported as "<RuleName>: detail", RuleName being the validator's
own message class (docs/warning/<RuleName>.html, docs/error/<RuleName>.html on
the validator's site), so a failure says which public rule the output broke.
The structural rules are the schemas' job (RELAX NG, JSON Schema, in
test_publish.py); these are the ones the schemas cannot express. Also used by
the hostile-content test: `unsafe_markup` finds anything executable.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# IANA link relations the validator accepts (UnregisteredAtomLinkRel otherwise).
REGISTERED_RELS = frozenset(
    [
        "alternate",
        "current",
        "enclosure",
        "edit",
        "edit-media",
        "first",
        "hub",
        "last",
        "license",
        "next",
        "next-archive",
        "payment",
        "prev-archive",
        "previous",
        "related",
        "replies",
        "self",
        "via",
    ]
)
HISTORY_RELS = frozenset({"current", "prev-archive", "next-archive", "first", "last"})
FEED_METADATA = frozenset(
    ATOM + n
    for n in [
        "author",
        "category",
        "contributor",
        "generator",
        "icon",
        "id",
        "link",
        "logo",
        "rights",
        "subtitle",
        "title",
        "updated",
    ]
)
# The validator's checks for content that "may contain HTML" (SecurityRisk family),
# extended to every element and scheme a browser could execute.
UNSAFE_ELEMENTS = frozenset(
    [
        "script",
        "style",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "meta",
        "link",
        "base",
        "form",
        "input",
        "button",
        "textarea",
        "select",
        "svg",
        "math",
        "template",
        "noscript",
    ]
)
UNSAFE_SCHEMES = ("javascript:", "vbscript:", "data:", "livescript:", "mocha:")
URL_ATTRIBUTES = frozenset(
    [
        "href",
        "src",
        "cite",
        "longdesc",
        "poster",
        "background",
        "action",
        "formaction",
        "data",
        "codebase",
        "dynsrc",
        "lowsrc",
        "usemap",
        "xlink:href",
    ]
)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
RFC822 = re.compile(
    r"^((Mon|Tue|Wed|Thu|Fri|Sat|Sun), *)?\d\d? +(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
    r"Nov|Dec) +\d\d(\d\d)? +\d\d:\d\d(:\d\d)? +([+-]?\d\d\d\d|UT|GMT|[ECMP][SD]T|\w)$"
)
TAG_URI = re.compile(
    r"^tag:([a-z0-9\-._]+?@)?[a-z0-9.\-]+?,\d{4}(-\d{2}(-\d{2})?)?:"
    r"[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,]+$"
)
MIME = re.compile(r"^[^\s()<>,;:\\\"/\[\]?=]+/[^\s()<>,;:\\\"/\[\]?=]+$")
LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$")
# ContainsHTML/ContainsUndeclaredHTML and the SecurityRisk scans of plain text.
MARKUP_IN_TEXT = re.compile(r"<[A-Za-z/!?]")


def _is_http(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _canonical(url: str) -> bool:
    """NonCanonicalURI: lower-case scheme and host, no default port, a path, %XX upper."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    default = {"http": ":80", "https": ":443"}.get(parts.scheme.lower(), "")
    return (
        parts.scheme == parts.scheme.lower()
        and host == host.lower()
        and not (default and host.endswith(default))
        and bool(parts.path)
        and not re.search(r"%([0-9a-f][a-f]|[a-f][0-9a-f])", parts.path + parts.query)
    )


def _unsafe_url(value: str) -> bool:
    squashed = re.sub(r"[\x00-\x20]+", "", value).lower()
    return squashed.startswith(UNSAFE_SCHEMES)


def unsafe_markup(html: str, where: str, *, base_required: bool = True) -> list[str]:
    """Everything executable, or relative, in an HTML fragment (SecurityRisk family)."""
    problems: list[str] = []
    if not html.strip():
        return problems
    for element in lxml.html.fragments_fromstring(f"<div>{html}</div>"):
        if not isinstance(element, etree._Element):
            continue
        for node in element.iter():
            if not isinstance(node.tag, str):
                continue
            if node.tag.lower() in UNSAFE_ELEMENTS:
                problems.append(f"SecurityRisk: <{node.tag}> in {where}")
            for name, value in node.attrib.items():
                lowered = name.lower()
                if lowered.startswith("on"):
                    problems.append(f"SecurityRiskAttr: {name} on <{node.tag}> in {where}")
                if lowered == "style":
                    problems.append(f"DangerousStyleAttr: style on <{node.tag}> in {where}")
                if lowered in URL_ATTRIBUTES or lowered.endswith(":href"):
                    if _unsafe_url(value):
                        problems.append(f"SecurityRisk: {name}={value!r} in {where}")
                    elif base_required and not (
                        _is_http(value) or value.lower().startswith("mailto:")
                    ):
                        problems.append(f"ContainsRelRef: {name}={value!r} in {where}")
    return problems


def unsafe_text(value: str | None, where: str) -> list[str]:
    """Markup in a plain-text field (ContainsHTML, ContainsUndeclaredHTML, SecurityRisk)."""
    if value and MARKUP_IN_TEXT.search(value):
        return [f"ContainsUndeclaredHTML: {value!r} in {where}"]
    return []


def _date3339(value: str | None, where: str) -> list[str]:
    if value is None or not RFC3339.match(value):
        return [f"InvalidRFC3339Date: {value!r} in {where}"]
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return [f"InvalidRFC3339Date: {value!r} in {where}"]
    return []


def _date822(value: str | None, where: str) -> list[str]:
    if value is None or not RFC822.match(value):
        return [f"InvalidRFC2822Date: {value!r} in {where}"]
    parsed = parsedate_to_datetime(value)
    if "," in value and parsed.strftime("%a") != value.split(",")[0]:
        return [f"IncorrectDOW: {value!r} in {where}"]
    return []


def _id(value: str | None, where: str) -> list[str]:
    if not value or value != value.strip():
        return [f"MissingElement: id in {where}"]
    if value.startswith("tag:"):
        return [] if TAG_URI.match(value) else [f"InvalidTAG: {value!r} in {where}"]
    if not _is_http(value):
        return [f"InvalidFullLink: {value!r} in {where}"]
    return [] if _canonical(value) else [f"NonCanonicalURI: {value!r} in {where}"]


def _links(
    links: list[etree._Element], where: str, *, feed_level: bool
) -> tuple[list[str], dict[str, list[str]]]:
    problems: list[str] = []
    by_rel: dict[str, list[str]] = {}
    alternates: set[tuple[str, str]] = set()
    for link in links:
        rel = link.get("rel", "alternate")
        href = link.get("href")
        if href is None:
            problems.append(f"MissingHref: link rel={rel} in {where}")
            continue
        if (link.text or "").strip():
            problems.append(f"AtomLinkNotEmpty: link rel={rel} in {where}")
        if rel not in REGISTERED_RELS and not _is_http(rel):
            problems.append(f"UnregisteredAtomLinkRel: {rel} in {where}")
        if not feed_level and rel in HISTORY_RELS:
            problems.append(f"FeedHistoryRelInEntry: {rel} in {where}")
        if link.get("type") is not None and not MIME.match(link.get("type", "")):
            problems.append(f"InvalidMIMEType: {link.get('type')!r} in {where}")
        if not _is_http(href):
            problems.append(f"InvalidFullLink: {rel} href={href!r} in {where}")
        if rel == "alternate":
            key = (link.get("type", ""), link.get("hreflang", ""))
            if key in alternates:
                problems.append(f"DuplicateAtomLink: alternate {key} in {where}")
            alternates.add(key)
        by_rel.setdefault(rel, []).append(href)
    return problems, by_rel


def _history(archived: bool, by_rel: dict[str, list[str]], where: str) -> list[str]:
    if not archived:
        return []
    problems = []
    if not (by_rel.get("prev-archive") or by_rel.get("next-archive")):
        problems.append(f"ArchiveIncomplete: {where}")
    if not by_rel.get("current"):
        problems.append(f"MissingCurrentInArchive: {where}")
    return problems


def check_atom(data: bytes, location: str) -> list[str]:
    """The validator's Atom 1.0 rules for the document served at `location`."""
    problems: list[str] = []
    root = etree.fromstring(data)
    if root.tag != ATOM + "feed":
        return [f"UndefinedElement: root {root.tag}"]
    if root.prefix is not None:
        problems.append(f"AvoidNamespacePrefix: {root.prefix}")
    if not root.get(XML_LANG):
        problems.append("MissingDCLanguage: xml:lang on feed")
    seen_entry = False
    for child in root:
        if child.tag == ATOM + "entry":
            seen_entry = True
        elif seen_entry and child.tag in FEED_METADATA:
            problems.append(f"MisplacedMetadata: {child.tag} after an entry")
    for name in ("id", "title", "updated"):
        if root.find(ATOM + name) is None:
            problems.append(f"MissingElement: feed {name}")
    problems += _id(root.findtext(ATOM + "id"), "feed")
    problems += _date3339(root.findtext(ATOM + "updated"), "feed updated")
    generator = root.find(ATOM + "generator")
    if generator is not None and not (generator.text or "").strip():
        problems.append("NotBlank: generator")
    problems += _text_construct(root.find(ATOM + "title"), "feed title")
    problems += _text_construct(root.find(ATOM + "subtitle"), "feed subtitle")
    feed_author = root.find(ATOM + "author")
    problems += _person(feed_author, "feed author")
    link_problems, by_rel = _links(root.findall(ATOM + "link"), "feed", feed_level=True)
    problems += link_problems
    selfs = by_rel.get("self", [])
    if not selfs:
        problems.append("MissingSelf: feed")
    elif selfs[0] != location:
        problems.append(f"SelfDoesntMatchLocation: {selfs[0]} != {location}")
    problems += _history(root.find(FH + "archive") is not None, by_rel, "feed")
    ids: set[str] = set()
    updates: set[str] = set()
    for n, entry in enumerate(root.iter(ATOM + "entry")):
        where = f"entry {n} ({entry.findtext(ATOM + 'id')})"
        for name in ("id", "title", "updated"):
            if entry.find(ATOM + name) is None:
                problems.append(f"MissingElement: {name} in {where}")
        entry_id = entry.findtext(ATOM + "id") or ""
        problems += _id(entry_id, where)
        if entry_id in ids:
            problems.append(f"DuplicateEntries: {entry_id}")
        ids.add(entry_id)
        updated = entry.findtext(ATOM + "updated") or ""
        if updated in updates:
            problems.append(f"DuplicateUpdated: {updated} in {where}")
        updates.add(updated)
        problems += _date3339(updated, f"updated of {where}")
        if entry.find(ATOM + "published") is not None:
            problems += _date3339(entry.findtext(ATOM + "published"), f"published of {where}")
        if entry.find(ATOM + "author") is None and feed_author is None:
            problems.append(f"MissingElement: author in {where}")
        for author in entry.findall(ATOM + "author"):
            problems += _person(author, f"author of {where}")
        problems += _text_construct(entry.find(ATOM + "title"), f"title of {where}")
        content = entry.find(ATOM + "content")
        summary = entry.find(ATOM + "summary")
        if content is None and summary is None:
            problems.append(f"MissingTextualContent: {where}")
        for construct, label in ((content, "content"), (summary, "summary")):
            problems += _text_construct(construct, f"{label} of {where}")
        entry_links, entry_rels = _links(entry.findall(ATOM + "link"), where, feed_level=False)
        problems += entry_links
        if content is None and not entry_rels.get("alternate"):
            problems.append(f"MissingContentOrAlternate: {where}")
        for category in entry.findall(ATOM + "category"):
            term = category.get("term")
            if not term or not term.strip():
                problems.append(f"AttrNotBlank: category term in {where}")
            problems += unsafe_text(term, f"category of {where}")
        source = entry.find(ATOM + "source")
        if source is not None:
            for name in ("id", "title", "updated"):
                if source.find(ATOM + name) is None:
                    problems.append(f"MissingSourceElement: {name} in source of {where}")
            problems += _id(source.findtext(ATOM + "id"), f"source of {where}")
            problems += _date3339(source.findtext(ATOM + "updated"), f"source of {where}")
            problems += _text_construct(source.find(ATOM + "title"), f"source title of {where}")
            source_links, _ = _links(source.findall(ATOM + "link"), where, feed_level=True)
            problems += source_links
    return problems


def _text_construct(element: etree._Element | None, where: str) -> list[str]:
    if element is None:
        return []
    kind = element.get("type", "text")
    value = element.text or ""
    if not value.strip() and len(element) == 0:
        return [f"NotBlank: {where}"]
    if kind == "text":
        return unsafe_text(value, where)
    if kind == "html":
        return unsafe_markup(value, where)
    return [f"InvalidTextType: {kind} in {where}"]


def _person(element: etree._Element | None, where: str) -> list[str]:
    if element is None:
        return []
    name = element.findtext(ATOM + "name")
    if not name or not name.strip():
        return [f"MissingElement: name in {where}"]
    problems = unsafe_text(name, where)
    uri = element.findtext(ATOM + "uri")
    if uri is not None and not _is_http(uri):
        problems.append(f"InvalidFullLink: uri {uri!r} in {where}")
    return problems


RSS_PLAIN = ("title", "dc:creator", "category", "source", "generator", "description")
RAW_ESCAPE = re.compile(r"&(amp|lt|gt);")


def check_rss(data: bytes, location: str) -> list[str]:
    """The validator's RSS 2.0 rules (with the RSS Best Practices Profile's)."""
    problems: list[str] = []
    if not data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>") and not data.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>'
    ):
        problems.append("NotUTF8: the XML declaration does not say UTF-8")
    root = etree.fromstring(data)
    if root.tag != "rss" or root.get("version") != "2.0":
        return [f"InvalidRSSVersion: {root.tag} {root.get('version')}"]
    channel = root.find("channel")
    if channel is None:
        return ["MissingElement: channel"]
    for name in ("title", "link", "description"):
        if not (channel.findtext(name) or "").strip():
            problems.append(f"MissingElement: channel {name}")
        if name == "title":
            problems += unsafe_text(channel.findtext(name), "channel title")
    if not _is_http(channel.findtext("link")):
        problems.append(f"InvalidFullLink: channel link {channel.findtext('link')!r}")
    language = channel.findtext("language")
    if language is not None and not LANGUAGE.match(language):
        problems.append(f"InvalidLanguage: {language!r}")
    if language is not None and channel.find(DC + "language") is not None:
        problems.append("DuplicateSemantics: language and dc:language")
    for name in ("lastBuildDate", "pubDate"):
        if channel.find(name) is not None:
            problems += _date822(channel.findtext(name), f"channel {name}")
    ttl = channel.findtext("ttl")
    if ttl is not None and not (ttl.isdigit() and int(ttl) > 0):
        problems.append(f"InvalidInteger: ttl {ttl!r}")
    link_problems, by_rel = _links(channel.findall(ATOM + "link"), "channel", feed_level=True)
    problems += link_problems
    selfs = by_rel.get("self", [])
    if not selfs:
        problems.append("MissingAtomSelfLink: channel")
    elif selfs[0] != location:
        problems.append(f"SelfDoesntMatchLocation: {selfs[0]} != {location}")
    problems += _history(channel.find(FH + "archive") is not None, by_rel, "channel")
    guids: set[str] = set()
    for n, item in enumerate(channel.iter("item")):
        where = f"item {n} ({item.findtext('guid')})"
        children = [child.tag for child in item]
        if "title" not in children and "description" not in children:
            problems.append(f"ItemMustContainTitleOrDescription: {where}")
        problems += unsafe_text(item.findtext("title"), f"title of {where}")
        guid = item.find("guid")
        if guid is None:
            problems.append(f"MissingGuid: {where}")
        else:
            value = guid.text or ""
            permalink = guid.get("isPermaLink", "true")
            if permalink not in ("true", "false"):
                problems.append(f"InvalidBooleanAttribute: isPermaLink in {where}")
            if permalink == "true" and not _is_http(value):
                problems.append(f"InvalidPermalink: {value!r} in {where}")
            if permalink == "false" and len(value) < 9 and value.isdigit():
                problems.append(f"NotSufficientlyUnique: {value!r} in {where}")
            if value in guids:
                problems.append(f"DuplicateValue: guid {value!r}")
            guids.add(value)
        link = item.findtext("link")
        if link is not None and not _is_http(link):
            problems.append(f"InvalidFullLink: link {link!r} in {where}")
        if item.find("pubDate") is not None:
            problems += _date822(item.findtext("pubDate"), f"pubDate of {where}")
        for core, ext in (
            ("author", DC + "creator"),
            ("pubDate", DC + "date"),
            ("guid", ATOM + "id"),
            ("category", DC + "subject"),
        ):
            if core in children and ext in children:
                problems.append(f"DuplicateItemSemantics: {core} and {ext} in {where}")
        author = item.findtext("author")
        if author is not None and not re.match(r"^[^@\s]+@[^@\s]+\.\w+ \(.+\)$", author):
            problems.append(f"MissingRealName: author {author!r} in {where}")
        if CONTENT + "encoded" in children and (
            "description" not in children
            or children.index("description") > children.index(CONTENT + "encoded")
        ):
            problems.append(f"NeedDescriptionBeforeContent: {where}")
        for name in ("description", CONTENT + "encoded"):
            for element in item.findall(name):
                problems += unsafe_markup(element.text or "", f"{name} of {where}")
        for name in (DC + "creator", "category"):
            for element in item.findall(name):
                problems += unsafe_text(element.text, f"{name} of {where}")
        source = item.find("source")
        if source is not None:
            if not _is_http(source.get("url")):
                problems.append(f"MissingAttribute: source url in {where}")
            problems += unsafe_text(source.text, f"source of {where}")
    text = data.decode("utf-8")
    for name in RSS_PLAIN:
        for match in re.finditer(rf"<{name}(?: [^>]*)?>([^<]*)</{name}>", text):
            if RAW_ESCAPE.search(match.group(1)) and not (
                name == "description" and match.start() > text.find("<item>") > 0
            ):
                problems.append(f"CharacterData: {match.group(0)[:80]!r}")
    return problems


def check_jsonfeed(data: bytes, location: str) -> list[str]:
    """JSON Feed 1.1's prose rules that its schema cannot express."""
    problems: list[str] = []
    doc: dict[str, Any] = json.loads(data)
    if doc.get("feed_url") != location:
        problems.append(f"feed_url {doc.get('feed_url')} != {location}")
    if "next_url" in doc and (
        doc["next_url"] == doc.get("feed_url") or not _is_http(doc["next_url"])
    ):
        problems.append(f"next_url {doc['next_url']!r}")
    for key in ("home_page_url", "feed_url"):
        if not _is_http(doc.get(key)):
            problems.append(f"{key} {doc.get(key)!r} is not absolute")
    if not doc.get("authors") or not doc.get("language"):
        problems.append("authors and language are expected at feed level")
    problems += unsafe_text(doc.get("title"), "title")
    for hub in doc.get("hubs", []):
        if not _is_http(hub.get("url")):
            problems.append(f"hub {hub!r}")
    extension = doc.get("_aggregator", {})
    for key in ("current", "prev_archive", "next_archive"):
        if key in extension and not _is_http(extension[key]):
            problems.append(f"_aggregator.{key} {extension[key]!r}")
    ids: set[str] = set()
    for n, item in enumerate(doc["items"]):
        where = f"item {n} ({item.get('id')})"
        if not isinstance(item.get("id"), str) or item["id"] in ids:
            problems.append(f"DuplicateEntries: {item.get('id')!r}")
        ids.add(item.get("id"))
        for key in ("date_published", "date_modified"):
            if key in item:
                problems += _date3339(item[key], f"{key} of {where}")
        if "url" in item and not _is_http(item["url"]):
            problems.append(f"url {item['url']!r} in {where}")
        problems += unsafe_markup(item.get("content_html", ""), f"content_html of {where}")
        for key in ("title", "summary"):
            problems += unsafe_text(item.get(key), f"{key} of {where}")
        for author in item.get("authors", []):
            problems += unsafe_text(author.get("name"), f"author of {where}")
        for tag in item.get("tags", []):
            problems += unsafe_text(tag, f"tag of {where}")
        for source in item.get("_aggregator", {}).get("sources", []):
            problems += unsafe_text(source.get("name"), f"source of {where}")
            for key in ("url", "feed_url", "home_page_url"):
                if key in source and not _is_http(source[key]):
                    problems.append(f"source {key} {source[key]!r} in {where}")
    return problems
