"""Editorial control, block rules and retention, through the CLI and real passes (#5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aggregator import config as config_mod
from aggregator.pipeline import run_pass
from aggregator.store import Store

from .conftest import LocalServer, Response, rss, run_cli, write_config

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
STORY = ("g1", "https://partner.example/news/cocoa-report", "Cocoa forced labour report")
OTHER = ("g2", "https://partner.example/news/union-congress", "Union congress on debt bondage")


def _items(tmp_path: Path) -> list[dict[str, Any]]:
    feed = json.loads((tmp_path / "output" / "feed.json").read_text(encoding="utf-8"))
    items: list[dict[str, Any]] = feed["items"]
    return items


def _network(tmp_path: Path, server: LocalServer, **extra: object) -> None:
    server.routes["/a.rss"] = Response(rss([STORY, OTHER]))
    # A second partner carrying the same story with a tracking link.
    server.routes["/b.rss"] = Response(rss([("b1", STORY[1] + "?utm_source=rss", STORY[2])]))
    write_config(
        tmp_path,
        [
            {"id": "a", "url": server.url("/a.rss"), **extra},
            {"id": "b", "url": server.url("/b.rss")},
        ],
    )


def test_hide_by_link_stays_hidden_while_listed_and_is_logged(
    tmp_path: Path, server: LocalServer
) -> None:
    _network(tmp_path, server)
    assert run_cli("run", cwd=tmp_path).returncode == 0
    assert len(_items(tmp_path)) == 2
    story_id = next(i["id"] for i in _items(tmp_path) if i["title"] == STORY[2])

    result = run_cli(
        "hide", STORY[1] + "?utm_medium=email", "--reason", "partner asked", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert story_id in result.stdout
    assert [i["title"] for i in _items(tmp_path)] == [OTHER[2]]
    # The partners still list it: a forced pass does not bring it back.
    assert run_cli("run", "--force", cwd=tmp_path).returncode == 0
    assert [i["title"] for i in _items(tmp_path)] == [OTHER[2]]
    assert "already hidden" in run_cli("hide", story_id, "--reason", "x", cwd=tmp_path).stdout

    listed = run_cli("hidden", cwd=tmp_path).stdout
    assert story_id in listed and "partner asked" in listed and "hide" in listed

    result = run_cli("unhide", story_id, "--reason", "cleared by editor", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(_items(tmp_path)) == 2
    assert run_cli("hidden", cwd=tmp_path).stdout.strip() == "no hidden stories"
    log = run_cli("hidden", "--all", cwd=tmp_path).stdout
    assert log.index("partner asked") < log.index("cleared by editor")
    assert "unhide" in log


def test_hide_errors_are_clear(tmp_path: Path, server: LocalServer) -> None:
    _network(tmp_path, server)
    run_cli("run", cwd=tmp_path)
    missing = run_cli("hide", "https://nowhere.example/x", "--reason", "r", cwd=tmp_path)
    assert missing.returncode == 1
    assert "no story with id or link" in missing.stderr
    empty = run_cli("hide", STORY[1], "--reason", "  ", cwd=tmp_path)
    assert empty.returncode == 2
    assert "--reason" in empty.stderr
    assert "Traceback" not in missing.stderr + empty.stderr


def test_block_rules_drop_entries_globally_and_per_source(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/a.rss"] = Response(
        rss(
            [
                STORY,
                ("g3", "https://partner.example/jobs/officer", "Vacancy: programme officer"),
                ("g4", "https://partner.example/news/gala", "Annual gala dinner on forced labour"),
            ]
        )
    )
    write_config(
        tmp_path,
        [{"id": "a", "url": server.url("/a.rss"), "block_titles": ["gala"]}],
        extra='block_urls = ["/jobs/"]',
    )
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 blocked by rules" in result.stdout
    assert [i["title"] for i in _items(tmp_path)] == [STORY[2]]


def test_retention_tombstones_old_stories_and_never_resurrects_them(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/a.rss"] = Response(rss([STORY]))
    path = write_config(
        tmp_path, [{"id": "a", "url": server.url("/a.rss")}], extra='retention = "30d"'
    )
    config = config_mod.load(path)
    store = Store.open(config.settings.database)
    clock = _Clock(T0)
    run_pass(config, store, clock=clock)  # type: ignore[arg-type]
    assert len(_items(tmp_path)) == 1
    story_id = _items(tmp_path)[0]["id"]
    # The partner drops it from its feed; 40 days later it leaves the working set.
    server.routes["/a.rss"] = Response(rss([OTHER]))
    clock.now = T0 + timedelta(days=40)
    run_pass(config, store, clock=clock, force=True)  # type: ignore[arg-type]
    assert [i["title"] for i in _items(tmp_path)] == [OTHER[2]]
    ref = store.find_story(story_id, None)
    assert ref is not None and ref.pruned and ref.title == STORY[2]
    # It reappears in the feed: it stays a tombstone, no new story is minted.
    server.routes["/a.rss"] = Response(rss([STORY, OTHER]))
    clock.now += timedelta(hours=1)
    run_pass(config, store, clock=clock, force=True)  # type: ignore[arg-type]
    assert [i["title"] for i in _items(tmp_path)] == [OTHER[2]]
    store.close()


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
