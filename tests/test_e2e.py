"""End to end: the CLI as a user runs it, against a real local server and a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser

from .conftest import LocalServer, Response, feed_bytes, rss, run_cli, write_config
from .test_publish import assert_valid_output

OUTPUTS = ("atom.xml", "rss.xml", "feed.json", "digest.json")


def _network(server: LocalServer) -> list[dict[str, object]]:
    original = server.url("/alliance/news/protocol")
    server.routes["/alliance.rss"] = Response(
        rss(
            [
                ("a1", original, "Protocol ratified"),
                ("a2", server.url("/alliance/news/kilns"), "Brick kilns"),
            ]
        )
    )
    server.routes["/union.rss"] = Response(
        rss([("u1", original + "?utm_source=union&amp;fbclid=x1", "Protocol gains ratifications")])
    )
    server.routes["/broken.xml"] = Response(feed_bytes("malformed_mismatched.xml"))
    server.routes["/error.xml"] = Response(feed_bytes("html_error_page.xml"))
    server.routes["/empty.xml"] = Response(b"")
    server.routes["/slow.xml"] = Response(b"<rss/>", delay=10)
    server.routes["/big.xml"] = Response(b"<rss>" + b" " * 5000 + b"</rss>")
    return [
        {
            "id": "alliance",
            "name": "Alliance",
            "url": server.url("/alliance.rss"),
            "home_page": server.url("/alliance/"),
        },
        {
            "id": "union",
            "name": "Union",
            "url": server.url("/union.rss"),
            "home_page": "https://union.example/",
        },
        {"id": "broken", "url": server.url("/broken.xml")},
        {"id": "error-page", "url": server.url("/error.xml")},
        {"id": "empty", "url": server.url("/empty.xml")},
        {"id": "slow", "url": server.url("/slow.xml"), "timeout": "1s"},
        {"id": "big", "url": server.url("/big.xml"), "max_bytes": "1KiB"},
        {"id": "gone", "url": server.url("/gone.xml")},
    ]


def _outputs(tmp_path: Path) -> dict[str, bytes]:
    return {name: (tmp_path / "output" / name).read_bytes() for name in OUTPUTS}


def test_run_twice_merges_reports_failures_and_is_stable(
    server: LocalServer, tmp_path: Path
) -> None:
    write_config(tmp_path, _network(server))
    first = run_cli("run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "8 sources checked: 2 ok" in first.stdout
    for sid, reason in [
        ("broken", "malformed: not well-formed XML at line 7"),
        ("error-page", "not_a_feed: the body is an HTML page"),
        ("empty", "empty: empty body"),
        ("slow", "timeout"),
        ("big", "too_large"),
        ("gone", "http: HTTP 404 Not Found"),
    ]:
        assert f"failed {sid}: {reason}" in first.stdout, first.stdout
    before = _outputs(tmp_path)

    feed = json.loads(before["feed.json"])
    assert len(feed["items"]) == 2  # three entries, one story carried twice
    merged = next(i for i in feed["items"] if len(i["_aggregator"]["sources"]) == 2)
    assert [s["id"] for s in merged["_aggregator"]["sources"]] == ["alliance", "union"]
    assert merged["url"] == server.url("/alliance/news/protocol")
    assert merged["id"].startswith("tag:news.test.example,2026:story/")
    digest = json.loads(before["digest.json"])
    assert digest["item_count"] == 2
    assert sum(len(day["items"]) for day in digest["days"]) == 2
    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse(before[name])
        assert not parsed.bozo, name
        assert len(parsed.entries) == 2
        assert {e.id for e in parsed.entries} == {i["id"] for i in feed["items"]}
    atom = before["atom.xml"].decode()
    assert 'rel="via"' in atom and "<source>" in atom

    requests_before = len(server.requests)
    second = run_cli("run", "--force", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "(2 not modified)" in second.stdout
    conditional = [
        r for r in server.requests[requests_before:] if r.path in ("/alliance.rss", "/union.rss")
    ]
    assert len(conditional) == 2
    assert all("if-none-match" in r.headers for r in conditional)
    assert _outputs(tmp_path) == before  # byte for byte
    # Only status.json changes: it records when each source was last checked.
    published = [p for p in (tmp_path / "output").rglob("*") if p.is_file() and p.name[0] != "."]
    assert f"1 files written, {len(published) - 1} unchanged" in second.stdout

    sources = run_cli("sources", cwd=tmp_path)
    assert sources.returncode == 0
    assert "HTTP 404" in sources.stdout and "alliance" in sources.stdout


def test_not_due_sources_are_not_fetched(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/a.rss"] = Response(rss([("a1", "https://p.example/1", "Child labour")]))
    write_config(tmp_path, [{"id": "a", "url": server.url("/a.rss")}])
    assert run_cli("run", cwd=tmp_path).returncode == 0
    count = len(server.requests)
    again = run_cli("run", cwd=tmp_path)
    assert again.returncode == 0
    assert len(server.requests) == count
    assert "1 not due" in again.stdout


def test_bad_config_exits_2_lists_everything_and_touches_nothing(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        [
            {"id": "a", "url": "ftp://x"},
            {"id": "a", "url": "https://ok.example/feed", "intervl": "5m"},
            {"id": "h", "url": "https://ok.example/news", "type": "html"},
        ],
        defaults='interval = "often"\nmax_bytes = "lots"',
    )
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 2
    for needle in [
        "sources[0] (a).url",
        "duplicate source id 'a'",
        "intervl: unknown key (fix: did you mean interval?)",
        "an HTML source needs selectors",
        "defaults.interval",
        "defaults.max_bytes",
    ]:
        assert needle in result.stderr, needle
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "output").exists()
    assert run_cli("check", cwd=tmp_path).returncode == 2
    assert path.exists()


def test_publish_rebuilds_from_the_store(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/a.rss"] = Response(rss([("a1", "https://p.example/1", "Trafficking case")]))
    write_config(tmp_path, [{"id": "a", "url": server.url("/a.rss")}])
    assert run_cli("run", cwd=tmp_path).returncode == 0
    (tmp_path / "output" / "feed.json").unlink()
    result = run_cli("publish", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        json.loads((tmp_path / "output" / "feed.json").read_bytes())["items"][0]["title"]
        == "Trafficking case"
    )


def test_demo_runs_offline(tmp_path: Path) -> None:
    result = run_cli("demo", "--port", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "failed sample-broken: malformed" in result.stdout
    assert "failed gone-partner: http: HTTP 404" in result.stdout
    feed = json.loads((tmp_path / "output" / "feed.json").read_bytes())
    assert any(len(i["_aggregator"]["sources"]) > 1 for i in feed["items"])
    text = (tmp_path / "output" / "feed.json").read_text()
    assert "<script" not in text and "javascript:" not in text
    # Every feed of the sample network (main, tags, months) passes the validator's rules.
    assert assert_valid_output(tmp_path / "output", feed["home_page_url"]) > 3
    # The HTML partner prints only "Thursday 26" under "November 2026" (html.group).
    (solar,) = [i for i in feed["items"] if i["url"].endswith("/solar-risk-assessment")]
    assert solar["date_published"].startswith("2026-11-26T00:00:00")


def test_help_for_every_command_has_an_example(tmp_path: Path) -> None:
    for command in ("run", "schedule", "demo", "check", "sources", "publish", "add"):
        result = run_cli(command, "--help", cwd=tmp_path)
        assert result.returncode == 0
        assert "Example" in result.stdout, command


def test_run_while_locked_exits_75_and_touches_nothing(server: LocalServer, tmp_path: Path) -> None:
    from aggregator.config import load
    from aggregator.store import Store

    server.routes["/a.rss"] = Response(rss([("a1", "https://p.example/1", "Debt bondage")]))
    path = write_config(tmp_path, [{"id": "a", "url": server.url("/a.rss")}])
    store = Store.open(load(path).settings.database)
    try:
        with store.lock():
            result = run_cli("run", cwd=tmp_path)
    finally:
        store.close()
    assert result.returncode == 75
    assert "another aggregator process" in result.stderr
    assert server.requests == []
    assert run_cli("run", cwd=tmp_path).returncode == 0  # the lock is gone with its holder


def test_schedule_runs_passes_and_stops_on_sigterm(server: LocalServer, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from .conftest import wait_for

    server.routes["/a.rss"] = Response(rss([("a1", "https://p.example/1", "Forced labour")]))
    write_config(
        tmp_path, [{"id": "a", "url": server.url("/a.rss")}], extra='schedule_interval = "1s"'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "-v", "schedule"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: (tmp_path / "output" / "feed.json").exists())
        # The source is not due again for 30 minutes: later passes must not fetch it.
        assert wait_for(lambda: False, timeout=2.5) is False
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "service stopped" in stderr
    assert len(server.requests_to("/a.rss")) == 1
