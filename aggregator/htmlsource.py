"""Turn an HTML news list (a partner without a feed) into entries via CSS selectors.

Input: the page bytes, its Content-Type, its URL and the source's `HtmlSelectors`.
Output: a ParsedFeed whose entries are the list items in page order; for
`aggregator check --fetch`, an `HtmlExtraction` that also shows what every selector
found, item by item.
Failure: ParseError NO_ITEMS when the item selector matches nothing (the page
layout probably changed) or no item has a title, MALFORMED when the page cannot be
parsed at all. Everything less is a warning ("date selector matched 0 of 12 items").

Selectors ending in `@attr` read that attribute (`h3 a@href`, `time@datetime`,
`@data-id` for the item itself); otherwise the element's text is used.

Links are resolved against the page's `<base href>` when it has one, else the page
URL. Dates are read by `dates.py` (en/fr/es month names, no locale); with `group`,
a day-only date ("17", "Friday 17") takes its month and year from the nearest month
heading before the item. Identity never depends on list position or date: an item
is its `id` (when the selector finds one), else its resolved link, else a hash of
its normalised title — so a re-rendered page (other order, whitespace, classes, a
new item) keeps every item's id.
"""

from __future__ import annotations

import copy
import hashlib
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import lxml.etree
import lxml.html

from aggregator.config import HtmlSelectors
from aggregator.dates import PartialDate, combine, read_date
from aggregator.encoding import decode_html
from aggregator.errors import ParseError
from aggregator.models import FailureKind, ParsedFeed, RawEntry
from aggregator.normalize import HASH_VERSION, absolute_url, canonical_url

# "1. Join our Q&A session…": list numbering shifts whenever an item is added, so it
# is not part of the title (else every new item would "edit" all the others).
_NUMBERING = re.compile(r"^\s*\d{1,3}[.)]\s+(?=\S)")
_SPACE = re.compile(r"\s+")
TITLE_ID_PREFIX = "html-title"


@dataclass(frozen=True, slots=True)
class HtmlItem:
    """One element matched by `html.item`, as each selector saw it."""

    position: int  # 1-based, for messages only: never part of an identity
    title: str
    link: str | None  # resolved and absolute; None when the item has none
    date_raw: str | None  # None when html.date is unset or matched nothing
    heading: str | None  # the text of the html.group heading that applies
    published: datetime | None
    summary: str
    own_id: str | None  # what html.id found
    entry: RawEntry | None  # None when the item was skipped
    skipped: str = ""  # why it was skipped


@dataclass(frozen=True, slots=True)
class SelectorMatch:
    """How many items a selector found something in (for `check --fetch`)."""

    key: str
    selector: str
    matched: int
    total: int


@dataclass(frozen=True, slots=True)
class HtmlExtraction:
    page_title: str
    language: str | None
    base_url: str
    items: tuple[HtmlItem, ...]
    matches: tuple[SelectorMatch, ...]
    headings: int
    warnings: tuple[str, ...]

    @property
    def entries(self) -> tuple[RawEntry, ...]:
        return tuple(i.entry for i in self.items if i.entry is not None)


def decode_document(
    body: bytes, content_type: str | None, url: str
) -> tuple[lxml.html.HtmlElement, tuple[str, ...]]:
    """Parse an HTML page; returns it with the decoder's warnings (a mislabelled charset).

    encoding.py decides the charset (BOM, UTF-8, HTTP, <meta>, windows-1252); lxml
    gets UTF-8 and is told so, which makes it ignore the page's <meta> label.
    """
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
    return doc, decoded.warnings


def parse_document(body: bytes, content_type: str | None, url: str) -> lxml.html.HtmlElement:
    """Parse an HTML page (see decode_document), without the decoder's warnings."""
    return decode_document(body, content_type, url)[0]


def base_url(doc: lxml.html.HtmlElement, url: str) -> str:
    """The URL relative links on the page resolve against: `<base href>`, else `url`."""
    base = doc.find(".//base[@href]")
    if base is not None:
        resolved = absolute_url(base.get("href", ""), url)
        if resolved:
            return resolved
    return url


def title_id(title: str) -> str:
    """The id of an item without link or `html.id`: a hash of its normalised title.

    Normalised = NFKC, case-folded, whitespace collapsed; versioned like every hash.
    """
    normal = " ".join(unicodedata.normalize("NFKC", title).casefold().split())
    digest = hashlib.sha256(normal.encode()).hexdigest()[:32]
    return f"{TITLE_ID_PREFIX}:{HASH_VERSION}:{digest}"


