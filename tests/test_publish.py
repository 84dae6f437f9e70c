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
from .feedcheck import check_atom, check_jsonfeed, check_rss

PUBLIC_URL = "https://news.test.example/fl/"  # write_config's public_url


def _schemas() -> tuple[etree.RelaxNG, dict[str, Any]]:
    atom, jsonfeed = SCHEMAS / "atom.rng", SCHEMAS / "jsonfeed-1.1.schema.json"
    if not atom.exists() or not jsonfeed.exists():
        pytest.fail(
            f"the feed schemas are missing: expected {atom} and {jsonfeed}"
            " (the shared/schemas folder next to the repository)"
        )
    return etree.RelaxNG(etree.parse(str(atom))), json.loads(jsonfeed.read_text())


def assert_valid_feeds(
    folder: Path, public_url: str = PUBLIC_URL, output: Path | None = None
) -> None:
    """atom.xml, rss.xml and feed.json in `folder` are valid, parse without bozo and
    break none of the W3C Feed Validator's rules (feedcheck.py)."""
    relaxng, schema = _schemas()
    atom = etree.parse(str(folder / "atom.xml"))
    assert relaxng.validate(atom), (folder, relaxng.error_log)
    jsonschema.validate(json.loads((folder / "feed.json").read_text()), schema)
    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse((folder / name).read_bytes())
        assert not parsed.bozo, (name, parsed.get("bozo_exception"))
    relative = folder.relative_to(output or _output_of(folder)).as_posix()
    prefix = public_url + ("" if relative == "." else relative + "/")
    for name, check in (
        ("atom.xml", check_atom),
        ("rss.xml", check_rss),
        ("feed.json", check_jsonfeed),
    ):
        problems = check((folder / name).read_bytes(), prefix + name)
        assert not problems, (folder / name, problems)


def _output_of(folder: Path) -> Path:
    """The output folder a feed folder is in (tags/x/ and archive/YYYY-MM/ are two deep)."""
    if folder.parent.name in ("tags", "archive"):
        return folder.parent.parent
    return folder


def assert_valid_output(output: Path, public_url: str = PUBLIC_URL) -> int:
    """Every feed folder under `output` (main, tags, archives) is valid; returns how many."""
    folders = sorted({path.parent for path in output.rglob("atom.xml")})
    assert folders, f"no feeds in {output}"
    for folder in folders:
        assert_valid_feeds(folder, public_url, output)
    return len(folders)


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
    tags = [p for p in (out / "tags").iterdir() if (p / "atom.xml").exists()]
    assert {"un-agencies", "trade-unions"} <= {p.name for p in tags}
    assert assert_valid_output(out) == 1 + len(tags) + 2  # main, the tags, two months
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
