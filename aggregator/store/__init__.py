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
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from aggregator.errors import LockedError, StoreError
from aggregator.models import Entry, Failed, SourceState, StoredEntry, Validators
from aggregator.normalize import effective_published
from aggregator.store.schema import MIGRATIONS, SCHEMA_VERSION, entries, meta, sources, stories

__all__ = ["Store"]

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
    ) -> tuple[int, int]:
        """Upsert a source's entries and its success state in one transaction.

        Returns (new, updated). Entries absent from this fetch are kept: feeds are a
        window, not the whole history.
        """
        with self._begin() as conn:
            existing = {
                row.key: (row.pk, row.content_hash, row.first_seen_at)
                for row in conn.execute(
                    select(
                        entries.c.pk, entries.c.key, entries.c.content_hash, entries.c.first_seen_at
                    ).where(entries.c.source_id == source_id)
                )
            }
            inserts: list[dict[str, Any]] = []
            changes: list[tuple[int, dict[str, Any]]] = []
            seen_pks: list[int] = []
            batch_keys: set[str] = set()
            for entry in new_entries:
                if entry.key in batch_keys:
                    continue  # a feed listing the same entry twice: first one wins
                batch_keys.add(entry.key)
                values = _entry_values(entry)
                if entry.key not in existing:
                    values.update(
                        source_id=source_id,
                        key=entry.key,
                        first_seen_at=now,
                        last_seen_at=now,
                        published_at=effective_published(entry.published, now),
                    )
                    inserts.append(values)
                    continue
                pk, old_hash, first_seen = existing[entry.key]
                seen_pks.append(pk)
                if old_hash != entry.content_hash:
                    values.update(
                        modified_at=now,
                        published_at=effective_published(entry.published, first_seen),
                    )
                    changes.append((pk, values))
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
            )
        return len(inserts), len(changes)

    def record_not_modified(
        self, source_id: str, url: str, validators: Validators, now: datetime, next_check: datetime
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
            )

    def record_failure(self, failed: Failed, now: datetime, next_check: datetime | None) -> None:
        """Count the failure; next_check None means never again (410 Gone)."""
        with self._begin() as conn:
            row = conn.execute(
                select(sources.c.consecutive_failures).where(sources.c.id == failed.source_id)
            ).first()
            failures = (row[0] or 0) + 1 if row else 1
            self._upsert_source(
                conn,
                failed.source_id,
                failed.url,
                last_checked_at=now,
                last_error_at=now,
                last_error_kind=str(failed.kind),
                last_error=failed.detail,
                last_http_status=failed.http_status,
                consecutive_failures=failures,
                next_check_at=next_check,
            )

    # --- merge support ---

    def unassigned_entries(self) -> list[StoredEntry]:
        with self._begin() as conn:
            rows = conn.execute(select(entries).where(entries.c.story_pk.is_(None))).mappings()
            return [_stored(row, None) for row in rows]

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

    def latest_stories(self, source_ids: Sequence[str], limit: int) -> list[list[StoredEntry]]:
        """The newest `limit` stories carried by these sources, each as its members."""
        with self._begin() as conn:
            published = func.min(entries.c.published_at).label("published")
            newest = (
                select(entries.c.story_pk, published)
                .where(entries.c.story_pk.is_not(None), entries.c.source_id.in_(source_ids))
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
    )


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
