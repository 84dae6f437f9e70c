"""Find a partner's feed from an address, for `aggregator add`.

Input: a URL and a `fetch_many` function (the CLI passes the pipeline's Fetcher, so
discovery is exactly as polite as polling: same User-Agent, limits and time-outs).
Output: a `Discovery` listing every candidate with its type, title and entry count.
Failure: values, never exceptions — an unreachable URL is `Discovery.error`, a
candidate that is not a usable feed carries its `error`.

Order of the search, as feed readers do it:

1. the URL itself, when it is an RSS, Atom or JSON Feed document;
2. else, on an HTML page, its `<link rel="alternate">` elements of type
   application/rss+xml, application/atom+xml, application/rdf+xml or
   application/feed+json (hrefs resolved against `<base href>`, else the page URL);
3. else, when none of those works, the common paths in `COMMON_PATHS` on the same
   origin (scheme, host and port); only the ones that are feeds are kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urlsplit, urlunsplit

from aggregator.config import Source
from aggregator.errors import ParseError
from aggregator.htmlsource import base_url, parse_document
from aggregator.models import Failed, Fetched, FetchResult
from aggregator.normalize import absolute_url, canonical_url, plain_text
from aggregator.parse import parse

FEED_LINK_TYPES = {
    "application/rss+xml": "rss",
    "application/rdf+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
}
COMMON_PATHS = (
    "/feed",
    "/rss",
    "/rss.xml",
    "/atom.xml",
    "/feed.xml",
    "/index.xml",
    "/feed.json",
    "/news/feed",
)
_HTML_SNIFF = re.compile(rb"<\s*(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE)
_ROOT = re.compile(rb"<\s*(?:[\w-]+:)?(rss|feed|RDF)\b")

FetchMany = Callable[[Sequence[str]], list[FetchResult]]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible feed: where it was found and what fetching it gave."""

    url: str
    found_by: str  # "url" (the address itself), "link" (<link rel=alternate>), "path"
    type: str | None  # "rss", "atom", "json"
    title: str = ""
    entries: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Discovery:
    url: str
    final_url: str
    is_html: bool
    page_title: str
    candidates: tuple[Candidate, ...]
    probed: tuple[str, ...] = ()  # common-path URLs tried
    error: str | None = None  # the address itself could not be fetched

    @property
    def valid(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.ok)


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    if content_type and "html" in content_type.lower():
        return True
    return bool(_HTML_SNIFF.search(body.lstrip()[:2048]))


def feed_type(body: bytes, content_type: str | None) -> str | None:
    """ "rss", "atom" or "json" from the document itself (Content-Types lie)."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096]
    if head.startswith(b"{"):
        return "json"
    match = _ROOT.search(head)
    if match:
        return "atom" if match.group(1) == b"feed" else "rss"
    return None


def feed_links(body: bytes, content_type: str | None, page_url: str) -> list[tuple[str, str, str]]:
    """(absolute URL, type, title) of each feed a page announces, in page order."""
    try:
        doc = parse_document(body, content_type, page_url)
    except ParseError:
        return []
    base = base_url(doc, page_url)
    found: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for link in doc.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        kind = FEED_LINK_TYPES.get((link.get("type") or "").split(";")[0].strip().lower())
        if "alternate" not in rels or kind is None:
            continue
        url = absolute_url(link.get("href") or "", base)
        if url is None or url in seen:
            continue
        seen.add(url)
        found.append((url, kind, " ".join((link.get("title") or "").split())))
    return found


def _page_title(body: bytes, content_type: str | None, url: str) -> str:
    try:
        doc = parse_document(body, content_type, url)
    except ParseError:
        return ""
    return " ".join((doc.findtext(".//title") or "").split())


def _candidate(result: FetchResult, found_by: str, declared: str | None) -> Candidate:
    if isinstance(result, Failed):
        return Candidate(result.url, found_by, declared, error=f"{result.kind}: {result.detail}")
    if not isinstance(result, Fetched):  # a 304 cannot happen without validators
        return Candidate(result.url, found_by, declared, error="not modified (no body)")
    probe = Source(id="add", name="add", url=result.final_url)
    try:
        parsed = parse(result.body, result.content_type, result.final_url, probe)
    except ParseError as exc:
        return Candidate(result.final_url, found_by, declared, error=f"{exc.kind}: {exc.detail}")
    return Candidate(
        result.final_url,
        found_by,
        feed_type(result.body, result.content_type) or declared,
        plain_text(parsed.title or ""),
        len(parsed.entries),
    )


def origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def discover(url: str, fetch_many: FetchMany) -> Discovery:
    """Look for feeds at `url` (see the module docstring for the order)."""
    (first,) = fetch_many([url])
    if not isinstance(first, Fetched):
        error = f"{first.kind}: {first.detail}" if isinstance(first, Failed) else "no body"
        return Discovery(url, url, False, "", (), error=error)
    final = first.final_url
    itself = _candidate(first, "url", None)
    if itself.ok:
        return Discovery(url, final, False, "", (itself,))
    candidates: list[Candidate] = []
    is_html = looks_like_html(first.body, first.content_type)
    title = ""
    if is_html:
        title = _page_title(first.body, first.content_type, final)
        links = feed_links(first.body, first.content_type, final)
        results = fetch_many([u for u, _, _ in links]) if links else []
        candidates += [
            _candidate(r, "link", kind) for r, (_, kind, _) in zip(results, links, strict=True)
        ]
    elif feed_type(first.body, first.content_type):
        candidates.append(itself)  # a feed, but broken: worth showing why
    probed: tuple[str, ...] = ()
    if not any(c.ok for c in candidates):
        tried = {canonical_url(u) for u in (url, final, *(c.url for c in candidates))}
        on_origin = (origin(final) + path for path in COMMON_PATHS)
        probed = tuple(u for u in on_origin if canonical_url(u) not in tried)
        for result in fetch_many(probed):
            candidate = _candidate(result, "path", None)
            if candidate.ok:
                candidates.append(candidate)
    unique: list[Candidate] = []
    seen: set[str | None] = set()
    for candidate in candidates:
        key = canonical_url(candidate.url)
        if key not in seen:
            seen.add(key)
            unique.append(candidate)
    return Discovery(url, final, is_html, title, tuple(unique), probed)


def slugify(text: str, limit: int = 40) -> str:
    """ "Red Andina — Noticias" -> "red-andina-noticias" (a valid source id, or "")."""
    folded = unicodedata.normalize("NFKD", text)
    ascii_text = folded.encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0] if "-" in slug[:limit] else slug[:limit]
    return slug.strip("-")


def derive_id(url: str, title: str, existing: set[str]) -> str:
    """A source id for a new source, unique among `existing`.

    The host without "www." ("www.antislavery.example" -> "antislavery-example"): it
    is stable when a partner retitles its feed. A bare IP address or localhost says
    nothing about the partner, so the feed's title is used there.
    """
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    try:
        ip_address(host)
        anonymous = True
    except ValueError:
        anonymous = host in ("localhost", "")
    base = (slugify(title) if anonymous else slugify(host)) or slugify(host) or "source"
    candidate, number = base, 2
    while candidate in existing:
        candidate = f"{base}-{number}"
        number += 1
    return candidate