def _split(spec: str) -> tuple[str, str]:
    css, _, attr = spec.partition("@")
    return css.strip(), attr.strip()


def _value(element: lxml.html.HtmlElement, attr: str) -> str:
    if attr:
        return " ".join((element.get(attr) or "").split())
    return " ".join(element.text_content().split())


def _select(element: lxml.html.HtmlElement, spec: str) -> tuple[lxml.html.HtmlElement | None, str]:
    """Return (first matching element, its text or the requested attribute)."""
    css, attr = _split(spec)
    matches = element.cssselect(css) if css else [element]
    if not matches:
        return None, ""
    return matches[0], _value(matches[0], attr)


def _summary_html(element: lxml.html.HtmlElement, base: str) -> str:
    """The element's HTML with absolute links and collapsed whitespace.

    Links are made absolute here because only this module knows `<base href>`;
    whitespace is collapsed so a re-indented page is not an edit of every item.
    """
    found = copy.deepcopy(element)
    found.tail = None
    found.make_links_absolute(base, resolve_base_href=False, handle_failures="discard")
    if found.tag != "pre" and not found.findall(".//pre"):
        for node in found.iter():
            if node.text:
                node.text = _SPACE.sub(" ", node.text)
            if node.tail and node is not found:
                node.tail = _SPACE.sub(" ", node.tail)
        # Space just inside the element's edges is indentation, not content.
        if found.text:
            found.text = found.text.lstrip()
        if len(found) and found[-1].tail:
            found[-1].tail = found[-1].tail.rstrip()
        elif not len(found) and found.text:
            found.text = found.text.rstrip()
    text: str = lxml.html.tostring(found, encoding="unicode", method="html")
    return text.strip()


def _headings(
    doc: lxml.html.HtmlElement, items: list[lxml.html.HtmlElement], spec: str
) -> tuple[list[str | None], int]:
    """For each item, the text of the last `group` heading that starts before it."""
    css, attr = _split(spec)
    headings = doc.cssselect(css) if css else []
    heading_set = set(headings)
    item_index = {element: index for index, element in enumerate(items)}
    found: list[str | None] = [None] * len(items)
    current: str | None = None
    for element in doc.iter():
        if element in heading_set:
            current = _value(element, attr)
        index = item_index.get(element)
        if index is not None:
            found[index] = current
    return found, len(headings)


def _item_date(
    raw: str | None, heading: PartialDate | None, selectors: HtmlSelectors
) -> datetime | None:
    if raw and selectors.date_format:
        try:
            parsed = datetime.strptime(raw, selectors.date_format)
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)
    own = read_date(raw, day_first=selectors.day_first) if raw else None
    if raw and own is None:
        return None  # unreadable text is no date; the heading alone would be a guess
    return combine(own, heading)


def _usable_link(href: str, base: str) -> str | None:
    if not href or href.startswith("#"):
        return None
    return absolute_url(href, base)


