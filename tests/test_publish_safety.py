"""The publish stage's pure helpers: the safety net, ids, archive months, the manifest (#7)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.models import Item, Provenance
from aggregator.publish.archive import months
from aggregator.publish.common import canonical_uri, entry_updated, safe_html, safe_url, text
from aggregator.publish.manifest import MANIFEST_NAME, read_manifest, remove_stale

from .feedcheck import unsafe_markup


@pytest.mark.parametrize(
    ("raw", "published"),
    [
        ("use <script> injection", "use \u2039script\u203a injection"),
        ("<img src=x onerror=alert(1)>Title", "\u2039img src=x onerror=alert(1)\u203aTitle"),
        ("wages < 300 and > 200", "wages < 300 and > 200"),
        ("a <!-- comment --> b", "a \u2039!-- comment --\u203a b"),
        ("  spaced\n\tout \x00 text\x07 ", "spaced out text"),
        ("stand-in \ue001script\ue002", "stand-in script"),
        (None, ""),
    ],
)
def test_text_cannot_be_taken_for_markup(raw: str | None, published: str) -> None:
    assert text(raw) == published


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://a.example/x", None, "https://a.example/x"),
        ("/x?y=1", "https://a.example/news/1", "https://a.example/x?y=1"),
        ("../img.png", "https://a.example/news/1", "https://a.example/img.png"),
        ("javascript:alert(1)", "https://a.example/", None),
        (" JaVaScRiPt:alert(1)", None, None),
        ("java\tscript:alert(1)", "https://a.example/", None),
        ("data:text/html;base64,PHNjcmlwdD4=", None, None),
        ("//evil.example/x", None, None),
        ("//evil.example/x", "https://a.example/", "https://evil.example/x"),
        ("relative", None, None),
        ("", "https://a.example/", None),
        ("http://[::1", None, None),
    ],
)
def test_safe_url_keeps_only_absolute_http(
    url: str, base: str | None, expected: str | None
) -> None:
    assert safe_url(url, base) == expected


def test_safe_html_leaves_nothing_executable_and_resolves_urls() -> None:
    hostile = (
        '<p onclick="x()" style="color:red">Hi <a href="/more">more</a>'
        '<a href="javascript:alert(1)">bad</a><img src="pic.png" onerror="x()"></p>'
        "<script>alert(1)</script><style>p{}</style><iframe src=//e.example></iframe>"
        '<svg onload="x()"><a xlink:href="javascript:1">s</a></svg><form action="x"></form>'
        '<a href="mailto:press@a.example">mail</a>'
    )
    cleaned = safe_html(hostile, "https://a.example/news/1")
    assert unsafe_markup(cleaned, "cleaned") == []
    assert 'href="https://a.example/more"' in cleaned
    assert 'src="https://a.example/news/pic.png"' in cleaned
    assert 'href="mailto:press@a.example"' in cleaned
    assert "alert" not in cleaned and "onclick" not in cleaned
    assert safe_html("  ", None) == ""


def test_canonical_uri_is_what_validators_call_canonical() -> None:
    assert canonical_uri("HTTPS://News.Example.ORG:443/a%2fb?q=%2f") == (
        "https://news.example.org/a%2Fb?q=%2F"
    )
    assert canonical_uri("http://x.example") == "http://x.example/"
    assert canonical_uri("http://x.example:8080/f") == "http://x.example:8080/f"
    assert canonical_uri("tag:x.example,2026:story/1") == "tag:x.example,2026:story/1"


def _item(n: int, when: datetime) -> Item:
    source = Provenance("p", "P", "https://p.example/f", None, None, when)
    return Item(
        f"tag:x,2026:story/{n}", f"t{n}", None, "", "<p>x</p>", None, when, when, (), (source,)
    )


def test_entry_updated_is_unique_per_id_and_independent_of_neighbours() -> None:
    day = datetime(2026, 11, 2, tzinfo=UTC)
    items = [_item(n, day) for n in range(40)]
    stamps = [entry_updated(i) for i in items]
    assert len(set(stamps)) > 35  # a thousand slots per second: rare collisions only
    assert all(s.replace(microsecond=0) == day for s in stamps)
    assert entry_updated(items[3]) == stamps[3]


def test_archive_months_run_from_the_first_story_to_now_without_gaps() -> None:
    items = [
        _item(1, datetime(2025, 11, 30, tzinfo=UTC)),
        _item(2, datetime(2026, 2, 1, tzinfo=UTC)),
    ]
    chain = months(items, datetime(2026, 3, 4, tzinfo=UTC))
    assert [m.key for m in chain] == ["2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]
    assert [m.closed for m in chain] == [True, True, True, True, False]
    assert [len(m.items) for m in chain] == [1, 0, 0, 1, 0]
    assert months([], datetime(2026, 3, 4, tzinfo=UTC)) == []


def test_the_manifest_never_names_a_file_outside_the_folder(tmp_path: Path) -> None:
    output = tmp_path / "output"
    (output / "tags" / "x").mkdir(parents=True)
    (output / "tags" / "x" / "atom.xml").write_text("old")
    (tmp_path / "precious.txt").write_text("keep")
    names = ["tags/x/atom.xml", "../precious.txt", "/etc/passwd", "a/../../precious.txt",
             "tags\\x", "", 3, MANIFEST_NAME, "./tags/x/atom.xml"]  # fmt: skip
    (output / MANIFEST_NAME).write_text(json.dumps({"version": "1", "files": names}))
    assert read_manifest(output) == {"tags/x/atom.xml"}
    assert remove_stale(output, read_manifest(output)) == ["tags/x/atom.xml"]
    assert not (output / "tags").exists()  # the folders it emptied went too
    assert (tmp_path / "precious.txt").read_text() == "keep"
    (output / MANIFEST_NAME).write_text("{not json")
    assert read_manifest(output) == set()
