"""OPML: export and import of the source list, hostile files, and the published lists (#7, #6).

Real-world and hostile OPML files are in tests/data/opml, with what importing the
real-world one must give beside it (subscriptions.expected.json).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from lxml import etree

from aggregator import config as config_mod
from aggregator.config import Source
from aggregator.errors import ParseError
from aggregator.opmlimport import MAX_OPML_BYTES, plan_import, read_opml
from aggregator.publish.opml import NS, tag_category

from .conftest import DATA, LocalServer, Response, rss, run_cli, write_config

OPML = DATA / "opml"
HEADER = '[aggregator]\ntitle = "Empty"\npublic_url = "https://empty.example/"\n'


def _fields(source: Source) -> tuple[object, ...]:
    return (
        source.id,
        source.name,
        source.url,
        source.type,
        source.home_page,
        source.tags,
        source.html,
    )


def _sources(path: Path) -> list[Source]:
    return list(config_mod.load(path).sources)


def test_export_then_import_into_an_empty_config_gives_the_same_sources(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_config(
        src,
        [
            {
                "id": "labour-agency",
                "name": 'Labour agency — "Forced labour" & <news>',
                "url": "https://www.labour-agency.example/rss/forced-labour.xml",
                "home_page": "https://www.labour-agency.example/",
                "tags": ["UN agencies", "Côte d'Ivoire"],
            },
            {"id": "plain", "url": "https://plain.example/feed.json"},
            {
                "id": "coalition",
                "name": "Coalition news page",
                "type": "html",
                "url": "https://coalition.example/news",
                "home_page": "https://coalition.example/",
                "tags": ["NGOs"],
                "html": {
                    "item": "ul.news > li",
                    "title": "h3",
                    "link": "h3 a@href",
                    "date": ".day",
                    "date_format": "%d %B %Y",
                    "summary": "p",
                    "group": "h2.month",
                    "id": "@data-id",
                    "day_first": False,
                },
            },
            {"id": "same-host", "name": "Second feed", "url": "https://plain.example/other.rss"},
        ],
    )
    exported = run_cli("opml", "export", "partners.opml", cwd=src)
    assert exported.returncode == 0, exported.stderr
    stdout = run_cli("opml", "export", cwd=src)
    assert stdout.returncode == 0
    opml_file = src / "partners.opml"
    assert stdout.stdout.encode() == opml_file.read_bytes()

    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "feeds.toml").write_text(HEADER, encoding="utf-8")
    imported = run_cli("opml", "import", str(opml_file), cwd=dst)
    assert imported.returncode == 0, imported.stderr + imported.stdout
    assert "added 4 sources" in imported.stdout
    before, after = _sources(src / "feeds.toml"), _sources(dst / "feeds.toml")
    assert [_fields(s) for s in after] == [_fields(s) for s in before]
    # Importing again adds nothing: every source is already configured.
    again = run_cli("opml", "import", str(opml_file), cwd=dst)
    assert again.returncode == 0
    assert "nothing to add (4 already configured or repeated, 0 not usable)" in again.stdout


def test_exported_outlines_follow_opml_2(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        [
            {"id": "a", "name": "A", "url": "https://a.example/rss", "tags": ["x, y", "a/b"]},
            {
                "id": "page",
                "type": "html",
                "url": "https://b.example/news",
                "html": {"item": "li", "title": "h3", "link": "a@href"},
            },
        ],
    )
    result = run_cli("opml", "export", cwd=tmp_path)
    root = etree.fromstring(result.stdout.encode())
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "Test timeline: partner sources"
    assert root.findtext("head/ownerId") == "https://news.test.example/about"
    feed, page = root.findall("body/outline")
    assert feed.attrib["type"] == "rss" and feed.attrib["xmlUrl"] == "https://a.example/rss"
    assert feed.attrib["text"] == feed.attrib["title"] == "A"
    assert "htmlUrl" not in feed.attrib  # no home_page configured: nothing made up
    # Commas and slashes separate categories in OPML, so they cannot stay inside a tag.
    assert feed.attrib["category"] == "x y,a b" == tag_category(["x, y", "a/b"])
    assert feed.attrib[f"{{{NS}}}id"] == "a"
    # An HTML news list is not a feed: a link outline, without an xmlUrl to fail on.
    assert page.attrib["type"] == "link" and page.attrib["url"] == "https://b.example/news"
    assert "xmlUrl" not in page.attrib
    assert page.attrib[f"{{{NS}}}type"] == "html"
    assert page.attrib[f"{{{NS}}}html-item"] == "li"


def test_real_world_opml_import(tmp_path: Path) -> None:
    path = write_config(tmp_path, [{"id": "already", "url": "http://already.example/rss"}])
    original = path.read_bytes()
    expected = json.loads((OPML / "subscriptions.expected.json").read_text(encoding="utf-8"))
    result = run_cli(
        "opml", "import", str(OPML / "subscriptions.opml"), "--tag", "imported", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    # The existing configuration is a byte-for-byte prefix of the new one.
    assert path.read_bytes().startswith(original)
    added = _sources(path)[1:]
    got = [
        {
            "id": s.id,
            "name": s.name,
            "url": s.url,
            "home_page": s.home_page,
            "tags": list(s.tags),
        }
        for s in added
    ]
    assert got == expected["added"]
    for name, reason in expected["existing"]:
        assert f"exists   line {_line(name)}" in out and f'"{name}" {reason}' in out, name
    for name, reason in expected["refused"]:
        assert f'"{name}" {reason}' in out, (name, out)
        assert "refused" in _output_line(out, name)
    for note in expected["notes"]:
        assert f"note: {note}" in out
    assert "added 6 sources" in out and "(2 already configured or repeated, 5 not usable)" in out


def _line(name: str) -> int:
    lines = (OPML / "subscriptions.opml").read_text(encoding="utf-8").splitlines()
    return next(n for n, text in enumerate(lines, 1) if f'"{name}"' in text)


def _output_line(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if f'"{name}"' in line)


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    path = write_config(tmp_path, [])
    original, mtime = path.read_bytes(), path.stat().st_mtime_ns
    result = run_cli("opml", "import", str(OPML / "subscriptions.opml"), "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "dry run: would append 7 sources" in result.stdout
    assert 'id = "labour-agency-example"' in result.stdout
    assert 'tags = ["Forced labour", "NGOs", "Campaigns", "UK", "advocacy"]' in result.stdout
    assert path.read_bytes() == original and path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("name", ["xxe.opml", "billion-laughs.opml"])
def test_hostile_opml_is_refused_without_expanding_anything(tmp_path: Path, name: str) -> None:
    path = write_config(tmp_path, [])
    original = path.read_bytes()
    started = time.monotonic()
    result = run_cli("opml", "import", str(OPML / name), cwd=tmp_path, timeout=30)
    assert time.monotonic() - started < 20
    assert result.returncode == 1, result.stdout + result.stderr
    assert "declares a DOCTYPE" in result.stderr
    assert "root:" not in result.stdout + result.stderr  # /etc/passwd never read
    assert "lollol" not in result.stdout + result.stderr
    assert path.read_bytes() == original


def test_an_external_entity_never_reads_the_file_it_names(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    for encoding in ("utf-8", "utf-16"):  # the refusal reads decoded text, whatever the bytes
        data = (
            f'<?xml version="1.0" encoding="{encoding}"?>\n<!-- x -->\n'
            f'<!DOCTYPE opml [<!ENTITY s SYSTEM "{secret.as_uri()}">]>\n'
            '<opml version="2.0"><head/><body>'
            '<outline text="&s;" xmlUrl="https://s.example/"/></body></opml>'
        ).encode(encoding)
        with pytest.raises(ParseError) as info:
            read_opml(data)
        assert "DOCTYPE" in info.value.detail
        assert "TOP-SECRET" not in info.value.detail


def test_files_that_are_not_opml_are_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, [])
    cases = {
        "feed.rss": (rss([("a", "https://a.example/1", "A")]), "not an OPML file"),
        "broken.opml": (b'<opml version="2.0"><body><outline text="x"></body>', "not well-formed"),
        "empty.opml": (b"", "empty"),
        "nobody.opml": (b'<opml version="2.0"><head/></opml>', "no <body>"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        result = run_cli("opml", "import", name, cwd=tmp_path)
        assert result.returncode == 1, name
        assert message in result.stderr, (name, result.stderr)
    missing = run_cli("opml", "import", "missing.opml", cwd=tmp_path)
    assert missing.returncode == 1 and "cannot read missing.opml" in missing.stderr
    assert b"[[sources]]" not in path.read_bytes()


def test_a_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    write_config(tmp_path, [])
    huge = tmp_path / "huge.opml"
    with huge.open("wb") as handle:
        handle.write(b'<opml version="2.0"><body>')
        handle.write(b" " * MAX_OPML_BYTES)
        handle.write(b"</body></opml>")
    result = run_cli("opml", "import", str(huge), cwd=tmp_path)
    assert result.returncode == 1
    assert "larger than 10 MiB" in result.stderr


def test_a_file_that_no_longer_loads_is_restored(tmp_path: Path) -> None:
    # `sources = []` inline: TOML forbids adding [[sources]] tables after it.
    path = tmp_path / "feeds.toml"
    path.write_text("sources = []\n" + HEADER, encoding="utf-8")
    original = path.read_bytes()
    result = run_cli("opml", "import", str(OPML / "subscriptions.opml"), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "was left unchanged" in result.stderr
    assert path.read_bytes() == original


def test_outlines_that_would_not_validate_are_refused_one_by_one(tmp_path: Path) -> None:
    opml = (
        b'<opml version="2.0" xmlns:a="' + NS.encode() + b'"><body>'
        b'<outline text="Good" xmlUrl="https://good.example/rss"/>'
        b'<outline text="Bad selector" type="link" url="https://bad.example/news"'
        b' a:type="html" a:html-item="ul &gt;&gt; li" a:html-title="h3" a:html-link="a@href"/>'
        b'<outline text="No selectors" type="link" url="https://none.example/news" a:type="html"/>'
        b"</body></opml>"
    )
    plan = plan_import(read_opml(opml), [])
    assert [n.id for n in plan.added] == ["good-example"]
    reasons = {s.name: s.reason for s in plan.refused}
    assert "is not a CSS selector" in reasons["Bad selector"]
    assert reasons["No selectors"] == "an HTML source without its item, title, link selector(s)"


def test_ids_from_export_are_kept_when_free_and_renamed_when_taken() -> None:
    opml = (
        b'<opml version="2.0" xmlns:a="' + NS.encode() + b'"><body>'
        b'<outline text="One" xmlUrl="https://one.example/rss" a:id="partner"/>'
        b'<outline text="Two" xmlUrl="https://two.example/rss" a:id="taken"/>'
        b'<outline text="Three" xmlUrl="https://three.example/rss" a:id="Not Valid"/>'
        b"</body></opml>"
    )
    existing = [Source(id="taken", name="t", url="https://elsewhere.example/")]
    plan = plan_import(read_opml(opml), existing)
    assert [n.id for n in plan.added] == ["partner", "two-example", "three-example"]
    assert "id 'taken' is taken or invalid here" in plan.added[1].notes[0]


def test_opml_versions_and_unknown_ones() -> None:
    body = b'<body><outline text="A" xmlUrl="https://a.example/rss"/></body>'
    assert read_opml(b'<opml version="1.1">' + body + b"</opml>").warnings == ()
    odd = read_opml(b'<opml version="3.0">' + body + b"</opml>")
    assert odd.outlines[0].url == "https://a.example/rss"
    assert "is not 1.0, 1.1 or 2.0" in odd.warnings[0]


def test_published_opml_files_after_run(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/un.rss"] = Response(
        rss([("u1", "https://un.example/n/1", "UN agency report on forced labour in fishing")])
    )
    server.routes["/union.rss"] = Response(
        rss([("w1", "https://union.example/n/1", "Union congress demands an end to debt bondage")])
    )
    write_config(
        tmp_path,
        [
            {
                "id": "un",
                "name": "UN agency",
                "url": server.url("/un.rss"),
                "home_page": "https://un.example/",
                "tags": ["UN agencies"],
            },
            {"id": "union", "url": server.url("/union.rss"), "tags": ["Trade unions"]},
        ],
    )
    assert run_cli("run", cwd=tmp_path).returncode == 0
    out = tmp_path / "output"
    sources = etree.parse(str(out / "sources.opml")).getroot()
    outlines = sources.findall("body/outline")
    assert [
        (o.get("text"), o.get("xmlUrl"), o.get("htmlUrl"), o.get("category")) for o in outlines
    ] == [
        ("UN agency", server.url("/un.rss"), "https://un.example/", "UN agencies"),
        ("union", server.url("/union.rss"), None, "Trade unions"),
    ]
    # sources.opml is what `opml export` prints.
    assert (out / "sources.opml").read_bytes() == run_cli(
        "opml", "export", cwd=tmp_path
    ).stdout.encode()

    feeds = etree.parse(str(out / "feeds.opml")).getroot()
    assert feeds.get("version") == "2.0"
    assert feeds.findtext("head/dateModified")
    folders = feeds.findall("body/outline")
    assert [f.get("text") for f in folders] == ["Atom 1.0", "RSS 2.0", "JSON Feed 1.1"]
    base = "https://news.test.example/fl/"
    for folder, name in zip(folders, ("atom.xml", "rss.xml", "feed.json"), strict=True):
        rows = [
            (o.get("type"), o.get("xmlUrl"), o.get("htmlUrl"), o.get("category"))
            for o in folder.findall("outline")
        ]
        # The whole timeline first, then every tag (classification tags included).
        assert rows[0] == ("rss", base + name, base, None)
        assert {
            ("rss", f"{base}tags/trade-unions/{name}", f"{base}tags/trade-unions/", "Trade unions"),
            ("rss", f"{base}tags/un-agencies/{name}", f"{base}tags/un-agencies/", "UN agencies"),
        } <= set(rows[1:])
        assert len(rows) == 1 + len([p for p in (out / "tags").iterdir() if p.is_dir()])
        for _, url, _, _ in rows:  # every listed feed is published
            assert (out / url.removeprefix(base)).is_file(), url
    # Nothing in them depends on the clock: publishing again leaves them untouched.
    before = {n: (out / n).read_bytes() for n in ("sources.opml", "feeds.opml")}
    result = run_cli("publish", cwd=tmp_path)
    assert result.returncode == 0
    assert {n: (out / n).read_bytes() for n in before} == before


def test_import_reads_standard_input_and_export_reports_unwritable_files(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write_config(tmp_path, [])
    data = b'<opml version="2.0"><body><outline text="A" xmlUrl="https://a.example/rss"/></body></opml>'
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "opml", "import", "-"],
        cwd=tmp_path,
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [s.url for s in _sources(path)] == ["https://a.example/rss"]
    # A folder that cannot exist (its parent is a file), whoever runs the test.
    failed = run_cli("opml", "export", "feeds.toml/x.opml", cwd=tmp_path)
    assert failed.returncode == 1 and "cannot" in failed.stderr, failed.stderr


def test_inline_tables_and_keys_round_trip_through_tomllib() -> None:
    import tomllib

    from aggregator.configwrite import source_block

    html = {"item": 'ul > li[data-x="1"]', "title": "h3\\n", "day_first": False, "odd key": "x"}
    block = source_block([("id", "a"), ("tags", ("x", "y")), ("html", html)])
    assert tomllib.loads(block)["sources"][0] == {"id": "a", "tags": ["x", "y"], "html": html}
    assert '"odd key" = "x"' in block and "day_first = false" in block