def extract_html_list(
    body: bytes, content_type: str | None, url: str, selectors: HtmlSelectors
) -> HtmlExtraction:
    """Apply the selectors to the page; see the module docstring for the rules."""
    doc, decode_warnings = decode_document(body, content_type, url)
    base = base_url(doc, url)
    elements = doc.cssselect(selectors.item)
    if not elements:
        raise ParseError(
            FailureKind.NO_ITEMS,
            f"html.item selector {selectors.item!r} matched nothing on the page;"
            " the page layout may have changed — update the selectors",
        )
    total = len(elements)
    if selectors.group:
        heading_texts, heading_count = _headings(doc, elements, selectors.group)
    else:
        heading_texts, heading_count = [None] * total, 0
    heading_dates: dict[str, PartialDate | None] = {
        text: read_date(text, day_first=selectors.day_first)
        for text in set(heading_texts)
        if text is not None
    }
    counts = dict.fromkeys(("title", "link", "date", "summary", "id"), 0)
    unreadable: list[str] = []
    items: list[HtmlItem] = []
    seen: dict[tuple[str, str], int] = {}
    for position, (element, heading) in enumerate(zip(elements, heading_texts, strict=True), 1):
        _, title = _select(element, selectors.title)
        title = _NUMBERING.sub("", title)
        _, href = _select(element, selectors.link)
        link = _usable_link(href, base)
        date_raw: str | None = None
        if selectors.date:
            found, text = _select(element, selectors.date)
            date_raw = text if found is not None and text else None
        published = _item_date(date_raw, heading_dates.get(heading or ""), selectors)
        if date_raw and published is None:
            unreadable.append(date_raw)
        summary = ""
        if selectors.summary:
            found, text = _select(element, selectors.summary)
            if found is not None and "@" not in selectors.summary:
                summary = _summary_html(found, base)
            else:
                summary = text
        own_id = None
        if selectors.id:
            _, own_id = _select(element, selectors.id)
            own_id = own_id or None
        counts["title"] += bool(title)
        counts["link"] += link is not None
        counts["date"] += date_raw is not None
        counts["summary"] += bool(summary)
        counts["id"] += own_id is not None
        item = HtmlItem(position, title, link, date_raw, heading, published, summary, own_id, None)
        if not title:
            items.append(replace(item, skipped="no title"))
            continue
        identity = (
            ("id", own_id)
            if own_id
            else ("link", canonical_url(link) or link)
            if link
            else ("title", title_id(title))
        )
        if identity in seen:
            items.append(replace(item, skipped=f"same {identity[0]} as item {seen[identity]}"))
            continue
        seen[identity] = position
        guid = own_id if own_id else None if link else title_id(title)
        entry = RawEntry(
            guid=guid,
            link=link,
            title=title,
            summary=summary,
            content="",
            published=published,
            updated=None,
        )
        items.append(replace(item, entry=entry))
    matches = [SelectorMatch("item", selectors.item, total, total)]
    for key in ("title", "link", "date", "summary", "id"):
        spec = getattr(selectors, key)
        if spec:
            matches.append(SelectorMatch(key, spec, counts[key], total))
    warnings = list(decode_warnings) + _warnings(
        selectors, matches, items, unreadable, heading_texts, heading_dates, heading_count
    )
    page_title = " ".join((doc.findtext(".//title") or "").split())
    return HtmlExtraction(
        page_title=page_title,
        language=doc.get("lang"),
        base_url=base,
        items=tuple(items),
        matches=tuple(matches),
        headings=heading_count,
        warnings=tuple(warnings),
    )


def _warnings(
    selectors: HtmlSelectors,
    matches: list[SelectorMatch],
    items: list[HtmlItem],
    unreadable: list[str],
    heading_texts: list[str | None],
    heading_dates: dict[str, PartialDate | None],
    heading_count: int,
) -> list[str]:
    total = len(items)
    warnings = [
        f"{m.key} selector {m.selector!r} matched {m.matched} of {m.total} items"
        for m in matches
        if m.matched < m.total
    ]
    no_title = sum(1 for i in items if i.skipped == "no title")
    if no_title:
        warnings.append(f"{no_title} of {total} items had no title and were skipped")
    no_link = sum(1 for i in items if i.entry is not None and i.link is None and not i.own_id)
    if no_link:
        warnings.append(
            f"{no_link} of {total} items had no link; each is identified by a hash of its title"
        )
    repeated = sum(1 for i in items if i.skipped.startswith("same "))
    if repeated:
        warnings.append(
            f"{repeated} items repeat an earlier item's link or id and were dropped"
            " (set html.id if different items share one link)"
        )
    if unreadable:
        hint = "" if selectors.group else "; set html.group if the page has month headings"
        warnings.append(
            f"the date of {len(unreadable)} of {total} items is not a complete date"
            f" (e.g. {unreadable[0]!r}){hint}"
        )
    if selectors.group:
        if not heading_count:
            warnings.append(f"group selector {selectors.group!r} matched no heading")
        else:
            before = sum(1 for text in heading_texts if text is None)
            if before:
                warnings.append(f"{before} items come before the first group heading")
            bad = sorted(t for t, d in heading_dates.items() if d is None or d.month is None)
            if bad:
                warnings.append(f"group heading {bad[0]!r} is not a month and year")
    return warnings


def parse_html_list(
    body: bytes, content_type: str | None, url: str, selectors: HtmlSelectors
) -> ParsedFeed:
    extraction = extract_html_list(body, content_type, url, selectors)
    entries = extraction.entries
    if not entries:
        raise ParseError(
            FailureKind.NO_ITEMS,
            f"{len(extraction.items)} list items matched {selectors.item!r} but none had"
            f" a title ({selectors.title!r})",
        )
    return ParsedFeed(
        title=extraction.page_title,
        link=url,
        language=extraction.language,
        entries=entries,
        warnings=extraction.warnings,
    )
