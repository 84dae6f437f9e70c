"""Published feeds: per-tag feeds hold exactly their items; every feed is valid (#6, #7).

Atom is checked against RFC 4287's RELAX NG schema and JSON Feed against the JSON
Feed 1.1 schema, both read from ../shared/schemas (CI has that folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import pytest
from lxml import etree

from .conftest import SCHEMAS, LocalServer, Response, rss, run_cli, write_config


def _schemas() -> tuple[etree.RelaxNG, dict[str, Any]]:
    atom, jsonfeed = SCHEMAS / "atom.rng", SCHEMAS / "jsonfeed-1.1.schema.json"
    if not atom.exists() or not jsonfeed.exists():
        pytest.fail(
            f"the feed schemas are missing: expected {atom} and {jsonfeed}"
            " (the shared/schemas folder next to the repository)"
        )
    return etree.RelaxNG(etree.parse(str(atom))), json.loads(jsonfeed.read_text())


def assert_valid_feeds(folder: Path) -> None:
    """atom.xml, rss.xml and feed.json in `folder` are valid and parse without bozo."""
    relaxng, schema = _schemas()
    atom = etree.parse(str(folder / "atom.xml"))
    assert relaxng.validate(atom), relaxng.error_log
    jsonschema.validate(json.loads((folder / "feed.json").read_text()), schema)
    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse((folder / name).read_bytes())
        assert not parsed.bozo, (name, parsed.get("bozo_exception"))


def test_per_tag_feeds_hold_exactly_the_tagged_items(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/un.rss"] = Response(
        rss([("u1", "https://un.example/n/1", "UN agency report on forced labour in fishing")])
    )
    server.routes["/union.rss"] = Response(
        rss([("w1", "https://union.example/n/1", "Union congress demands an end to debt bondage")])
    )
    write_config(
        tmp_path,
        [
            {"id": "un", "url": server.url("/un.rss"), "tags": ["UN agencies"]},
            {"id": "union", "url": server.url("/union.rss"), "tags": ["Trade unions"]},
        ],
    )
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "output"
    assert_valid_feeds(out)
    for slug, label, title in (
        ("un-agencies", "UN agencies", "UN agency report on forced labour in fishing"),
        ("trade-unions", "Trade unions", "Union congress demands an end to debt bondage"),
    ):
        folder = out / "tags" / slug
        assert_valid_feeds(folder)
        feed = json.loads((folder / "feed.json").read_text())
        assert [i["title"] for i in feed["items"]] == [title]
        assert feed["feed_url"].endswith(f"/tags/{slug}/feed.json")
        atom = feedparser.parse((folder / "atom.xml").read_bytes())
        assert atom.feed.title == f"Test timeline: {label}"
        assert [e.title for e in atom.entries] == [title]
