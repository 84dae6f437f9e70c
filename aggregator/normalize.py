"""Normalise raw entries: UTC dates, absolute links, canonical URLs, clean text and HTML.

Pure functions only. The canonical URL is for *matching* (dedupe and merge); the
published link keeps the source's own form. Identity inside a source follows the
design rule GUID -> canonical link -> content hash (never the date); hashes carry a
version prefix so a change of algorithm is a migration, not a silent reshuffle.
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import nh3

from aggregator.models import Entry, RawEntry

HASH_VERSION = "h1"
# Dates up to this far ahead of first-seen are clock skew, not a future date.
FUTURE_GRACE = timedelta(minutes=10)

# Query parameters that identify a campaign or a click, never the page.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gclsrc", "gbraid", "wbraid", "msclkid", "yclid",
        "mc_cid", "mc_eid", "_ga", "_gl", "igshid", "mkt_tok", "_hsenc", "_hsmi",
        "hsctatracking", "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "wt_mc",
        "wt.mc_id", "s_cid", "ncid", "cmpid", "twclid", "li_fat_id", "ttclid", "srsltid",
        "rss", "at_medium", "at_campaign",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "longdesc", "poster"})
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str | None) -> str | None:
    """The form of a URL used to decide that two links are the same page.

    Lower-case scheme and host, https for http, no default port, no fragment, no
    tracking parameters, remaining parameters sorted, empty path as "/".
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    )
    return urlunsplit(("https", host, parts.path or "/", urlencode(query), ""))


def absolute_url(url: str | None, base: str | None) -> str | None:
    """Resolve `url` against `base`; only http(s) results are kept."""
    if not url:
        return None
    resolved = urljoin(base or "", url.strip())
    if urlsplit(resolved).scheme.lower() not in _DEFAULT_PORTS:
        return None
    return resolved


def plain_text(value: str) -> str:
    """Markup-free, entity-decoded, whitespace-collapsed text (for titles and names)."""
    if "<" in value or "&" in value:
        value = html.unescape(nh3.clean(value, tags=set()))
    return " ".join(value.split())


def clean_html(value: str, base: str | None) -> str:
    """Sanitise HTML with nh3 (ammonia's allow-list) and make every URL absolute."""
    if not value or not value.strip():
        return ""

    def resolve(element: str, attribute: str, attr_value: str) -> str | None:
        if attribute in _URL_ATTRIBUTES:
            return absolute_url(attr_value, base) or (
                attr_value if attr_value.lower().startswith("mailto:") else None
            )
        return attr_value

    cleaned = nh3.clean(
        value,
        url_schemes=set(URL_SCHEMES),
        attribute_filter=resolve,
        link_rel="noopener noreferrer",
    )
    return cleaned.strip()


def entry_key(guid: str | None, canonical: str | None, title: str, summary: str) -> str:
    """Identity of an entry inside its source: GUID, else canonical link, else content hash."""
    if guid:
        return f"guid:{guid}"
    if canonical:
        return f"link:{canonical}"
    digest = hashlib.sha256(f"{title}\n{plain_text(summary)}".encode()).hexdigest()[:32]
    return f"{HASH_VERSION}:{digest}"


def _content_hash(fields: dict[str, object]) -> str:
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return f"{HASH_VERSION}:{hashlib.sha256(payload.encode()).hexdigest()[:32]}"


def normalize_entry(raw: RawEntry, source_id: str, base_url: str) -> Entry:
    """RawEntry -> Entry. `base_url` is the document's URL (for relative links)."""
    link = absolute_url(raw.link, base_url)
    if raw.guid and not link and raw.guid.startswith(("http://", "https://")):
        link = raw.guid  # RSS guid isPermaLink without <link>
    canonical = canonical_url(link)
    title = plain_text(raw.title) if raw.title_is_html else " ".join(raw.title.split())
    link_base = link or base_url
    summary = clean_html(raw.summary, link_base)
    content = clean_html(raw.content, link_base)
    author = plain_text(raw.author) if raw.author else None
    tags = tuple(dict.fromkeys(plain_text(t) for t in raw.tags if plain_text(t)))
    guid = raw.guid.strip() if raw.guid and raw.guid.strip() else None
    fields: dict[str, object] = {
        "title": title,
        "link": link,
        "summary": summary,
        "content": content,
        "author": author,
        "tags": list(tags),
        "published": raw.published.isoformat() if raw.published else None,
        "updated": raw.updated.isoformat() if raw.updated else None,
    }
    return Entry(
        source_id=source_id,
        key=entry_key(guid, canonical, title, summary),
        guid=guid,
        link=link,
        canonical_url=canonical,
        title=title or (link or "Untitled"),
        summary_html=summary,
        content_html=content,
        author=author or None,
        tags=tags,
        published=raw.published,
        updated=raw.updated,
        content_hash=_content_hash(fields),
    )


def effective_published(claimed: datetime | None, first_seen: datetime) -> datetime:
    """The date we publish: the source's date, or first-seen when missing or in the future.

    Computed against first-seen (not the current time) so it never changes between runs.
    """
    if claimed is None or claimed > first_seen + FUTURE_GRACE:
        return first_seen
    return claimed
