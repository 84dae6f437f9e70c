"""The fetch benchmark runs: a tiny smoke run, plus its server's layout and 304 rules.

No timing thresholds here (STYLE.md 11): numbers must only exist and be positive.
reader is not needed: the smoke run compares ours with the naive loop only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from benchmarks.feeds import PATTERN, generate, origin_host, origin_sizes
from benchmarks.server import FeedServer

from .conftest import REPO


def test_smoke_run_prints_a_row_per_contender_and_pass(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "benchmarks.fetch_bench", "--sources", "5", "--entries"]
    command += ["2", "--latency", "0", "--only", "ours,naive", "--workers", "2", "--json", str(out)]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0, done.stderr

    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    header, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    assert header[:6] == ["contender", "latency", "pass", "wall s", "req/s", "peak RSS MB"]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("ours", "0 ms", "cold"),
        ("ours", "0 ms", "warm"),
        ("naive", "0 ms", "cold"),
        ("naive", "0 ms", "warm"),
    ]
    for row in rows:
        wall, per_second, rss = (float(cell) for cell in row[3:6])
        # The table rounds to 0.01 s: a 5-feed warm pass may print 0.00.
        assert wall >= 0 and per_second > 0 and rss > 0, row
    assert "SKIP  ours warm pass" in done.stdout  # reader did not run: nothing to compare

    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["notes"] == []  # every feed fetched, every warm request a 304
    by_pass = {(r["contender"], r["pass_name"]): r for r in results["rows"]}
    assert by_pass["ours", "cold"]["statuses"] == {"200": 5}
    assert by_pass["ours", "warm"]["statuses"] == {"304": 5}
    assert by_pass["naive", "warm"]["statuses"] == {"304": 5}
    assert by_pass["ours", "cold"]["entries"] == 10


def test_layout_spreads_a_thousand_sources_over_150_origins() -> None:
    assert origin_sizes(1000) == PATTERN
    assert sum(origin_sizes(37)) == 37
    assert sum(origin_sizes(2500)) == 2500 and len(origin_sizes(2500)) == 150
    hosts = {origin_host(i) for i in range(150)}
    assert len(hosts) == 150 and all(h.startswith("127.") for h in hosts)


def test_server_answers_304_to_either_validator_and_counts_requests() -> None:
    feeds = generate(3, entries=2)
    with FeedServer(sorted({f.host for f in feeds})) as server:
        server.load(feeds)
        url = server.url(feeds[0])
        with requests.Session() as session:
            first = session.get(url, timeout=10)
            assert first.status_code == 200 and b"<item>" in first.content
            etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
            assert session.get(url, headers={"If-None-Match": etag}, timeout=10).status_code == 304
            since = {"If-Modified-Since": modified}
            assert session.get(url, headers=since, timeout=10).status_code == 304
            stale = {"If-None-Match": '"other"', **since}  # If-None-Match wins
            assert session.get(url, headers=stale, timeout=10).status_code == 200
            assert session.get(url + "x", timeout=10).status_code == 404
        assert server.snapshot().statuses == {200: 2, 304: 2, 404: 1}


def test_server_refuses_addresses_off_this_machine() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FeedServer(["192.0.2.1"])
