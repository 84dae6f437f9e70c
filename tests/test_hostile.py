"""Hostile partner content through the whole pipeline: nothing executable is published (#7).

The corpus (tests/data/hostile/README.md) is served by a local server to `aggregator
run`, under hostile partner names and tags from feeds.toml. Then every XML and JSON
file in output/ is parsed and every element, attribute, URL and text field checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lxml import etree

from .conftest import DATA, FEEDS, LocalServer, Response, run_cli, write_config
from .feedcheck import MARKUP_IN_TEXT, UNSAFE_ELEMENTS, _is_http, unsafe_markup
from .test_publish import assert_valid_output

HOSTILE = DATA / "hostile"
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
URL_KEYS = frozenset({"current", "prev_archive", "next_archive"})
HOSTILE_NAME = '<script>alert("name")</script>Watch <img src=x onerror=alert(1)>'


def _html_holder(element: etree._Element) -> bool:
    """Elements whose text is HTML: Atom type="html" constructs, RSS descriptions."""
    if element.tag in (ATOM + "content", ATOM + "summary", ATOM + "title", ATOM + "subtitle"):
        return element.get("type") == "html"
    return element.tag in ("description", CONTENT + "encoded")


def _xml_problems(path: Path) -> list[str]:
    problems: list[str] = []
    root = etree.parse(str(path)).getroot()
    for element in root.iter():
        if not isinstance(element.tag, str):
            problems.append(f"{path}: comment or processing instruction {element!r}")
            continue
        local = etree.QName(element).localname.lower()
        # Atom and RSS have <link> elements of their own (URLs, checked below).
        if local in UNSAFE_ELEMENTS and element.tag not in (ATOM + "link", "link"):
            problems.append(f"{path}: element {element.tag}")
        for name, value in element.attrib.items():
            attribute = etree.QName(name).localname.lower()
            if attribute.startswith("on") or attribute == "style":
                problems.append(f"{path}: attribute {name} on {element.tag}")
            if attribute in ("href", "src", "url", "uri", "base") and not _is_http(value):
                problems.append(f"{path}: {name}={value!r} on {element.tag}")
        url_text = local in ("uri", "link", "icon", "logo", "docs") and element.tag != ATOM + "link"
        if url_text and not _is_http(element.text):
            problems.append(f"{path}: URL {element.text!r} in {element.tag}")
        value = element.text or ""
        if _html_holder(element):
            problems += unsafe_markup(value, f"{path}: {element.tag}")
        elif MARKUP_IN_TEXT.search(value):
            problems.append(f"{path}: markup in the text of {element.tag}: {value!r}")
    return problems


def _json_problems(path: Path, value: Any, key: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _json_problems(path, v, k)]
    if isinstance(value, list):
        return [p for v in value for p in _json_problems(path, v, key)]
    if not isinstance(value, str):
        return []
    if key.endswith("url") or key in URL_KEYS:
        return [] if _is_http(value) else [f"{path}: {key}={value!r}"]
    if key == "content_html":
        return unsafe_markup(value, f"{path}: content_html")
    if MARKUP_IN_TEXT.search(value):
        return [f"{path}: markup in {key}: {value!r}"]
    return []


def test_nothing_executable_survives_in_any_output(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/bulletin.rss"] = Response(FEEDS.joinpath("hostile_content.xml").read_bytes())
    server.routes["/watch.atom"] = Response(
        HOSTILE.joinpath("atom.xml").read_bytes(), content_type="application/atom+xml"
    )
    server.routes["/feed.json"] = Response(
        HOSTILE.joinpath("feed.json").read_bytes(), content_type="application/feed+json"
    )
    write_config(
        tmp_path,
        [
            {
                "id": "bulletin",
                "name": HOSTILE_NAME,
                "url": server.url("/bulletin.rss"),
                "tags": ['<b onclick="alert(1)">Migrants</b>'],
            },
            {"id": "watch", "name": "Watch <i>", "url": server.url("/watch.atom")},
            {"id": "json", "name": "Bulletin & <co>", "url": server.url("/feed.json")},
        ],
        extra='subtitle = "<script>alert(\\"subtitle\\")</script>News"',
    )
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 ok" in result.stdout, result.stdout
    output = tmp_path / "output"
    problems: list[str] = []
    checked = 0
    for path in sorted(output.rglob("*")):
        if path.suffix == ".xml":
            problems += _xml_problems(path)
        elif path.suffix == ".json":
            problems += _json_problems(path, json.loads(path.read_text(encoding="utf-8")))
        else:
            continue
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 15  # main, tag and monthly feeds, digest, status, manifest
    assert assert_valid_output(output) >= 3

    # The benign parts made it through, so the checks above looked at real content.
    feed = json.loads((output / "feed.json").read_text(encoding="utf-8"))
    titles = " | ".join(item["title"] for item in feed["items"])
    assert "Trafficking ring dismantled" in titles and "brick kilns" in titles
    assert "use \u2039script\u203a injection" in titles  # the RSS title's literal <script>
    bodies = " ".join(item["content_html"] for item in feed["items"])
    assert "Police freed 40 workers." in bodies and "Report suspicious recruiters" in bodies
    # Relative URLs were resolved (against the partner document: these items have no link).
    assert f'href="{server.url("/relative")}"' in bodies
    assert f'href="{server.url("/relative/page")}"' in bodies
    names = {s["name"] for item in feed["items"] for s in item["_aggregator"]["sources"]}
    assert HOSTILE_NAME.replace("<", "\u2039").replace(">", "\u203a") in names
    status = json.loads((output / "status.json").read_text(encoding="utf-8"))
    assert all("<" not in source["name"] for source in status["sources"])
