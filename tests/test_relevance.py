"""Relevance, classification tags and per-tag feeds through the real pipeline (#6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .conftest import LocalServer, Response, rss, run_cli, write_config

ON_TOPIC = ("g1", "https://hr.example/n/1", "Brick kiln workers held in debt bondage in Nepal")
OFF_TOPIC = ("g2", "https://hr.example/n/2", "Labour market reforms debated in parliament")
CHILD = ("g3", "https://hr.example/n/3", "Travail des enfants : une nouvelle loi au Bénin")


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _titles(path: Path) -> list[str]:
    return sorted(i["title"] for i in _json(path)["items"])


def test_topic_filter_keeps_relevant_items_tags_them_and_explains_why(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/hr.rss"] = Response(rss([ON_TOPIC, OFF_TOPIC, CHILD]))
    server.routes["/fl.rss"] = Response(
        rss([("f1", "https://fl.example/n/1", "Annual general meeting of our members")])
    )
    write_config(
        tmp_path,
        [
            {"id": "hr", "url": server.url("/hr.rss"), "filter": "topic"},
            {"id": "fl", "url": server.url("/fl.rss"), "filter": "all"},
        ],
    )
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "output"
    # The general source loses its off-topic item; the dedicated one keeps everything.
    assert _titles(out / "feed.json") == sorted(
        [ON_TOPIC[2], CHILD[2], "Annual general meeting of our members"]
    )
    # Per-tag feeds hold exactly the items with that tag.
    assert _titles(out / "tags" / "child-labour" / "feed.json") == [CHILD[2]]
    assert _titles(out / "tags" / "fr" / "feed.json") == [CHILD[2]]
    assert _titles(out / "tags" / "country-np" / "feed.json") == [ON_TOPIC[2]]
    assert _titles(out / "tags" / "country-bj" / "feed.json") == [CHILD[2]]
    assert ON_TOPIC[2] in _titles(out / "tags" / "forced-labour" / "feed.json")
    assert _json(out / "tags" / "fr" / "feed.json")["title"] == "Test timeline: Français"
    feed = {i["title"]: i for i in _json(out / "feed.json")["items"]}
    assert feed[CHILD[2]]["language"] == "fr"
    assert {"child-labour", "fr", "country-bj"} <= set(feed[CHILD[2]]["tags"])
    # digest.json says why each item was kept.
    digest = {i["title"]: i for day in _json(out / "digest.json")["days"] for i in day["items"]}
    why = digest[ON_TOPIC[2]]["relevance"]
    assert why["countries"] == ["NP"]
    assert any(m["term"] == "debt bondage" and m["field"] == "title" for m in why["matches"])
    # explain shows the same, for an operator.
    explained = run_cli("explain", ON_TOPIC[1], cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert "'debt bondage' in title" in explained.stdout
    assert "filter = 'topic'" in explained.stdout
    assert "country-np" in explained.stdout
    missing = run_cli("explain", OFF_TOPIC[1], cwd=tmp_path)
    assert missing.returncode == 1 and "no story" in missing.stderr


def test_tag_feeds_can_be_limited_to_a_list(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/hr.rss"] = Response(rss([ON_TOPIC, CHILD]))
    write_config(
        tmp_path,
        [{"id": "hr", "url": server.url("/hr.rss")}],
        extra='tag_feeds = ["child-labour"]',
    )
    assert run_cli("run", cwd=tmp_path).returncode == 0
    folders = sorted(p.name for p in (tmp_path / "output" / "tags").iterdir() if p.is_dir())
    assert folders == ["child-labour"]
