"""Schedules, backoff, 410 Gone and Retry-After, on the wire against 127.0.0.1 (#4).

Each test drives real passes (`run_pass`) with a controlled clock, so "no request
before Retry-After" and "backoff grows" are asserted from the server's request log.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from aggregator import config as config_mod
from aggregator.config import Source
from aggregator.fetch import retry_after_delay
from aggregator.pipeline import next_check, run_pass
from aggregator.store import Store

from .conftest import LocalServer, Response, rss, run_cli, write_config

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BODY = rss([("g1", "https://partner.example/a", "Forced labour report")])


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def _setup(tmp_path: Path, server: LocalServer, **source: object) -> tuple[Store, object]:
    path = write_config(
        tmp_path,
        [{"id": "p", "url": server.url("/feed.rss"), **source}],
        defaults='timeout = "2s"\ninterval = "30m"\nmax_interval = "24h"',
    )
    config = config_mod.load(path)
    store = Store.open(config.settings.database)
    return store, config


def test_failures_back_off_exponentially_up_to_max_interval_and_reset_on_success(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/feed.rss"] = Response(b"oops", status=500)
    store, config = _setup(tmp_path, server)
    clock = Clock(T0)
    waits = []
    for _ in range(8):
        run_pass(config, store, clock=clock)  # type: ignore[arg-type]
        state = store.source_states()["p"]
        assert state.next_check_at is not None
        waits.append(state.next_check_at - clock.now)
        # Just before the next check nothing is fetched; at it, one request goes out.
        before = len(server.requests)
        clock.now = state.next_check_at - timedelta(seconds=1)
        run_pass(config, store, clock=clock)  # type: ignore[arg-type]
        assert len(server.requests) == before
        clock.now = state.next_check_at
    hours = [w.total_seconds() / 3600 for w in waits]
    assert 0.5 <= hours[0] <= 0.55  # first failure: the interval (+ <=10 % jitter)
    assert 1.0 <= hours[1] <= 1.1
    assert 2.0 <= hours[2] <= 2.2
    assert all(later >= earlier for earlier, later in itertools.pairwise(hours))
    assert hours[-1] == 24  # capped at max_interval
    assert store.source_states()["p"].consecutive_failures == 8

    server.routes["/feed.rss"] = Response(BODY)
    run_pass(config, store, clock=clock)  # type: ignore[arg-type]
    state = store.source_states()["p"]
    assert state.consecutive_failures == 0
    assert state.next_check_at is not None
    assert timedelta(minutes=30) <= state.next_check_at - clock.now <= timedelta(minutes=33)


def test_410_gone_stops_polling_until_forced_by_name(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/feed.rss"] = Response(b"gone", status=410)
    store, config = _setup(tmp_path, server)
    clock = Clock(T0)
    report = run_pass(config, store, clock=clock)  # type: ignore[arg-type]
    assert report.failed[0].kind == "gone"
    assert "polling stopped" in report.failed[0].detail
    for days in (1, 30, 400):
        clock.now = T0 + timedelta(days=days)
        run_pass(config, store, clock=clock)  # type: ignore[arg-type]
        run_pass(config, store, clock=clock, force=True)  # type: ignore[arg-type]
    assert len(server.requests_to("/feed.rss")) == 1
    # The operator retries it explicitly; it answers again and is polled again.
    server.routes["/feed.rss"] = Response(BODY)
    report = run_pass(config, store, clock=clock, force=True, only={"p"})  # type: ignore[arg-type]
    assert report.outcomes[0].status == "ok"
    assert len(server.requests_to("/feed.rss")) == 2


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured(
    tmp_path: Path, server: LocalServer, status: int, form: str
) -> None:
    answered = datetime.now(UTC).replace(microsecond=0)
    wait = timedelta(hours=3)
    value = "10800" if form == "seconds" else format_datetime(answered + wait, usegmt=True)
    headers = {"Retry-After": value, "Date": format_datetime(answered, usegmt=True)}
    server.routes["/feed.rss"] = Response(b"slow down", status=status, headers=headers)
    store, config = _setup(tmp_path, server)
    clock = Clock(T0)
    report = run_pass(config, store, clock=clock)  # type: ignore[arg-type]
    assert report.failed[0].kind == "rate_limited"
    # The interval is 30 min and this is the first failure, but the server said 3 h.
    for minutes in (31, 90, 179):
        clock.now = T0 + timedelta(minutes=minutes)
        run_pass(config, store, clock=clock)  # type: ignore[arg-type]
    assert len(server.requests_to("/feed.rss")) == 1
    server.routes["/feed.rss"] = Response(BODY)
    clock.now = T0 + timedelta(hours=3, minutes=20)
    assert run_pass(config, store, clock=clock).outcomes[0].status == "ok"  # type: ignore[arg-type]
    assert len(server.requests_to("/feed.rss")) == 2


def test_disabled_source_is_never_fetched_and_shown_as_disabled(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/feed.rss"] = Response(BODY)
    write_config(tmp_path, [{"id": "p", "url": server.url("/feed.rss"), "enabled": False}])
    result = run_cli("run", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert server.requests == []
    table = run_cli("sources", cwd=tmp_path)
    assert "disabled" in table.stdout


def test_gone_source_shows_in_sources_table(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/feed.rss"] = Response(b"", status=410)
    write_config(tmp_path, [{"id": "p", "url": server.url("/feed.rss")}])
    assert run_cli("run", cwd=tmp_path).returncode == 0
    line = next(x for x in run_cli("sources", cwd=tmp_path).stdout.splitlines() if x[:2] == "p ")
    assert line.split()[1] == "gone"


def test_retry_after_parsing() -> None:
    date = {"Date": "Tue, 01 Dec 2026 08:00:00 GMT"}
    assert retry_after_delay("120", {}) == timedelta(seconds=120)
    assert retry_after_delay("Tue, 01 Dec 2026 09:30:00 GMT", date) == timedelta(minutes=90)
    assert retry_after_delay("Tue, 01 Dec 2026 07:00:00 GMT", date) == timedelta(0)
    assert retry_after_delay("soon", {}) is None
    assert retry_after_delay(None, {}) is None


def test_jitter_spreads_sources_within_ten_percent() -> None:
    source = Source(id="p", name="p", url="https://p.example/feed")
    rng = random.Random(7)
    checks = {next_check(source, T0, rng=rng) for _ in range(50)}
    assert len(checks) > 40  # spread, not all due at the same instant
    assert all(T0 + timedelta(minutes=30) <= c <= T0 + timedelta(minutes=33) for c in checks)
