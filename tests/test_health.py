"""Moves, per-host Retry-After, cache hints and source health, on the wire (#4).

Real passes (`run_pass`) against a LocalServer on 127.0.0.1 and a real SQLite store,
with a controlled clock; what the client did is read from the server's request log.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator import config as config_mod
from aggregator.config import Config, Source
from aggregator.health import assess
from aggregator.models import SourceState, Validators
from aggregator.pipeline import next_check, run_pass
from aggregator.store import Store
from aggregator.store.schema import SCHEMA_VERSION

from .conftest import LocalServer, Response, rss, run_cli, write_config

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BODY = rss([("g1", "https://partner.example/a", "Forced labour report")])


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _setup(
    tmp_path: Path, sources: list[dict[str, object]], extra: str = ""
) -> tuple[Store, Config]:
    path = write_config(
        tmp_path,
        sources,
        extra=extra,
        defaults='timeout = "2s"\ninterval = "30m"\nmax_interval = "24h"',
    )
    config = config_mod.load(path)
    return Store.open(config.settings.database), config


def _pass(config: Config, store: Store, clock: Clock) -> Any:
    return run_pass(config, store, clock=clock)  # type: ignore[arg-type]


def _status(config: Config) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((config.settings.output_dir / "status.json").read_text())
    return data


# --- permanent and temporary redirects ---


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_move_is_used_after_two_passes_and_reported(
    tmp_path: Path, server: LocalServer, status: int
) -> None:
    server.routes["/old.rss"] = Response(b"", status=status, headers={"Location": "/new.rss"})
    server.routes["/new.rss"] = Response(BODY)
    store, config = _setup(tmp_path, [{"id": "p", "url": server.url("/old.rss")}])
    clock = Clock(T0)
    _pass(config, store, clock)
    state = store.source_states()["p"]
    assert (state.moved_to, state.moved_seen) == (server.url("/new.rss"), 1)
    assert assess(config.sources[0], state, clock.now).state == "moved"
    clock.now += timedelta(hours=1)
    _pass(config, store, clock)
    assert store.source_states()["p"].moved_seen == 2
    assert len(server.requests_to("/old.rss")) == 2
    # Confirmed: the third pass goes straight to the new URL.
    clock.now += timedelta(hours=1)
    report = _pass(config, store, clock)
    assert report.outcomes[0].status in ("ok", "not_modified")
    assert len(server.requests_to("/old.rss")) == 2
    assert len(server.requests_to("/new.rss")) == 3
    state = store.source_states()["p"]
    assert state.url == server.url("/old.rss")  # the store keeps the configured URL
    assert state.moved_to == server.url("/new.rss")
    status_row = _status(config)["sources"][0]
    assert status_row["state"] == "moved"
    assert status_row["moved_to"] == server.url("/new.rss")
    assert "update url in feeds.toml" in status_row["reason"]
    table = run_cli("sources", cwd=tmp_path)
    assert "moved" in table.stdout and server.url("/new.rss") in table.stdout


def test_move_is_forgotten_when_the_redirect_stops(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/old.rss"] = Response(b"", status=301, headers={"Location": "/new.rss"})
    server.routes["/new.rss"] = Response(BODY)
    store, config = _setup(tmp_path, [{"id": "p", "url": server.url("/old.rss")}])
    clock = Clock(T0)
    _pass(config, store, clock)
    server.routes["/old.rss"] = Response(BODY)
    clock.now += timedelta(hours=1)
    _pass(config, store, clock)
    state = store.source_states()["p"]
    assert (state.moved_to, state.moved_seen) == (None, 0)
    assert assess(config.sources[0], state, clock.now).state == "ok"


@pytest.mark.parametrize("status", [302, 307])
def test_temporary_redirect_is_never_remembered(
    tmp_path: Path, server: LocalServer, status: int
) -> None:
    server.routes["/old.rss"] = Response(b"", status=status, headers={"Location": "/new.rss"})
    server.routes["/new.rss"] = Response(BODY)
    store, config = _setup(tmp_path, [{"id": "p", "url": server.url("/old.rss")}])
    clock = Clock(T0)
    for _ in range(3):
        _pass(config, store, clock)
        clock.now += timedelta(hours=1)
    assert len(server.requests_to("/old.rss")) == 3
    state = store.source_states()["p"]
    assert state.moved_to is None
    assert assess(config.sources[0], state, clock.now).state == "ok"


def test_changing_the_url_in_config_starts_afresh(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/old.rss"] = Response(b"", status=301, headers={"Location": "/new.rss"})
    server.routes["/new.rss"] = Response(BODY)
    store, config = _setup(tmp_path, [{"id": "p", "url": server.url("/old.rss")}])
    clock = Clock(T0)
    for _ in range(2):
        _pass(config, store, clock)
        clock.now += timedelta(hours=1)
    store.close()
    # The operator follows the advice and updates feeds.toml.
    store, config = _setup(tmp_path, [{"id": "p", "url": server.url("/new.rss")}])
    _pass(config, store, clock)
    state = store.source_states()["p"]
    assert state.url == server.url("/new.rss")
    assert (state.moved_to, state.moved_seen) == (None, 0)


# --- Retry-After holds the whole host ---


def test_retry_after_holds_every_source_on_that_host(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/a.rss"] = Response(b"slow down", status=429, headers={"Retry-After": "3600"})
    server.routes["/b.rss"] = Response(BODY)
    server.routes["/c.rss"] = Response(BODY)
    other = LocalServer()
    try:
        other.routes["/d.rss"] = Response(BODY)
        store, config = _setup(
            tmp_path,
            [
                {"id": "a", "url": server.url("/a.rss")},
                {"id": "b", "url": server.url("/b.rss")},
                {"id": "c", "url": server.url("/c.rss")},
                {"id": "d", "url": other.url("/d.rss")},
            ],
            extra="per_host = 1\nworkers = 1",
        )
        clock = Clock(T0)
        report = _pass(config, store, clock)
        by_id = {o.source_id: o for o in report.outcomes}
        assert by_id["a"].kind == "rate_limited"
        assert by_id["b"].status == by_id["c"].status == "deferred"
        assert by_id["d"].status == "ok"  # another host is not held up
        assert [r.path for r in server.requests] == ["/a.rss"]
        # Deferred is not a failure.
        states = store.source_states()
        assert states["b"].consecutive_failures == 0
        assert states["b"].next_check_at == T0 + timedelta(hours=1)
        waiting = _status(config)["hosts_waiting"]
        assert [h["origin"] for h in waiting] == [f"http://127.0.0.1:{server.port}"]
        # Before the hour is up, nothing goes to that host, even when forced.
        clock.now = T0 + timedelta(minutes=59)
        report = run_pass(config, store, clock=clock, force=True)  # type: ignore[arg-type]
        assert {o.source_id: o.status for o in report.outcomes}["b"] == "deferred"
        assert [r.path for r in server.requests] == ["/a.rss"]
        server.routes["/a.rss"] = Response(BODY)
        clock.now = T0 + timedelta(hours=1, minutes=7)
        report = _pass(config, store, clock)
        assert {o.source_id for o in report.outcomes if o.status == "ok"} >= {"a", "b", "c"}
        assert _status(config)["hosts_waiting"] == []
    finally:
        other.close()


# --- cache hints ---


@pytest.mark.parametrize(
    ("headers", "ttl", "low", "high"),
    [
        ({"Cache-Control": "max-age=7200"}, None, timedelta(hours=2), timedelta(hours=2.2)),
        # Shorter than the interval: the interval is the lower bound.
        ({"Cache-Control": "max-age=60"}, None, timedelta(minutes=30), timedelta(minutes=33)),
        # Longer than max_interval: capped.
        ({"Cache-Control": "max-age=864000"}, None, timedelta(hours=24), timedelta(hours=24)),
        ({}, 180, timedelta(hours=3), timedelta(hours=3.3)),
        ({"Cache-Control": "no-cache"}, None, timedelta(minutes=30), timedelta(minutes=33)),
    ],
)
def test_cache_hints_set_the_next_check_within_bounds(
    tmp_path: Path,
    server: LocalServer,
    headers: dict[str, str],
    ttl: int | None,
    low: timedelta,
    high: timedelta,
) -> None:
    body = BODY
    if ttl is not None:
        body = body.replace(b"<description>d</description>", f"<ttl>{ttl}</ttl>".encode())
    server.routes["/feed.rss"] = Response(body, headers=headers)
    store, config = _setup(tmp_path, [{"id": "p", "url": server.url("/feed.rss")}])
    _pass(config, store, Clock(T0))
    wait = store.source_states()["p"].next_check_at - T0  # type: ignore[operator]
    assert low <= wait <= high


def test_cache_hint_on_a_304_is_honoured_too(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/feed.rss"] = Response(BODY, headers={"Cache-Control": "max-age=14400"})
    store, config = _setup(tmp_path, [{"id": "p", "url": server.url("/feed.rss")}])
    clock = Clock(T0)
    _pass(config, store, clock)
    clock.now = T0 + timedelta(hours=5)
    assert _pass(config, store, clock).outcomes[0].status == "not_modified"
    wait = store.source_states()["p"].next_check_at - clock.now  # type: ignore[operator]
    assert timedelta(hours=4) <= wait <= timedelta(hours=4.4)


def test_skip_hours_moves_the_next_check_out_of_them() -> None:
    source = Source(id="p", name="P", url="https://x.example/", interval=timedelta(minutes=30))
    now = datetime(2026, 12, 1, 1, 50, tzinfo=UTC)
    when = next_check(source, now, skip_hours=frozenset({2, 3}), rng=random.Random(1))
    assert when == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    # Never beyond max_interval, even if every following hour is skipped.
    capped = Source(id="p", name="P", url="https://x.example/", max_interval=timedelta(hours=1))
    every = frozenset(range(24)) - {20}
    assert next_check(capped, now, skip_hours=every) <= now + timedelta(hours=1)


def test_skip_hours_are_read_from_the_feed(tmp_path: Path, server: LocalServer) -> None:
    hours = "".join(f"<hour>{h}</hour>" for h in range(8, 20))
    body = BODY.replace(b"<description>d</description>", f"<skipHours>{hours}</skipHours>".encode())
    server.routes["/feed.rss"] = Response(body)
    store, config = _setup(tmp_path, [{"id": "p", "url": server.url("/feed.rss")}])
    _pass(config, store, Clock(T0))  # 08:00 UTC: the next check falls in 08-19
    when = store.source_states()["p"].next_check_at
    assert when == datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


# --- health states ---


def test_health_states_and_status_json(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/ok.rss"] = Response(BODY)
    server.routes["/slow.rss"] = Response(BODY, delay=1.2)
    server.routes["/fail.rss"] = Response(b"oops", status=500)
    server.routes["/gone.rss"] = Response(b"", status=410)
    store, config = _setup(
        tmp_path,
        [
            {"id": "ok", "url": server.url("/ok.rss")},
            {"id": "slow", "url": server.url("/slow.rss")},
            {"id": "fail", "url": server.url("/fail.rss")},
            {"id": "gone", "url": server.url("/gone.rss")},
            {"id": "off", "url": server.url("/off.rss"), "enabled": False},
        ],
    )
    _pass(config, store, Clock(T0))
    store.close()
    # A source added to feeds.toml after the pass is "new".
    store, config = _setup(
        tmp_path,
        [
            {"id": "ok", "url": server.url("/ok.rss")},
            {"id": "slow", "url": server.url("/slow.rss")},
            {"id": "fail", "url": server.url("/fail.rss")},
            {"id": "gone", "url": server.url("/gone.rss")},
            {"id": "off", "url": server.url("/off.rss"), "enabled": False},
            {"id": "added", "url": server.url("/added.rss")},
        ],
    )
    run_cli("publish", cwd=tmp_path)
    status = _status(config)
    states = {row["id"]: row for row in status["sources"]}
    assert {k: v["state"] for k, v in states.items()} == {
        "ok": "ok",
        "slow": "slow",
        "fail": "failing",
        "gone": "gone",
        "off": "disabled",
        "added": "new",
    }
    assert status["version"] == "1"
    assert status["summary"]["sources"] == 6
    assert status["summary"]["failing"] == 1
    assert states["fail"]["last_error_kind"] == "http"
    assert states["fail"]["consecutive_failures"] == 1
    assert states["fail"]["last_http_status"] == 500
    assert states["ok"]["last_new_entry"] == "2026-12-01T08:00:00Z"
    assert states["ok"]["entries"] == 1
    assert states["slow"]["last_duration_s"] >= 1.0
    assert "410" in states["gone"]["reason"]
    table = run_cli("sources", cwd=tmp_path).stdout
    for word in ("slow", "failing", "gone", "disabled", "new"):
        assert word in table


def test_stale_source_is_flagged(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/feed.rss"] = Response(BODY)
    store, config = _setup(
        tmp_path, [{"id": "p", "url": server.url("/feed.rss"), "stale_after": "30d"}]
    )
    clock = Clock(T0)
    _pass(config, store, clock)
    assert not _status(config)["sources"][0]["stale"]
    clock.now = T0 + timedelta(days=31)
    assert _pass(config, store, clock).outcomes[0].status == "not_modified"
    row = _status(config)["sources"][0]
    assert row["stale"] is True
    assert row["state"] == "ok"
    assert "nothing new since 2026-12-01" in row["reason"]
    assert _status(config)["summary"]["stale"] == 1
    # Something new clears the flag.
    server.routes["/feed.rss"] = Response(
        rss([("g2", "https://partner.example/b", "Child labour survey")])
    )
    clock.now += timedelta(hours=1)
    _pass(config, store, clock)
    assert _status(config)["sources"][0]["stale"] is False


def test_health_of_a_source_never_checked() -> None:
    source = Source(id="p", name="P", url="https://x.example/")
    assert assess(source, None, T0).state == "new"
    state = SourceState(id="p", url="https://x.example/other", validators=Validators())
    assert assess(source, state, T0).state == "new"


# --- schema migration ---


def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE sources (
            id VARCHAR(64) PRIMARY KEY, url TEXT NOT NULL, etag TEXT, last_modified TEXT,
            last_checked_at DATETIME, last_success_at DATETIME, last_error_at DATETIME,
            last_error_kind VARCHAR(32), last_error TEXT, last_http_status INTEGER,
            last_warning TEXT, consecutive_failures INTEGER NOT NULL, next_check_at DATETIME);
        INSERT INTO sources (id, url, etag, last_checked_at, consecutive_failures)
            VALUES ('p', 'https://x.example/feed', '"v1"', '2026-11-30 10:00:00.000000', 0);
        CREATE TABLE stories (pk INTEGER PRIMARY KEY, uri TEXT NOT NULL UNIQUE,
            seed TEXT NOT NULL UNIQUE, created_at DATETIME NOT NULL);
        CREATE TABLE entries (pk INTEGER PRIMARY KEY, source_id VARCHAR(64) NOT NULL,
            key TEXT NOT NULL, guid TEXT, link TEXT, canonical_url TEXT, title TEXT NOT NULL,
            summary_html TEXT NOT NULL, content_html TEXT NOT NULL, author TEXT,
            tags TEXT NOT NULL, claimed_published DATETIME, claimed_updated DATETIME,
            published_at DATETIME NOT NULL, first_seen_at DATETIME NOT NULL,
            last_seen_at DATETIME NOT NULL, modified_at DATETIME,
            content_hash VARCHAR(64) NOT NULL, story_pk INTEGER REFERENCES stories (pk),
            CONSTRAINT uq_entries_source_key UNIQUE (source_id, key));
        """
    )
    db.commit()
    db.close()
    store = Store.open(f"sqlite:///{path}")
    assert store.schema_version() == SCHEMA_VERSION
    state = store.source_states()["p"]
    assert state.validators.etag == '"v1"'
    assert state.added_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert (state.moved_to, state.moved_seen, state.last_new_at) == (None, 0, None)
    store.hold_host("https://x.example:443", T0, "test")
    assert store.host_holds(T0 - timedelta(seconds=1)) == {"https://x.example:443": (T0, "test")}
    store.close()
    # Opening again is a no-op.
    again = Store.open(f"sqlite:///{path}")
    assert again.schema_version() == SCHEMA_VERSION
    again.close()


def test_run_refuses_loopback_without_allow_networks(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/feed.rss"] = Response(BODY)
    path = write_config(tmp_path, [{"id": "p", "url": server.url("/feed.rss")}])
    path.write_text(path.read_text().replace('allow_networks = ["127.0.0.1"]\n', ""))
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # published; the source is reported
    assert "kind=blocked" in result.stderr
    assert "127.0.0.1" in result.stderr and "allow_networks" in result.stderr
    assert server.requests == []
    row = json.loads((tmp_path / "output" / "status.json").read_text())["sources"][0]
    assert (row["state"], row["last_error_kind"]) == ("failing", "blocked")
