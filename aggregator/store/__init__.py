"""The store: the only module that talks to the database (SQLAlchemy Core).

Purpose: keep source state (validators, health, schedule), entries per source and
stories (merged items with their minted ids). Each source's result is written in
one transaction, so a crash leaves the store either before or after that source.
Failure: any database problem is a `StoreError` with a one-line reason; a second
process on the same store gets `LockedError` from `lock()`.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from aggregator.errors import LockedError, StoreError
from aggregator.models import Entry, Failed, SourceState, StoredEntry, Validators
from aggregator.normalize import effective_published
from aggregator.store.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    editorial,
    entries,
    hosts,
    meta,
    sources,
    stories,
)

__all__ = ["EditorialRecord", "FetchFacts", "Recorded", "Store", "StoryRef"]


class Recorded(NamedTuple):
    """What record_entries did: entries inserted, edited, re-identified after GUID churn."""

    new: int
    updated: int
    rekeyed: int = 0


@dataclass(frozen=True, slots=True)
class FetchFacts:
    """Health facts of one successful fetch, stored with its result."""

    duration: float | None = None
    moved_to: str | None = None  # permanent redirect target seen this time, if any
    moved_seen: int = 0  # consecutive passes that saw that same target

    def values(self) -> dict[str, Any]:
        return {
            "last_duration": self.duration,
            "moved_to": self.moved_to,
            "moved_seen": self.moved_seen,
        }


_SQLITE = "sqlite:///"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; NORMAL is durable enough under WAL
    # (a power cut can lose the last transaction, never corrupt the file).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Store:
    """A handle on one database. Use `Store.open(url)`; close with `close()`."""

    def __init__(self, engine: Engine, path: Path | None) -> None:
        self.engine = engine
        self.path = path

    # --- opening, migrations, locking ---

    @classmethod
    def open(cls, url: str) -> Store:
        path = None
        if url.startswith(_SQLITE) and url[len(_SQLITE) :] not in ("", ":memory:"):
            path = Path(url[len(_SQLITE) :])
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the database folder {path.parent}: {exc}") from exc
        try:
            engine = create_engine(url)
        except (SQLAlchemyError, ValueError) as exc:
            raise StoreError(f"cannot open database {url}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine, path)
        store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    def _where(self) -> str:
        return str(self.path) if self.path else str(self.engine.url)

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            if "not a database" in reason or "malformed" in reason:
                reason += " — the file is damaged; restore a backup or move it aside"
            elif "locked" in reason:
                reason += " — another program holds the database; try again"
            raise StoreError(f"database {self._where()}: {reason}") from exc

    def schema_version(self) -> int:
        with self._begin() as conn:
            if not self.engine.dialect.has_table(conn, "meta"):
                return 0
            value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version"))
            found = value.scalar()
            return int(found) if found is not None else 0

    def migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"database {self._where()} has schema version {current}, newer than this"
                f" program's {SCHEMA_VERSION}; upgrade aggregator"
            )
        for version, _description, step in MIGRATIONS:
            if version <= current:
                continue
            with self._begin() as conn:
                step(conn)
                conn.execute(meta.delete().where(meta.c.key == "schema_version"))
                conn.execute(insert(meta).values(key="schema_version", value=str(version)))

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock shared by run, schedule and publish on this store.

        flock(2) is released by the kernel when the holder dies, so a lock left
        by a killed process never needs cleaning up.
        """
        if self.path is None:
            yield
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = lock_path.open("a+")
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise LockedError(
                    f"another aggregator process (pid {holder}) is working on {self.path};"
                    " this one stops without doing anything"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            handle.close()

    # --- source state ---

    def source_states(self) -> dict[str, SourceState]:
        with self._begin() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    select(entries.c.source_id, func.count()).group_by(entries.c.source_id)
                ).all()
            )
            rows = conn.execute(select(sources)).mappings().all()
        return {
            row["id"]: SourceState(
                id=row["id"],
                url=row["url"],
                validators=Validators(row["etag"], row["last_modified"]),
                last_checked_at=row["last_checked_at"],
                last_success_at=row["last_success_at"],
                last_error_at=row["last_error_at"],
                last_error_kind=row["last_error_kind"],
                last_error=row["last_error"],
                last_http_status=row["last_http_status"],
                last_warning=row["last_warning"],
                consecutive_failures=row["consecutive_failures"] or 0,
                next_check_at=row["next_check_at"],
                entries=counts.get(row["id"], 0),
                added_at=row["added_at"],
                last_new_at=row["last_new_at"],
                last_duration=row["last_duration"],
                moved_to=row["moved_to"],
                moved_seen=row["moved_seen"] or 0,
                identity=row["identity"] or "guid",
                identity_reason=row["identity_reason"],
            )
            for row in rows
        }

    def _upsert_source(self, conn: Connection, source_id: str, url: str, **values: Any) -> None:
        # UPDATE first and INSERT only when it matched nothing: one statement for the
        # usual case, a known source (a warm pass is 1,000 of these).
        result = conn.execute(
            update(sources).where(sources.c.id == source_id).values(url=url, **values)
        )
        if result.rowcount == 0:
            values.setdefault("consecutive_failures", 0)
            values.setdefault("moved_seen", 0)
            values.setdefault("added_at", values.get("last_checked_at"))
            conn.execute(insert(sources).values(id=source_id, url=url, **values))

    def record_entries(
        self,
        source_id: str,
        url: str,
        validators: Validators,
        http_status: int,
        new_entries: Sequence[Entry],
        warnings: Sequence[str],
        now: datetime,
        next_check: datetime,
        fetch: FetchFacts = FetchFacts(),
    ) -> Recorded:
        """Upsert a source's entries and its success state in one transaction.

        Returns (new, updated, rekeyed). Entries absent from this fetch are kept: feeds are a
        window, not the whole history. `url` is the configured URL (not where it
        moved to); `fetch` carries the health facts of this fetch.
        """
        with self._begin() as conn:
            existing = {
                row.key: (row.pk, row.content_hash, row.first_seen_at, row.canonical_url)
                for row in conn.execute(
                    select(
                        entries.c.pk,
                        entries.c.key,
                        entries.c.content_hash,
                        entries.c.first_seen_at,
                        entries.c.canonical_url,
                    ).where(entries.c.source_id == source_id)
                )
            }
            incoming = {entry.key for entry in new_entries}
            # GUID churn: an entry under an unknown key whose link is that of a stored
            # entry which this fetch no longer lists is that entry, re-identified.
            # (Two entries listed together under one link stay two entries.)
            by_link = {
                canonical: key
                for key, (_, _, _, canonical) in existing.items()
                if canonical and key not in incoming
            }
            inserts: list[dict[str, Any]] = []
            changes: list[tuple[int, dict[str, Any]]] = []
            seen_pks: list[int] = []
            batch_keys: set[str] = set()
            churned: list[tuple[str, str]] = []
            for entry in new_entries:
                if entry.key in batch_keys:
                    continue  # a feed listing the same entry twice: first one wins
                batch_keys.add(entry.key)
                values = _entry_values(entry)
                key = entry.key
                if key not in existing and entry.canonical_url in by_link:
                    key = by_link.pop(entry.canonical_url or "")
                    churned.append((key, entry.key))
                    # From now on the source's entries go by link (see _identity_switch).
                    values["key"] = f"link:{entry.canonical_url}"
                if key not in existing:
                    values.update(
                        source_id=source_id,
                        key=entry.key,
                        first_seen_at=now,
                        last_seen_at=now,
                        published_at=effective_published(entry.published, now),
                    )
                    inserts.append(values)
                    continue
                pk, old_hash, first_seen, _ = existing[key]
                seen_pks.append(pk)
                if old_hash != entry.content_hash:
                    values.update(
                        modified_at=now,
                        published_at=effective_published(entry.published, first_seen),
                    )
                    changes.append((pk, values))
                elif "key" in values and values["key"] != key:
                    changes.append((pk, {"key": values["key"]}))
            if inserts:
                conn.execute(insert(entries), inserts)
            for pk, values in changes:
                conn.execute(update(entries).where(entries.c.pk == pk).values(**values))
            for chunk in _chunks(seen_pks, 500):
                conn.execute(
                    update(entries).where(entries.c.pk.in_(chunk)).values(last_seen_at=now)
                )
            self._upsert_source(
                conn,
                source_id,
                url,
                etag=validators.etag,
                last_modified=validators.last_modified,
                last_checked_at=now,
                last_success_at=now,
                last_http_status=http_status,
                last_warning="; ".join(warnings) or None,
                consecutive_failures=0,
                next_check_at=next_check,
                **fetch.values(),
                **({"last_new_at": now} if inserts else {}),
                **_identity_switch(churned),
            )
        edited = sum(1 for _, v in changes if list(v) != ["key"])
        return Recorded(len(inserts), edited, len(churned))

    def record_not_modified(
        self,
        source_id: str,
        url: str,
        validators: Validators,
        now: datetime,
        next_check: datetime,
        fetch: FetchFacts = FetchFacts(),
    ) -> None:
        with self._begin() as conn:
            self._upsert_source(
                conn,
                source_id,
                url,
                etag=validators.etag,
                last_modified=validators.last_modified,
                last_checked_at=now,
                last_success_at=now,
                last_http_status=304,
                consecutive_failures=0,
                next_check_at=next_check,
                **fetch.values(),
            )

    def record_failure(
        self, failed: Failed, url: str, now: datetime, next_check: datetime | None
    ) -> None:
        """Count the failure; next_check None means never again (410 Gone).

        `url` is the configured URL. A move seen earlier is kept: a failure says
        nothing about whether the redirect still holds.
        """
        with self._begin() as conn:
            row = conn.execute(
                select(sources.c.consecutive_failures).where(sources.c.id == failed.source_id)
            ).first()
            failures = (row[0] or 0) + 1 if row else 1
            self._upsert_source(
                conn,
                failed.source_id,
                url,
                last_checked_at=now,
                last_error_at=now,
                last_error_kind=str(failed.kind),
                last_error=failed.detail,
                last_http_status=failed.http_status,
                last_duration=failed.elapsed,
                consecutive_failures=failures,
                next_check_at=next_check,
            )

    def record_deferred(self, source_id: str, url: str, next_check: datetime) -> None:
        """Not fetched because its host asked to wait: only the schedule moves."""
        with self._begin() as conn:
            self._upsert_source(conn, source_id, url, next_check_at=next_check)

    def hold_host(self, origin: str, until: datetime, reason: str) -> None:
        """Remember that `origin` asked every client to wait until `until`."""
        with self._begin() as conn:
            conn.execute(delete(hosts).where(hosts.c.origin == origin))
            conn.execute(insert(hosts).values(origin=origin, hold_until=until, reason=reason))

    def host_holds(self, now: datetime) -> dict[str, tuple[datetime, str]]:
        """Origins still asking to wait at `now`: origin -> (until, reason). Drops expired ones."""
        with self._begin() as conn:
            conn.execute(delete(hosts).where(hosts.c.hold_until <= now))
            rows = conn.execute(select(hosts.c.origin, hosts.c.hold_until, hosts.c.reason))
            return {origin: (until, reason) for origin, until, reason in rows}

    # --- merge support ---

    def unassigned_entries(self) -> list[StoredEntry]:
        with self._begin() as conn:
            rows = conn.execute(select(entries).where(entries.c.story_pk.is_(None))).mappings()
            return [_stored(row, None) for row in rows]

    def entries_between(self, start: datetime, end: datetime) -> list[StoredEntry]:
        """Entries already in stories and published in [start, end], with their story URI."""
        with self._begin() as conn:
            query = (
                select(entries, stories.c.uri)
                .join(stories, stories.c.pk == entries.c.story_pk)
                .where(entries.c.published_at >= start, entries.c.published_at <= end)
            )
            # Pruned stories stay tombstoned: a late duplicate joins them (and so stays
            # out of the outputs) rather than starting a new story.
            return [_stored(row, row["uri"]) for row in conn.execute(query).mappings()]

    def story_index(self, canonical_urls: Iterable[str]) -> dict[str, str]:
        """Map canonical URLs and seeds already known to their story's tag: URI."""
        urls = sorted(set(canonical_urls))
        found: dict[str, str] = {}
        with self._begin() as conn:
            for chunk in _chunks(urls, 500):
                query = (
                    select(entries.c.canonical_url, stories.c.uri)
                    .join(stories, stories.c.pk == entries.c.story_pk)
                    .where(entries.c.canonical_url.in_(chunk))
                )
                found.update({url: uri for url, uri in conn.execute(query)})
                seeds = select(stories.c.seed, stories.c.uri).where(stories.c.seed.in_(chunk))
                for seed, uri in conn.execute(seeds):
                    found.setdefault(seed, uri)
        return found

    def assign_stories(self, assignments: Sequence[tuple[int, str, str]], now: datetime) -> int:
        """Attach entries to stories: (entry pk, story uri, seed). Mints missing stories.

        Returns how many stories were created. One transaction for the whole merge.
        """
        with self._begin() as conn:
            pk_by_uri = self._story_pks(conn, sorted({uri for _, uri, _ in assignments}))
            # Missing stories in order of first assignment (the first seed wins), so
            # their pks follow that order. Inserts and entry updates go in executemany
            # batches: one statement per entry made a 35,000-entry cold pass spend
            # 7–11 s here instead of 2–3 s; batches of 1,000 keep the parameter lists
            # small (benchmarks/RESULTS.md).
            missing: dict[str, str] = {}
            for _, uri, seed in assignments:
                if uri not in pk_by_uri:
                    missing.setdefault(uri, seed)
            new_stories = list(missing.items())
            for batch in _chunks(new_stories, 1000):
                rows = [{"uri": uri, "seed": seed, "created_at": now} for uri, seed in batch]
                conn.execute(insert(stories), rows)
            pk_by_uri.update(self._story_pks(conn, list(missing)))
            link = (
                update(entries)
                .where(entries.c.pk == bindparam("entry_pk_"))
                .values(story_pk=bindparam("story_pk_"))
            )
            for batch in _chunks(assignments, 1000):
                params = [{"entry_pk_": pk, "story_pk_": pk_by_uri[uri]} for pk, uri, _ in batch]
                conn.execute(link, params)
        return len(missing)

    @staticmethod
    def _story_pks(conn: Connection, uris: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(uris, 500):
            query = select(stories.c.uri, stories.c.pk).where(stories.c.uri.in_(chunk))
            found.update({uri: pk for uri, pk in conn.execute(query)})
        return found

    def labels_in_use(self, source_ids: Sequence[str]) -> set[str]:
        """Every classification tag slug of published entries of these sources."""
        with self._begin() as conn:
            query = (
                select(entries.c.labels)
                .distinct()
                .join(stories, stories.c.pk == entries.c.story_pk)
                .where(
                    entries.c.source_id.in_(source_ids),
                    stories.c.hidden == 0,
                    stories.c.pruned_at.is_(None),
                )
            )
            found: set[str] = set()
            for (labels,) in conn.execute(query):
                found.update(json.loads(labels or "[]"))
        return found

    # --- editorial control ---

    def find_story(self, ref: str, canonical: str | None) -> StoryRef | None:
        """A story by its tag: URI, or by a member's link (as given or canonical)."""
        with self._begin() as conn:
            pk = conn.execute(select(stories.c.pk).where(stories.c.uri == ref)).scalar()
            if pk is None:
                by_link = select(entries.c.story_pk).where(
                    entries.c.story_pk.is_not(None),
                    (entries.c.link == ref) | (entries.c.canonical_url == (canonical or ref)),
                )
                pk = conn.execute(by_link.order_by(entries.c.story_pk).limit(1)).scalar()
            if pk is None:
                return None
            return self._story_ref(conn, int(pk))

    def _story_ref(self, conn: Connection, pk: int) -> StoryRef:
        row = conn.execute(select(stories).where(stories.c.pk == pk)).mappings().one()
        title = conn.execute(
            select(entries.c.title)
            .where(entries.c.story_pk == pk)
            .order_by(entries.c.published_at, entries.c.pk)
            .limit(1)
        ).scalar()
        if title is None and row["snapshot"]:
            title = json.loads(row["snapshot"]).get("title")
        return StoryRef(row["uri"], title or "", bool(row["hidden"]), row["pruned_at"] is not None)

    def story_members(self, uri: str) -> list[StoredEntry]:
        """A story's entries, oldest first."""
        with self._begin() as conn:
            query = (
                select(entries, stories.c.uri)
                .join(stories, stories.c.pk == entries.c.story_pk)
                .where(stories.c.uri == uri)
                .order_by(entries.c.published_at, entries.c.pk)
            )
            return [_stored(row, row["uri"]) for row in conn.execute(query).mappings()]

    def set_hidden(self, uri: str, hidden: bool, reason: str, now: datetime) -> None:
        """Hide or unhide a story and record it in the editorial log, in one transaction."""
        with self._begin() as conn:
            conn.execute(update(stories).where(stories.c.uri == uri).values(hidden=int(hidden)))
            conn.execute(
                insert(editorial).values(
                    story_uri=uri, action="hide" if hidden else "unhide", reason=reason, at=now
                )
            )

    def editorial_log(self, *, current_only: bool) -> list[EditorialRecord]:
        """Every hide/unhide, oldest first; or only the hides still in force."""
        with self._begin() as conn:
            rows = conn.execute(select(editorial).order_by(editorial.c.at, editorial.c.pk)).all()
            hidden = set(conn.execute(select(stories.c.uri).where(stories.c.hidden == 1)).scalars())
            titles: dict[str, str] = {}
            for uri in {row.story_uri for row in rows}:
                pk = conn.execute(select(stories.c.pk).where(stories.c.uri == uri)).scalar()
                titles[uri] = self._story_ref(conn, int(pk)).title if pk is not None else ""
        records = [
            EditorialRecord(row.story_uri, row.action, row.reason, row.at, titles[row.story_uri])
            for row in rows
        ]
        if not current_only:
            return records
        latest = {r.story_uri: r for r in records if r.action == "hide"}
        return [r for uri, r in latest.items() if uri in hidden]

    # --- retention ---

    def prunable_stories(self, cutoff: datetime) -> list[list[StoredEntry]]:
        """Stories (as their members) whose every entry is older than `cutoff` and was
        last listed by its source before it: they leave the working set."""
        with self._begin() as conn:
            old = (
                select(entries.c.story_pk)
                .join(stories, stories.c.pk == entries.c.story_pk)
                .where(stories.c.pruned_at.is_(None))
                .group_by(entries.c.story_pk)
                .having(
                    func.max(entries.c.published_at) < cutoff,
                    func.max(entries.c.last_seen_at) < cutoff,
                )
            )
            pks = [row[0] for row in conn.execute(old)]
            members: dict[int, list[StoredEntry]] = {pk: [] for pk in pks}
            for chunk in _chunks(pks, 500):
                query = (
                    select(entries, stories.c.uri)
                    .join(stories, stories.c.pk == entries.c.story_pk)
                    .where(entries.c.story_pk.in_(chunk))
                    .order_by(entries.c.published_at, entries.c.pk)
                )
                for row in conn.execute(query).mappings():
                    members[row["story_pk"]].append(_stored(row, row["uri"]))
        return [members[pk] for pk in pks]

    def prune(self, snapshots: dict[str, str], now: datetime) -> None:
        """Tombstone these stories (uri -> published item as JSON) in one transaction.

        The story row keeps its id, seed and a snapshot for archives; its entries
        keep their identity (source, key, links, hash) but lose their text, so a
        partner that lists one again updates the tombstone instead of minting a
        new story, and nothing is resurrected.
        """
        with self._begin() as conn:
            for uri, snapshot in snapshots.items():
                pk = conn.execute(select(stories.c.pk).where(stories.c.uri == uri)).scalar()
                if pk is None:
                    continue
                conn.execute(
                    update(stories)
                    .where(stories.c.pk == pk)
                    .values(pruned_at=now, snapshot=snapshot)
                )
                conn.execute(
                    update(entries)
                    .where(entries.c.story_pk == pk)
                    .values(summary_html="", content_html="")
                )

    def published_stories(self, source_ids: Sequence[str]) -> list[list[StoredEntry]]:
        """Every story carried by these sources that is neither hidden nor pruned, each as
        its members from these sources: the working set of the archives, in one query."""
        with self._begin() as conn:
            query = (
                select(entries, stories.c.uri)
                .join(stories, stories.c.pk == entries.c.story_pk)
                .where(
                    entries.c.source_id.in_(source_ids),
                    stories.c.hidden == 0,
                    stories.c.pruned_at.is_(None),
                )
                .order_by(entries.c.story_pk, entries.c.published_at, entries.c.pk)
            )
            members: dict[int, list[StoredEntry]] = {}
            for row in conn.execute(query).mappings():
                members.setdefault(row["story_pk"], []).append(_stored(row, row["uri"]))
        return list(members.values())

    def pruned_snapshots(self) -> list[str]:
        """The published form (JSON, merge.item_json) of every pruned story not hidden."""
        with self._begin() as conn:
            query = (
                select(stories.c.snapshot)
                .where(
                    stories.c.pruned_at.is_not(None),
                    stories.c.snapshot.is_not(None),
                    stories.c.hidden == 0,
                )
                .order_by(stories.c.pk)
            )
            return [row[0] for row in conn.execute(query)]

    def latest_stories(
        self,
        source_ids: Sequence[str],
        limit: int,
        *,
        label: str | None = None,
        label_sources: Sequence[str] = (),
    ) -> list[list[StoredEntry]]:
        """The newest `limit` stories carried by these sources, each as its members.

        With `label`, only stories with a member classified with that tag slug, or
        carried by one of `label_sources` (sources whose feeds.toml tags give it).
        """
        with self._begin() as conn:
            published = func.min(entries.c.published_at).label("published")
            conditions = [
                entries.c.source_id.in_(source_ids),
                stories.c.hidden == 0,
                stories.c.pruned_at.is_(None),
            ]
            if label is not None:
                # labels is a JSON list of slugs; slugs hold no quotes or wildcards.
                tagged = select(entries.c.story_pk).where(
                    entries.c.source_id.in_(source_ids),
                    entries.c.labels.like(f'%"{label}"%') | entries.c.source_id.in_(label_sources),
                )
                conditions.append(entries.c.story_pk.in_(tagged))
            newest = (
                select(entries.c.story_pk, published)
                .join(stories, stories.c.pk == entries.c.story_pk)
                .where(*conditions)
                .group_by(entries.c.story_pk)
                .order_by(published.desc(), entries.c.story_pk.desc())
                .limit(limit)
            )
            order = [row.story_pk for row in conn.execute(newest)]
            members: dict[int, list[StoredEntry]] = {pk: [] for pk in order}
            for chunk in _chunks(order, 500):
                query = (
                    select(entries, stories.c.uri)
                    .join(stories, stories.c.pk == entries.c.story_pk)
                    .where(entries.c.story_pk.in_(chunk), entries.c.source_id.in_(source_ids))
                    .order_by(entries.c.published_at, entries.c.pk)
                )
                for row in conn.execute(query).mappings():
                    members[row["story_pk"]].append(_stored(row, row["uri"]))
        return [members[pk] for pk in order if members[pk]]


@dataclass(frozen=True, slots=True)
class StoryRef:
    """A story as an editor sees it."""

    uri: str
    title: str
    hidden: bool
    pruned: bool


@dataclass(frozen=True, slots=True)
class EditorialRecord:
    story_uri: str
    action: str
    reason: str
    at: datetime
    title: str


def _identity_switch(churned: list[tuple[str, str]]) -> dict[str, Any]:
    """Columns recording that a source's GUIDs churn (its entries go by link from now)."""
    if not churned:
        return {}
    old, new = churned[0]
    return {
        "identity": "link",
        "identity_reason": (
            f"{len(churned)} entries came back under new ids with the same link"
            f" (e.g. {old} → {new}); entries are identified by link"
        ),
    }


def _entry_values(entry: Entry) -> dict[str, Any]:
    return {
        "guid": entry.guid,
        "link": entry.link,
        "canonical_url": entry.canonical_url,
        "title": entry.title,
        "summary_html": entry.summary_html,
        "content_html": entry.content_html,
        "author": entry.author,
        "tags": json.dumps(list(entry.tags), ensure_ascii=False),
        "claimed_published": entry.published,
        "claimed_updated": entry.updated,
        "content_hash": entry.content_hash,
        "labels": json.dumps(list(entry.labels)),
        "language": entry.language,
        "why": entry.why,
    }


def _stored(row: Any, uri: str | None) -> StoredEntry:
    return StoredEntry(
        pk=row["pk"],
        source_id=row["source_id"],
        key=row["key"],
        link=row["link"],
        canonical_url=row["canonical_url"],
        title=row["title"],
        summary_html=row["summary_html"],
        content_html=row["content_html"],
        author=row["author"],
        tags=tuple(json.loads(row["tags"] or "[]")),
        published_at=row["published_at"],
        first_seen_at=row["first_seen_at"],
        last_seen_at=row["last_seen_at"],
        modified_at=row["modified_at"],
        claimed_updated=row["claimed_updated"],
        story_uri=uri,
        labels=tuple(json.loads(row["labels"] or "[]")),
        language=row["language"],
        why=row["why"],
    )


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
