"""Monthly archives (RFC 5005), the output manifest and WebSub pings, through real passes (#7).

Passes run in-process with a fake clock against a real local server and a real
SQLite store; the walk reads only the published files, as a subscriber would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

from lxml import etree

from aggregator import config as config_mod
from aggregator.config import Config
from aggregator.pipeline import run_pass
from aggregator.store import Store

from .conftest import LocalServer, Response, run_cli, write_config
from .test_publish import PUBLIC_URL, assert_valid_output

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"


def _rss(items: list[tuple[str, str, str]]) -> bytes:
    """RSS from (guid, title, RFC 822 date) triples."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid>"
        f"<link>https://partner.example/news/{guid}</link><title>{title}</title>"
        f"<description>About forced labour: {title}</description>"
        f"<pubDate>{date}</pubDate></item>"
        for guid, title, date in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>P</title>"
        f"<link>https://partner.example/</link><description>d</description>{body}"
        "</channel></rss>"
    ).encode()


OLD = [
    ("s1", "September report on debt bondage in kilns", "Tue, 15 Sep 2026 10:00:00 +0000"),
    ("o1", "October survey of cocoa farm labour", "Thu, 01 Oct 2026 10:00:00 +0000"),
    ("o2", "October court ruling on trafficking", "Fri, 30 Oct 2026 10:00:00 +0000"),
]
NOVEMBER = [("n1", "November protocol ratification", "Mon, 02 Nov 2026 10:00:00 +0000")]
JANUARY = [("j1", "January helpline for migrant workers", "Mon, 04 Jan 2027 10:00:00 +0000")]
FEBRUARY = [("f1", "February fishing fleet inspection", "Mon, 01 Feb 2027 10:00:00 +0000")]


def _config(tmp_path: Path, server: LocalServer, extra: str = "") -> Config:
    write_config(
        tmp_path,
        [{"id": "partner", "name": "Partner", "url": server.url("/feed.rss"), "tags": ["NGO"]}],
        extra='retention = "30d"\n' + extra,
    )
    return config_mod.load(tmp_path / "feeds.toml")


def _pass(config: Config, store: Store, when: datetime) -> None:
    report = run_pass(config, store, clock=lambda: when, force=True)
    assert report.publish is not None, report.publish_error


def _file(output: Path, url: str) -> Path:
    assert url.startswith(PUBLIC_URL), url
    return output / url[len(PUBLIC_URL) :]


def walk_atom(output: Path) -> list[list[str]]:
    """Follow prev-archive from the main feed to the first archive: ids per document."""
    documents, seen = [], set()
    url: str | None = PUBLIC_URL + "atom.xml"
    while url is not None:
        assert url not in seen, f"prev-archive loop at {url}"
        seen.add(url)
        root = etree.parse(str(_file(output, url))).getroot()
        documents.append([e.findtext(ATOM + "id") or "" for e in root.iter(ATOM + "entry")])
        prev = root.find(f"{ATOM}link[@rel='prev-archive']")
        url = prev.get("href") if prev is not None else None
    return documents


def _titles(output: Path, relative: str) -> list[str]:
    feed = json.loads((output / relative).read_text(encoding="utf-8"))
    return [item["title"] for item in feed["items"]]


