"""The database schema, in one commented place, and its numbered migrations.

Every timestamp is stored as naive UTC and comes back UTC-aware (UTCDateTime).
Migrations run in order, each in one transaction, and record the schema version
in `meta`; a store newer than this program is refused rather than damaged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    inspect,
    text,
    update,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as naive UTC; return them aware (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData()

# Key/value facts about the store itself: schema_version.
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row per configured source ever seen: HTTP validators and health.
sources = Table(
    "sources",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("etag", Text),  # verbatim from the last 2xx/304 answer
    Column("last_modified", Text),  # verbatim Last-Modified
    Column("last_checked_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error_at", UTCDateTime),
    Column("last_error_kind", String(32)),
    Column("last_error", Text),
    Column("last_http_status", Integer),
    Column("last_warning", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("next_check_at", UTCDateTime),
    # v2: health and moves.
    Column("added_at", UTCDateTime),  # first time the store saw this source
    Column("last_new_at", UTCDateTime),  # last time a fetch brought a new entry
    Column("last_duration", Float),  # seconds the last fetch took
    Column("moved_to", Text),  # target of a permanent redirect chain, if any
    Column("moved_seen", Integer, nullable=False, default=0),  # consecutive passes that saw it
    # v4: how entries of this source are identified: "guid" (default) or "link" once its
    # GUIDs were seen to churn (the same link back under a new GUID), and why.
    Column("identity", String(16)),
    Column("identity_reason", Text),
)

# v2: origins (scheme://host:port) that asked us to wait (429/503 Retry-After).
# Every source on that origin waits, not only the one that got the answer.
hosts = Table(
    "hosts",
    metadata,
    Column("origin", Text, primary_key=True),
    Column("hold_until", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
)

# Stories: merged items. `uri` is the public tag: id, minted once, never changed.
# `seed` is what the id was derived from (the first member's canonical URL or key).
stories = Table(
    "stories",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("uri", Text, nullable=False, unique=True),
    Column("seed", Text, nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    # v3: editorial control and retention.
    Column("hidden", Integer, nullable=False, default=0),  # 1 while hidden by an editor
    Column("pruned_at", UTCDateTime),  # its entries left the working set (a tombstone)
    Column("snapshot", Text),  # the published item as JSON, kept when pruned
)

# v3: every hide/unhide, with time and reason (the audit trail; never deleted).
editorial = Table(
    "editorial",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("story_uri", Text, nullable=False),
    Column("action", String(16), nullable=False),  # "hide" | "unhide"
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
Index("ix_editorial_story_uri", editorial.c.story_uri)

# One row per entry per source. `key` is the identity inside the source
# (guid:/link:/h1:); `published_at` is the effective date (clamped, stable).
entries = Table(
    "entries",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(64), nullable=False),
    Column("key", Text, nullable=False),
    Column("guid", Text),
    Column("link", Text),
    Column("canonical_url", Text),
    Column("title", Text, nullable=False),
    Column("summary_html", Text, nullable=False, default=""),
    Column("content_html", Text, nullable=False, default=""),
    Column("author", Text),
    Column("tags", Text, nullable=False, default="[]"),  # JSON list of strings
    Column("claimed_published", UTCDateTime),
    Column("claimed_updated", UTCDateTime),
    Column("published_at", UTCDateTime, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime),  # set when the source changed the entry
    Column("content_hash", String(64), nullable=False),
    Column("story_pk", Integer, ForeignKey("stories.pk")),
    # v5: classification (classify.py): our tag slugs (themes, kind, language,
    # country-xx) as a JSON list, the detected language, and why it is relevant (JSON).
    Column("labels", Text, nullable=False, default="[]"),
    Column("language", String(16)),
    Column("why", Text),
    UniqueConstraint("source_id", "key", name="uq_entries_source_key"),
)
Index("ix_entries_canonical_url", entries.c.canonical_url)
Index("ix_entries_story_pk", entries.c.story_pk)
Index("ix_entries_published_at", entries.c.published_at)


def _v1_initial(connection: Connection) -> None:
    metadata.create_all(connection, tables=[meta, sources, stories, entries])


_V2_SOURCE_COLUMNS = ("added_at", "last_new_at", "last_duration", "moved_to", "moved_seen")


def _add_missing_columns(connection: Connection, table: Table, names: tuple[str, ...]) -> None:
    """ALTER TABLE ... ADD COLUMN for each of `names` the table lacks.

    v1 creates tables from the current definitions, so a store created by this
    version already has every column; one created by an older version gets them here.
    """
    present = {column["name"] for column in inspect(connection).get_columns(table.name)}
    for name in names:
        if name in present:
            continue
        column = table.c[name]
        kind = column.type.compile(dialect=connection.dialect)
        default = " NOT NULL DEFAULT 0" if not column.nullable else ""
        connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}{default}"))


def _v2_health(connection: Connection) -> None:
    _add_missing_columns(connection, sources, _V2_SOURCE_COLUMNS)
    connection.execute(
        update(sources)
        .where(sources.c.added_at.is_(None))
        .values(added_at=sources.c.last_checked_at)
    )
    metadata.create_all(connection, tables=[hosts])


def _v3_editorial(connection: Connection) -> None:
    _add_missing_columns(connection, stories, ("hidden", "pruned_at", "snapshot"))
    metadata.create_all(connection, tables=[editorial])


def _v4_identity(connection: Connection) -> None:
    _add_missing_columns(connection, sources, ("identity", "identity_reason"))


def _v5_classification(connection: Connection) -> None:
    present = {column["name"] for column in inspect(connection).get_columns("entries")}
    if "labels" not in present:
        connection.execute(text("ALTER TABLE entries ADD COLUMN labels TEXT NOT NULL DEFAULT '[]'"))
    _add_missing_columns(connection, entries, ("language", "why"))


# (version, description, function). Append only; never edit a released migration.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema: sources, stories, entries", _v1_initial),
    (2, "source health (added, last new entry, duration, moves) and host holds", _v2_health),
    (3, "editorial hide/unhide log, hidden stories, retention tombstones", _v3_editorial),
    (4, "per-source entry identity (guid or link) after GUID churn", _v4_identity),
    (5, "entry classification: labels, language, why", _v5_classification),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
