"""Every feed under tests/data/feeds/ parsed and normalised, against the expectations beside it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.config import HtmlSelectors, Source
from aggregator.errors import ParseError
from aggregator.normalize import normalize_entry
from aggregator.parse import parse

from .conftest import FEEDS

CASES = sorted(FEEDS.glob("*.expected.json"))


def _body_for(expected: Path) -> Path:
    stem = expected.name.removesuffix(".expected.json")
    matches = [p for p in FEEDS.glob(f"{stem}.*") if not p.name.endswith(".expected.json")]
    assert len(matches) == 1, f"one body per expectation: {matches}"
    return matches[0]


def _source(spec: dict[str, object]) -> Source:
    html = spec.get("html")
    if isinstance(html, dict):
        return Source(
            id="fixture",
            name="Fixture",
            url=str(spec["base_url"]),
            type="html",
            html=HtmlSelectors(**html),
        )
    return Source(id="fixture", name="Fixture", url=str(spec["base_url"]))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def test_there_are_fixtures() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize(
    "expected_path", CASES, ids=lambda p: p.name.removesuffix(".expected.json")
)
def test_fixture(expected_path: Path) -> None:
    spec = json.loads(expected_path.read_text(encoding="utf-8"))
    body = _body_for(expected_path).read_bytes()
    source = _source(spec)
    if spec["outcome"] != "ok":
        with pytest.raises(ParseError) as info:
            parse(body, spec["content_type"], spec["base_url"], source)
        assert info.value.kind == spec["outcome"]
        assert spec["detail_contains"].lower() in info.value.detail.lower()
        return
    parsed = parse(body, spec["content_type"], spec["base_url"], source)
    if "warnings" in spec:  # each expected fragment appears; [] means "no warnings at all"
        joined = " | ".join(parsed.warnings)
        if not spec["warnings"]:
            assert parsed.warnings == ()
        for fragment in spec["warnings"]:
            assert fragment in joined, (fragment, parsed.warnings)
    entries = [normalize_entry(raw, "fixture", spec["base_url"]) for raw in parsed.entries]
    got = [
        {
            "guid": e.guid,
            "link": e.link,
            "title": e.title,
            "published": _iso(e.published),
            "author": e.author,
        }
        for e in entries
    ]
    want = [
        {k: w[k] for k in ("guid", "link", "title", "published", "author")} for w in spec["entries"]
    ]
    now = datetime.now(UTC)
    for g, w in zip(got, want, strict=False):
        if w["published"] == "FUTURE":
            assert g["published"] is not None and datetime.fromisoformat(g["published"]) > now
            w["published"] = g["published"]
    assert got == want
    for entry, w in zip(entries, spec["entries"], strict=True):
        if "canonical_url" in w:
            assert entry.canonical_url == w["canonical_url"]
    cleaned = " ".join(e.summary_html + " " + e.content_html for e in entries).lower()
    for needle in spec.get("must_not_contain", []):
        assert needle.lower() not in cleaned, needle
    for needle in spec.get("summary_contains", []):
        assert needle in " ".join(e.summary_html + e.content_html for e in entries), needle
