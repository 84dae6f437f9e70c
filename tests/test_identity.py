"""Entry identity within a source: GUID churn detected, ids stable (#5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .conftest import LocalServer, Response, rss, run_cli, write_config

LINK = "https://partner.example/news/brick-kilns"
TITLE = "Debt bondage in brick kilns: new survey"


def _feed(tmp_path: Path) -> list[dict[str, Any]]:
    doc = json.loads((tmp_path / "output" / "feed.json").read_text(encoding="utf-8"))
    items: list[dict[str, Any]] = doc["items"]
    return items


def test_churning_guids_are_detected_and_the_source_switches_to_links(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/a.rss"] = Response(rss([("id-1", LINK, TITLE)]))
    write_config(tmp_path, [{"id": "a", "url": server.url("/a.rss")}])
    assert run_cli("run", cwd=tmp_path).returncode == 0
    first = _feed(tmp_path)
    # The partner's CMS regenerates GUIDs on every render.
    logs = []
    for guid in ("id-2", "id-3"):
        server.routes["/a.rss"] = Response(rss([(guid, LINK, TITLE)]))
        result = run_cli("run", "--force", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "0 new and 0 updated entries" in result.stdout
        logs.append(result.stderr)
    assert "came back under new ids with the same link" in logs[0]
    assert "identified by link" in logs[0]
    assert "came back under new ids" not in logs[1]  # switched: matched by link now
    assert _feed(tmp_path) == first


def test_entries_sharing_a_link_in_one_fetch_stay_separate(
    tmp_path: Path, server: LocalServer
) -> None:
    # Some partners link every item to their news page: that is not churn.
    page = "https://partner.example/news/"
    server.routes["/a.rss"] = Response(
        rss([("n1", page, "Forced labour hearing opens"), ("n2", page, "Child labour law passed")])
    )
    write_config(tmp_path, [{"id": "a", "url": server.url("/a.rss")}])
    assert "2 new" in run_cli("run", cwd=tmp_path).stdout
    assert "0 new and 0 updated" in run_cli("run", "--force", cwd=tmp_path).stdout
    titles = sorted(i["title"] for i in _feed(tmp_path))
    assert titles == ["Child labour law passed", "Forced labour hearing opens"]


def test_an_edited_title_updates_the_item_and_never_duplicates_it(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/a.rss"] = Response(rss([("id-1", LINK, TITLE)]))
    write_config(tmp_path, [{"id": "a", "url": server.url("/a.rss")}])
    run_cli("run", cwd=tmp_path)
    before = _feed(tmp_path)[0]
    server.routes["/a.rss"] = Response(rss([("id-1", LINK, TITLE + " (updated)")]))
    result = run_cli("run", "--force", cwd=tmp_path)
    assert "0 new and 1 updated entries" in result.stdout
    items = _feed(tmp_path)
    assert len(items) == 1
    assert items[0]["id"] == before["id"]
    assert items[0]["title"] == TITLE + " (updated)"
    assert items[0]["date_modified"] > before.get("date_modified", before["date_published"])
