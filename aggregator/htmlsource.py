"""Turn an HTML news list (a partner without a feed) into entries via CSS selectors.

Input: the page bytes, its Content-Type, its URL and the source's `HtmlSelectors`.
Output: a ParsedFeed whose entries are the list items in page order.
Failure: ParseError NO_ITEMS when the item selector matches nothing (the page
layout probably changed), MALFORMED when the page cannot be parsed at all.

Selectors ending in `@attr` read that attribute (`h3 a@href`, `time@datetime`);
otherwise the element's text is used. Links are resolved against the page URL.
Dates use `date_format` (strptime) when given, else ISO 8601 or a tolerant parse;
a date without a time zone is taken as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urljoin

import lxml.etree
import lxml.html
from dateutil import parser as dateparser

from aggregator.config import HtmlSelectors
from aggregator.encoding import decode_html
from aggregator.errors import ParseError
from aggregator.models import FailureKind, ParsedFeed, RawEntry

# "1. Join our Q&A session…": list numbering shifts whenever an item is added, so it
# is not part of the title (else every new item would "edit" all the others).
_NUMBERING = re.compile(r"^\s*\d{1,3}[.)]\s+(?=\S)")


def _select(element: lxml.html.HtmlElement, spec: str) -> tuple[lxml.html.HtmlElement | None, str]:
    """Return (first matching element, its text or the requested attribute)."""
    css, _, attr = spec.partition("@")
    css = css.strip()
    matches = element.cssselect(css) if css else [element]
    if not matches:
        return None, ""
    found = matches[0]
    if attr:
        return found, (found.get(attr.strip()) or "").strip()
    return found, " ".join(found.text_content().split())


def _parse_date(text: str, date_format: str | None) -> datetime | None:
    if not text:
        return None
    parsed: datetime | None = None
    if date_format:
        try:
            parsed = datetime.strptime(text.strip(), date_format)
        except ValueError:
            parsed = None
    if parsed is None:
        try:
            parsed = dateparser.parse(text, dayfirst=True)
        except (ValueError, OverflowError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_html_list(
    body: bytes, content_type: str | None, url: str, selectors: HtmlSelectors
) -> ParsedFeed:
    # encoding.py decides the charset (BOM, UTF-8, HTTP, <meta>, windows-1252); lxml
    # gets UTF-8 and is told so, which makes it ignore the page's <meta> label.
    decoded = decode_html(body, content_type)
    try:
        parser = lxml.html.HTMLParser(encoding="utf-8")
        doc = lxml.html.document_fromstring(
            decoded.text.encode("utf-8"), parser=parser, base_url=url
        )
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ParseError(
            FailureKind.MALFORMED, f"the page could not be parsed as HTML: {exc}"
        ) from exc
    items = doc.cssselect(selectors.item)
    if not items:
        raise ParseError(
            FailureKind.NO_ITEMS,
            f"html.item selector {selectors.item!r} matched nothing on the page;"
            " the page layout may have changed — update the selectors",
        )
    entries: list[RawEntry] = []
    skipped = 0
    for item in items:
        _, title = _select(item, selectors.title)
        title = _NUMBERING.sub("", title)
        _, href = _select(item, selectors.link)
        if not title or not href:
            skipped += 1
            continue
        summary = ""
        if selectors.summary:
            found, text = _select(item, selectors.summary)
            if found is not None and "@" not in selectors.summary:
                summary = lxml.html.tostring(found, encoding="unicode", method="html")
            else:
                summary = text
        published = None
        if selectors.date:
            _, date_text = _select(item, selectors.date)
            published = _parse_date(date_text, selectors.date_format)
        entries.append(
            RawEntry(
                guid=None,
                link=urljoin(url, href),
                title=title,
                summary=summary,
                content="",
                published=published,
                updated=None,
            )
        )
    warnings = decoded.warnings
    if skipped:
        warnings += (f"{skipped} of {len(items)} list items had no title or link and were skipped",)
    if not entries:
        raise ParseError(
            FailureKind.NO_ITEMS,
            f"{len(items)} list items matched {selectors.item!r} but none had both a title"
            f" ({selectors.title!r}) and a link ({selectors.link!r})",
        )
    page_title = " ".join((doc.findtext(".//title") or "").split())
    lang = doc.get("lang")
    return ParsedFeed(
        title=page_title, link=url, language=lang, entries=tuple(entries), warnings=warnings
    )