def test_walking_back_reaches_every_story_ever_published_and_no_hidden_one(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/feed.rss"] = Response(_rss(OLD + NOVEMBER))
    config = _config(tmp_path, server)
    store = Store.open(config.settings.database)
    output = config.settings.output_dir
    try:
        _pass(config, store, datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
        hidden = store.find_story("https://partner.example/news/o2", None)
        assert hidden is not None
        store.set_hidden(hidden.uri, True, "editor: duplicate", datetime(2026, 12, 2, tzinfo=UTC))
        # Mid-January the partner lists only the new story: the autumn ones are
        # older than the 30-day retention and leave the working set (pruned).
        server.routes["/feed.rss"] = Response(_rss(JANUARY))
        _pass(config, store, datetime(2027, 1, 15, 8, 0, tzinfo=UTC))
        pruned = store.find_story("https://partner.example/news/s1", None)
        assert pruned is not None and pruned.pruned
    finally:
        store.close()

    main = _titles(output, "feed.json")
    assert main == ["January helpline for migrant workers"]  # pruned stories left the feed
    documents = walk_atom(output)
    # main feed, then 2027-01 (open), 2026-12 (empty), 2026-11, 2026-10, 2026-09.
    assert len(documents) == 6
    walked = {entry for document in documents for entry in document}
    assert len(walked) == 4  # s1, o1, n1, j1 (j1 is in the main feed too); o2 is hidden
    assert hidden.uri not in walked
    assert pruned.uri in walked
    assert [d for d in documents[-1]] == [pruned.uri]  # the first story ever is at the end
    first = etree.parse(str(output / "archive/2026-09/atom.xml")).getroot()
    assert first.find(f"{ATOM}link[@rel='prev-archive']") is None
    assert first.find(FH + "archive") is not None
    current = etree.parse(str(output / "archive/2027-01/atom.xml")).getroot()
    assert current.find(FH + "archive") is None  # the open month is not final
    assert current.find(f"{ATOM}link[@rel='next-archive']") is None
    assert _titles(output, "archive/2026-10/feed.json") == ["October survey of cocoa farm labour"]
    # RSS and JSON Feed carry the same chain.
    rss = etree.parse(str(output / "archive/2026-10/rss.xml")).getroot()
    assert rss.find(f"channel/{FH}archive") is not None
    links = {link.get("rel"): link.get("href") for link in rss.iterfind(f"channel/{ATOM}link")}
    assert links["prev-archive"] == PUBLIC_URL + "archive/2026-09/rss.xml"
    assert links["next-archive"] == PUBLIC_URL + "archive/2026-11/rss.xml"
    assert links["current"] == PUBLIC_URL + "rss.xml"
    october = json.loads((output / "archive/2026-10/feed.json").read_text())
    assert october["_aggregator"] == {
        "month": "2026-10",
        "archive": True,
        "current": PUBLIC_URL + "feed.json",
        "prev_archive": PUBLIC_URL + "archive/2026-09/feed.json",
        "next_archive": PUBLIC_URL + "archive/2026-11/feed.json",
    }
    assert october["next_url"] == PUBLIC_URL + "archive/2026-09/feed.json"
    assert json.loads((output / "feed.json").read_text())["next_url"] == (
        PUBLIC_URL + "archive/2027-01/feed.json"
    )
    tag_folders = [p for p in (output / "tags").iterdir() if (p / "atom.xml").exists()]
    assert assert_valid_output(output) == 1 + len(tag_folders) + 5  # main, tags, five months


def test_closed_months_keep_their_bytes_and_the_open_month_closes_once(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/feed.rss"] = Response(_rss(OLD + NOVEMBER))
    config = _config(tmp_path, server)
    store = Store.open(config.settings.database)
    output = config.settings.output_dir
    try:
        _pass(config, store, datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
        october = {
            n: (output / "archive/2026-10" / n).read_bytes()
            for n in ("atom.xml", "rss.xml", "feed.json")
        }
        november = (output / "archive/2026-11/atom.xml").read_bytes()
        assert b"fh:archive" not in november
        server.routes["/feed.rss"] = Response(_rss(OLD + NOVEMBER + JANUARY))
        _pass(config, store, datetime(2027, 1, 5, 8, 0, tzinfo=UTC))
        closed = (output / "archive/2026-11/atom.xml").read_bytes()
        assert closed != november and b"fh:archive" in closed  # closed at the month's end
        server.routes["/feed.rss"] = Response(_rss(OLD + NOVEMBER + JANUARY + FEBRUARY))
        _pass(config, store, datetime(2027, 2, 3, 8, 0, tzinfo=UTC))
    finally:
        store.close()
    for name, data in october.items():
        assert (output / "archive/2026-10" / name).read_bytes() == data, name
    assert (output / "archive/2026-11/atom.xml").read_bytes() == closed
    assert (output / "archive/2026-12/atom.xml").exists()  # a month without stories
    assert _titles(output, "archive/2027-02/feed.json") == ["February fishing fleet inspection"]


def test_outputs_no_longer_produced_are_removed_and_nothing_else(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/feed.rss"] = Response(_rss(NOVEMBER))
    config = _config(tmp_path, server)
    store = Store.open(config.settings.database)
    output = config.settings.output_dir
    try:
        _pass(config, store, datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
        assert (output / "tags/ngo/atom.xml").exists()
        (output / "tags/ngo/README.txt").write_text("operator's note")
        (output / "robots.txt").write_text("User-agent: *\n")
        manifest = json.loads((output / ".aggregator-manifest.json").read_text())
        assert "tags/ngo/atom.xml" in manifest["files"] and "robots.txt" not in manifest["files"]
        # A tampered manifest cannot make us delete what is not ours.
        manifest["files"] += ["../feeds.toml", "/etc/hostname", "robots.txt/../../feeds.toml"]
        (output / ".aggregator-manifest.json").write_text(json.dumps(manifest))
        # The same network, but the source loses its tag.
        untagged = config_mod.loads(
            (tmp_path / "feeds.toml").read_text().replace('tags = ["NGO"]\n', ""),
            tmp_path / "feeds.toml",
        )
        report = run_pass(
            untagged, store, clock=lambda: datetime(2026, 11, 21, tzinfo=UTC), force=True
        )
    finally:
        store.close()
    assert report.publish is not None
    assert sorted(report.publish.removed) == [
        "tags/ngo/atom.xml",
        "tags/ngo/feed.json",
        "tags/ngo/index.html",
        "tags/ngo/rss.xml",
    ]
    assert not (output / "tags/ngo/atom.xml").exists()
    assert (output / "tags/ngo/README.txt").read_text() == "operator's note"
    assert (output / "robots.txt").exists() and (tmp_path / "feeds.toml").exists()
    manifest = json.loads((output / ".aggregator-manifest.json").read_text())
    assert not any("ngo" in name or ".." in name for name in manifest["files"])
    assert "archive/2026-11/atom.xml" in manifest["files"]


def test_the_hub_hears_of_every_changed_feed_once_and_a_dead_hub_fails_nothing(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/feed.rss"] = Response(_rss(NOVEMBER))
    server.routes["/hub"] = Response(status=204, content_type=None)
    hub = server.url("/hub")
    write_config(
        tmp_path,
        [{"id": "partner", "url": server.url("/feed.rss"), "tags": ["NGO"]}],
        extra=f'websub_hub = "{hub}"',
    )
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pings = [r for r in server.requests if r.path == "/hub"]
    assert all(r.method == "POST" for r in pings)
    assert all(r.headers["content-type"] == "application/x-www-form-urlencoded" for r in pings)
    forms = [parse_qs(r.body.decode()) for r in pings]
    assert all(form["hub.mode"] == ["publish"] for form in forms)
    output = tmp_path / "output"
    live = ["", *(f"tags/{p.name}/" for p in sorted((output / "tags").iterdir()) if p.is_dir())]
    assert "tags/ngo/" in live  # and the classification tags
    assert sorted(url for form in forms for url in form["hub.url"]) == sorted(
        PUBLIC_URL + folder + name
        for folder in live
        for name in ("atom.xml", "rss.xml", "feed.json")
    )
    atom = etree.parse(str(output / "atom.xml")).getroot()
    assert atom.find(f"{ATOM}link[@rel='hub']").get("href") == hub
    rss = etree.parse(str(output / "rss.xml")).getroot()
    assert rss.find(f"channel/{ATOM}link[@rel='hub']").get("href") == hub
    feed = json.loads((output / "feed.json").read_text())
    assert feed["hubs"] == [{"type": "WebSub", "url": hub}]
    archive = etree.parse(str(output / "archive/2026-11/atom.xml")).getroot()
    assert archive.find(f"{ATOM}link[@rel='hub']") is None  # archives are not pushed

    # Nothing changed: no ping. (status.json changes; it is not a feed.)
    before = len(server.requests_to("/hub"))
    assert run_cli("run", "--force", cwd=tmp_path).returncode == 0
    assert len(server.requests_to("/hub")) == before

    # A hub that fails is reported; the publish stands.
    server.routes["/hub"] = Response(b"busy", status=503, content_type="text/plain")
    server.routes["/feed.rss"] = Response(_rss(NOVEMBER + FEBRUARY))
    result = run_cli("run", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "websub: hub" in result.stderr and "HTTP 503" in result.stderr
    assert "February fishing fleet inspection" in (output / "feed.json").read_text()
    write_config(
        tmp_path,
        [{"id": "partner", "url": server.url("/feed.rss")}],
        extra='websub_hub = "http://127.0.0.1:9/hub"',  # nothing listens on port 9
    )
    server.routes["/feed.rss"] = Response(_rss(NOVEMBER))
    result = run_cli("run", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "not reached" in result.stderr
