"""Typed values that flow between pipeline stages (no behaviour beyond small helpers).

fetch  -> FetchResult (Fetched | NotModified | Failed)
parse  -> ParsedFeed of RawEntry
normalize -> Entry
store/merge -> Item with Provenance
run    -> RunReport of SourceOutcome
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class FailureKind(StrEnum):
    """Why a source produced no entries this pass. Values appear in logs and status."""

    INVALID_URL = "invalid_url"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    HTTP = "http"
    TOO_LARGE = "too_large"
    GONE = "gone"  # 410: polling stops until the URL changes or --force --source
    RATE_LIMITED = "rate_limited"  # 429, or 503 with Retry-After
    REDIRECT = "redirect"  # a loop, more than 5 hops, or a non-HTTP target
    BLOCKED = "blocked"  # the address is private/loopback/link-local and not allowed
    EMPTY = "empty"
    NOT_A_FEED = "not_a_feed"
    MALFORMED = "malformed"
    NO_ITEMS = "no_items"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP cache validators, stored verbatim and sent back (RFC 9110 §13)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A 2xx response with its (size-capped) body."""

    source_id: str
    url: str
    final_url: str
    status: int
    body: bytes
    content_type: str | None
    validators: Validators
    elapsed: float
    moved_to: str | None = None  # the target of a chain of permanent (301/308) redirects
    cache_for: timedelta | None = None  # Cache-Control max-age / Expires, as a delay


@dataclass(frozen=True, slots=True)
class NotModified:
    """A 304 answer to a conditional request: a normal, successful outcome."""

    source_id: str
    url: str
    validators: Validators
    elapsed: float
    status: int = 304
    moved_to: str | None = None
    cache_for: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The source could not be fetched or parsed this pass."""

    source_id: str
    url: str
    kind: FailureKind
    detail: str
    http_status: int | None = None
    elapsed: float = 0.0
    retry_after: timedelta | None = None  # the server's Retry-After, relative to its answer


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not fetched this pass: its host asked everyone to wait (Retry-After)."""

    source_id: str
    url: str
    wait: timedelta  # from the time the pass handles it
    detail: str
    elapsed: float = 0.0


FetchResult = Fetched | NotModified | Failed | Deferred


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One entry as the source gave it; text fields may still hold markup."""

    guid: str | None
    link: str | None
    title: str
    summary: str
    content: str
    published: datetime | None
    updated: datetime | None
    author: str | None = None
    tags: tuple[str, ...] = ()
    title_is_html: bool = False  # an Atom type="html" title, or an RSS title with markup


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The parse stage's result: feed metadata, entries in document order, warnings."""

    title: str
    link: str | None
    language: str | None
    entries: tuple[RawEntry, ...]
    warnings: tuple[str, ...] = ()
    ttl: timedelta | None = None  # RSS <ttl>: how long the feed may be cached
    skip_hours: frozenset[int] = frozenset()  # RSS <skipHours>, hours 0-23 in UTC


@dataclass(frozen=True, slots=True)
class Entry:
    """A normalised entry of one source, ready to store.

    `key` is the entry's identity inside its source (see normalize.entry_key);
    `published`/`updated` are the source's claims in UTC (None when absent or
    unusable); the store clamps them against first-seen time.
    """

    source_id: str
    key: str
    guid: str | None
    link: str | None
    canonical_url: str | None
    title: str
    summary_html: str
    content_html: str
    author: str | None
    tags: tuple[str, ...]
    published: datetime | None
    updated: datetime | None
    content_hash: str
    labels: tuple[str, ...] = ()  # classification tags (classify.py), set by the pipeline
    language: str | None = None
    why: str | None = None  # JSON: score, matches, negatives (see pipeline._why)


@dataclass(frozen=True, slots=True)
class Provenance:
    """One partner that carried a story, with its own link and date."""

    source_id: str
    source_name: str
    source_url: str
    home_page: str | None
    link: str | None
    published: datetime


@dataclass(frozen=True, slots=True)
class Item:
    """A published story: one or more entries merged, with a stable `tag:` id."""

    id: str
    title: str
    link: str | None
    summary_html: str
    content_html: str
    author: str | None
    published: datetime
    updated: datetime
    tags: tuple[str, ...]
    sources: tuple[Provenance, ...]
    language: str | None = None  # of the primary entry (declared or detected)
    why: str | None = None  # JSON, the primary entry's classification (digest, explain)


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """What happened to one source in one pass."""

    source_id: str
    status: str  # "ok" | "not_modified" | "failed" | "deferred"
    http_status: int | None = None
    new: int = 0
    updated: int = 0
    kind: FailureKind | None = None
    detail: str = ""
    warnings: tuple[str, ...] = ()
    duration: float = 0.0
    blocked: int = 0  # entries dropped by a block rule
    filtered: int = 0  # entries dropped as off topic (filter = "topic")


@dataclass(frozen=True, slots=True)
class PublishReport:
    """Which output files were rewritten and which were already up to date."""

    items: int
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...] = ()  # outputs no longer produced, deleted (see the manifest)
    pinged: tuple[str, ...] = ()  # feed URLs the WebSub hub accepted


@dataclass(frozen=True, slots=True)
class RunReport:
    """The result of one pass; the CLI maps it to an exit code."""

    started: datetime
    finished: datetime
    outcomes: tuple[SourceOutcome, ...] = ()
    publish: PublishReport | None = None
    publish_error: str | None = None
    skipped: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> tuple[SourceOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "failed")

    @property
    def ok(self) -> tuple[SourceOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status != "failed")


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as the store holds it, for the merge stage."""

    pk: int
    source_id: str
    key: str
    link: str | None
    canonical_url: str | None
    title: str
    summary_html: str
    content_html: str
    author: str | None
    tags: tuple[str, ...]
    published_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    modified_at: datetime | None
    claimed_updated: datetime | None
    story_uri: str | None = None
    labels: tuple[str, ...] = ()
    language: str | None = None
    why: str | None = None


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store knows about a source: validators, schedule and health."""

    id: str
    url: str
    validators: Validators
    last_checked_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error_kind: str | None = None
    last_error: str | None = None
    last_http_status: int | None = None
    last_warning: str | None = None
    consecutive_failures: int = 0
    next_check_at: datetime | None = None
    entries: int = 0
    added_at: datetime | None = None
    last_new_at: datetime | None = None
    last_duration: float | None = None
    moved_to: str | None = None  # a permanent redirect target seen on the last fetch(es)
    moved_seen: int = 0  # how many consecutive passes saw that same move
    identity: str = "guid"  # "link" once the source's GUIDs were seen to churn
    identity_reason: str | None = None
