"""Turn a fetched body into a ParsedFeed: feedparser for RSS/Atom, our reader for JSON Feed.

Purpose: recognise the format and extract entries in document order.
Failure: a `ParseError` whose kind is one of EMPTY, NOT_A_FEED, MALFORMED, with a
detail precise enough for the operator (line and column for XML, what the body
looks like when it is not a feed). Like lemon24/reader, a feed that is not
well-formed XML fails unless the source is marked `lenient = true`, in which case
what feedparser's tolerant parser recovered is kept and the problem is a warning.

Bytes are decoded by encoding.py before any parser sees them (BOM, UTF-8, HTTP
charset, XML declaration, windows-1252, in that order); feedparser then gets UTF-8
labelled as UTF-8, so its own RFC 3023 guesses never re-decode the text. A mislabel
is a warning, not a failure.

feedparser 6.0 has no JSON Feed support, so JSON Feed 1.0/1.1 is mapped here.
HTML news lists (type = "html") are handled by htmlsource.py.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from dateutil import parser as dateparser

from aggregator.config import Source
from aggregator.encoding import decode_feed, decode_json, strip_xml_forbidden, utf8_content_type
from aggregator.errors import ParseError
from aggregator.models import FailureKind, ParsedFeed, RawEntry

_BOM_AND_SPACE = b"\xef\xbb\xbf\xff\xfe \t\r\n\x00"
_HTML_SNIFF = re.compile(rb"<\s*(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE)
_TITLE_SNIFF = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_BENIGN_BOZO = ("CharacterEncodingOverride", "NonXMLContentType", "CharacterEncodingUnknown")


def parse(body: bytes, content_type: str | None, url: str, source: Source) -> ParsedFeed:
    """Parse a body fetched from `url` for `source`. Raises ParseError."""
    if not body.strip(_BOM_AND_SPACE):
        raise ParseError(FailureKind.EMPTY, f"empty body ({len(body)} bytes)")
    if source.type == "html":
        from aggregator.htmlsource import parse_html_list

        assert source.html is not None  # guaranteed by config validation
        return parse_html_list(body, content_type, url, source.html)
    if _looks_like_json(body, content_type):
        return parse_json_feed(body)
    return parse_xml_feed(body, content_type, url, lenient=source.lenient)


def _looks_like_json(body: bytes, content_type: str | None) -> bool:
    first = body.lstrip(_BOM_AND_SPACE)[:1]
    if first == b"{":
        return True
    return bool(content_type and "json" in content_type.lower() and first != b"<")


def _html_title(body: bytes) -> str:
    match = _TITLE_SNIFF.search(body[:65536])
    if not match:
        return ""
    return " ".join(match.group(1).decode("utf-8", "replace").split())[:120]


def parse_xml_feed(body: bytes, content_type: str | None, url: str, *, lenient: bool) -> ParsedFeed:
    decoded = decode_feed(body, content_type)
    data = decoded.xml_utf8()
    headers = {"content-location": url}
    if content_type:
        # The media type still matters to feedparser (NonXMLContentType); the charset
        # must not, or it would decode our UTF-8 as whatever the partner claimed.
        headers["content-type"] = utf8_content_type(content_type)
    # Relative URLs in content: with xml:base the document says what they are relative
    # to, and feedparser applies it; without, normalize resolves them against the
    # item's own link (an article's images are relative to the article, not the feed).
    result: Any = feedparser.parse(
        data,
        response_headers=headers,
        sanitize_html=True,
        resolve_relative_uris=b"xml:base" in data,
    )
    warnings: list[str] = list(decoded.warnings)
    version = result.get("version", "")
    entries = result.get("entries", [])
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        name = type(exc).__name__
        if name in _BENIGN_BOZO:
            warnings.append(f"encoding: {exc}")
        else:
            sniff = data.lstrip(_BOM_AND_SPACE)[:2048]
            if not entries and _HTML_SNIFF.search(sniff):
                title = _html_title(data)
                raise ParseError(
                    FailureKind.NOT_A_FEED,
                    "the body is an HTML page, not a feed"
                    + (f" (page title: {title!r})" if title else "")
                    + "; the feed URL may have moved",
                )
            detail = _xml_error(exc)
            if not lenient or not entries:
                raise ParseError(FailureKind.MALFORMED, detail)
            warnings.append(f"{detail}; kept {len(entries)} entries recovered (lenient)")
    if not version and not entries:
        sniff = data.lstrip(_BOM_AND_SPACE)[:2048]
        if _HTML_SNIFF.search(sniff):
            title = _html_title(data)
            raise ParseError(
                FailureKind.NOT_A_FEED,
                "the body is an HTML page, not a feed"
                + (f" (page title: {title!r})" if title else ""),
            )
        raise ParseError(FailureKind.NOT_A_FEED, "no RSS, Atom or JSON Feed document found")
    feed = result.get("feed", {})
    # RFC 4287 §4.2.1: an Atom entry without an author has its feed's author.
    feed_author = _author(feed) if str(version).startswith("atom") else None
    return ParsedFeed(
        title=feed.get("title", ""),
        link=feed.get("link"),
        language=feed.get("language"),
        entries=tuple(_from_feedparser(e, feed_author) for e in entries),
        warnings=tuple(warnings),
        ttl=_ttl(feed.get("ttl")),
        skip_hours=_skip_hours(body) if b"skipHours" in body else frozenset(),
    )


_SKIP_HOURS = re.compile(rb"<skipHours\b[^>]*>(.*?)</skipHours>", re.DOTALL)
_HOUR = re.compile(rb"<hour\b[^>]*>\s*(\d{1,2})\s*</hour>")


def _ttl(value: object) -> timedelta | None:
    """RSS <ttl>: minutes the channel may be cached; nonsense is ignored."""
    text = str(value or "").strip()
    return timedelta(minutes=int(text)) if text.isdigit() and 0 < int(text) < 10**6 else None


def _skip_hours(body: bytes) -> frozenset[int]:
    """RSS <skipHours>: hours (0-23, GMT) in which aggregators should not read the feed."""
    match = _SKIP_HOURS.search(body)
    if not match:
        return frozenset()
    hours = frozenset(int(h) for h in _HOUR.findall(match.group(1)) if int(h) < 24)
    return hours if len(hours) < 24 else frozenset()  # all 24 would mean never; ignore


def _xml_error(exc: object) -> str:
    get_line = getattr(exc, "getLineNumber", None)
    get_col = getattr(exc, "getColumnNumber", None)
    get_msg = getattr(exc, "getMessage", None)
    if callable(get_line) and callable(get_col) and callable(get_msg):
        return f"not well-formed XML at line {get_line()}, column {get_col()}: {get_msg()}"
    return f"not a well-formed feed: {exc}"


def _struct_to_datetime(value: time.struct_time | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _author(obj: Any) -> str | None:
    """The author's name (feedparser's `author` may be "Name (email)")."""
    detail = obj.get("author_detail") or {}
    name = detail.get("name") or obj.get("author")
    return str(name) if name else None


def _from_feedparser(entry: Any, feed_author: str | None) -> RawEntry:
    content = ""
    contents = entry.get("content") or []
    for part in contents:
        if "html" in (part.get("type") or ""):
            content = part.get("value", "")
            break
    if not content and contents:
        content = contents[0].get("value", "")
    # dict.get bypasses FeedParserDict's deprecated updated->published key mapping.
    published = _struct_to_datetime(dict.get(entry, "published_parsed"))
    updated = _struct_to_datetime(dict.get(entry, "updated_parsed"))
    summary = entry.get("summary", "")
    if summary == content:
        content = ""
    tags = tuple(t.get("term") for t in entry.get("tags", []) if t.get("term"))
    title_type = (entry.get("title_detail") or {}).get("type", "text/plain")
    return RawEntry(
        guid=entry.get("id") or None,
        link=entry.get("link") or None,
        title=entry.get("title", ""),
        summary=summary,
        content=content,
        published=published or updated,
        updated=updated,
        author=_author(entry) or feed_author,
        tags=tags,
        title_is_html=title_type != "text/plain",
    )


# --- JSON Feed 1.0 / 1.1 (https://www.jsonfeed.org/version/1.1/) ---


def parse_json_feed(body: bytes) -> ParsedFeed:
    text = decode_json(body).text  # raises ParseError when not UTF-8/16/32
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            FailureKind.MALFORMED,
            f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
        ) from exc
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise ParseError(
            FailureKind.NOT_A_FEED, "JSON document is not a JSON Feed (no jsonfeed.org version)"
        )
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError(FailureKind.MALFORMED, "JSON Feed has no items list")
    feed_author = _json_author(doc)
    entries = tuple(_from_json_item(i, feed_author) for i in items if isinstance(i, dict))
    return ParsedFeed(
        title=_str(doc.get("title")) or "",
        link=_str(doc.get("home_page_url")),
        language=_str(doc.get("language")),
        entries=entries,
    )


def _str(value: object) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        # "\u0001" is valid JSON but not a character our Atom and RSS output can carry.
        text = strip_xml_forbidden(str(value), char_refs=False)[0].strip()
        return text or None
    return None


def _json_author(obj: dict[str, Any]) -> str | None:
    authors = obj.get("authors")
    if isinstance(authors, list):
        names = [_str(a.get("name")) for a in authors if isinstance(a, dict)]
        joined = ", ".join(n for n in names if n)
        if joined:
            return joined
    author = obj.get("author")  # JSON Feed 1.0
    if isinstance(author, dict):
        return _str(author.get("name"))
    return None


def _json_date(value: object) -> datetime | None:
    text = _str(value)
    if not text:
        return None
    try:
        parsed = dateparser.isoparse(text)
    except (ValueError, OverflowError):
        try:
            parsed = dateparser.parse(text)
        except (ValueError, OverflowError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _from_json_item(item: dict[str, Any], feed_author: str | None) -> RawEntry:
    content = _str(item.get("content_html"))
    if content is None:
        text = _str(item.get("content_text"))
        content = _text_to_html(text) if text else ""
    published = _json_date(item.get("date_published"))
    updated = _json_date(item.get("date_modified"))
    tags = item.get("tags")
    return RawEntry(
        guid=_str(item.get("id")),
        link=_str(item.get("url")) or _str(item.get("external_url")),
        title=_str(item.get("title")) or "",
        summary=_str(item.get("summary")) or "",
        content=content,
        published=published or updated,
        updated=updated,
        author=_json_author(item) or feed_author,
        tags=tuple(t.strip() for t in tags if isinstance(t, str) and t.strip())
        if isinstance(tags, list)
        else (),
    )


def _text_to_html(text: str) -> str:
    from html import escape

    return "".join(f"<p>{escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip())
