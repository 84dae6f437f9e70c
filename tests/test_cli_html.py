"""`aggregator check --fetch` on HTML sources and `aggregator add`, run as a user would,
against a real local server."""

from __future__ import annotations

import tomllib
from pathlib import Path

from aggregator.config import load

from .conftest import DATA, LocalServer, Response, rss, run_cli, write_config

HTML = DATA / "html"
PAGE = "text/html; charset=utf-8"


def _page(name: str) -> Response:
    return Response((HTML / name).read_bytes(), content_type=PAGE)


# --- check --fetch ---


def test_check_fetch_shows_what_the_selectors_extract(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/news/archive"] = _page("grouped_en.html")
    server.routes["/fr/actualites"] = _page("fr_partner.html")
    server.routes["/feed.xml"] = Response(rss([("g1", "https://p.example/1", "Kilns")]))
    write_config(
        tmp_path,
        [
            {
                "id": "coalition",
                "type": "html",
                "url": server.url("/news/archive"),
                "html": {
                    "item": "ul.news-list > li",
                    "title": "h3",
                    "link": "h3 a@href",
                    "date": ".day",
                    "group": "h2.month",
                    "summary": "p.teaser",
                },
            },
            {
                "id": "collectif",
                "type": "html",
                "url": server.url("/fr/actualites"),
                "html": {"item": ".actu", "title": "h3", "link": "h3 a@href", "date": ".datum"},
            },
            {"id": "plain-feed", "url": server.url("/feed.xml")},
        ],
    )
    result = run_cli("check", "--fetch", "--items", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # Counts per selector, headings, and the items themselves.
    assert "coalition: 6 entries from 6 items (html)" in out
    assert "item selector     'ul.news-list > li': 6 of 6 items" in out
    assert "date selector     '.day': 6 of 6 items" in out
    assert "group selector    'h2.month': 2 headings" in out
    assert "[1] title:   Labour agency and foundation to produce a joint global estimate" in out
    assert f"link:    {server.url('/news/2017/03/global-estimate-partnership')}" in out
    assert "date:    2017-03-17 00:00 UTC ('Friday 17', heading 'March 2017')" in out
    assert "summary: The two organisations will pool their survey work" in out
    assert "id:      link:https://127.0.0.1:" in out  # canonical form of the link
    assert "… 1 more item (--items 0 shows all)" in out
    assert "[6] title:" not in out
    assert "warning: the date of 1 of 6 items is not a complete date (e.g. 'Coming soon')" in out
    # A selector that matches nothing is reported with counts, as a warning.
    assert "collectif: 5 entries from 5 items (html)" in out
    assert "warning: date selector '.datum' matched 0 of 5 items" in out
    assert "date:    - (no date text)" in out
    assert "id:      guid:html-title:h1:" in out  # the item without a link
    assert "plain-feed: 1 entries" in out


def test_check_fetch_source_limits_and_reports_failures(
    server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/es"] = _page("es_partner.html")
    write_config(
        tmp_path,
        [
            {
                "id": "observatorio",
                "type": "html",
                "url": server.url("/es"),
                "html": {"item": "ol.comunicados > li", "title": ".titular", "link": "a@href"},
            },
            {
                "id": "moved",
                "type": "html",
                "url": server.url("/moved"),
                "html": {"item": "li", "title": "h3", "link": "a@href"},
            },
            {
                "id": "relaid-out",
                "type": "html",
                "url": server.url("/es"),
                "html": {"item": "ul.news > li", "title": "h3", "link": "a@href"},
            },
        ],
    )
    only = run_cli("check", "--fetch", "--source", "observatorio", "--items", "0", cwd=tmp_path)
    assert only.returncode == 0, only.stdout + only.stderr
    assert "[5] title:   Taller para inspectores" in only.stdout
    assert "moved" not in only.stdout
    assert not server.requests_to("/moved")

    everything = run_cli("check", "--fetch", cwd=tmp_path)
    assert everything.returncode == 1
    assert "FAILED moved: http: HTTP 404" in everything.stdout
    assert "FAILED relaid-out: no_items: html.item selector 'ul.news > li'" in everything.stdout
    assert "2 of 3 sources failed" in everything.stdout

    unknown = run_cli("check", "--fetch", "--source", "nope", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "unknown source id(s): nope" in unknown.stderr


# --- add ---

ORIGINAL = (
    "# Partner list — edited by hand; keep this comment.\n"
    "[aggregator]\n"
    'title = "Forced Labour News"\n'
    'public_url = "https://news.test.example/fl/"\n'
    'allow_networks = [ "127.0.0.1" ]   # the test partners run locally\n'
    "\n"
    "[defaults]\n"
    'timeout = "2s"\n'
    "\n"
    "[[sources]]\n"
    'id = "brick-kiln-workers"\n'
    'url = "https://kilns.example/feed"\n'
)


def _config(tmp_path: Path, text: str = ORIGINAL) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_bytes(text.encode("utf-8"))
    return path


def _partner_with_links(server: LocalServer) -> None:
    server.routes["/"] = _page("home_with_feed_links.html")
    server.routes["/news/feed.xml"] = Response(
        rss(
            [
                ("k1", "https://kilns.example/news/advance-cap", "Court caps kiln advances"),
                ("k2", "https://kilns.example/news/enrolment", "Enrolment drive"),
            ],
            title='Brick Kiln Workers\' Solidarity — "News"',
        )
    )
    server.routes["/comments/atom.xml"] = Response(
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>Comments</title><id>urn:x:c</id><updated>2017-03-17T00:00:00Z</updated>"
        b"<entry><title>Re: kilns</title><id>urn:x:c1</id><updated>2017-03-17T00:00:00Z</updated>"
        b'<link href="https://kilns.example/c1"/></entry></feed>',
        content_type="application/atom+xml",
    )


def test_add_finds_the_linked_feed_and_appends_a_block_byte_for_byte(
    server: LocalServer, tmp_path: Path
) -> None:
    _partner_with_links(server)
    path = _config(tmp_path)
    result = run_cli("add", server.url("/"), "--tag", "ngo", "--tag", "debt bondage", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'is an HTML page "Home | Brick Kiln Workers\' Solidarity (sample)"' in out
    feed_url = server.url("/news/feed.xml")  # relative href resolved against the page
    assert f'[1] {feed_url}  rss  "Brick Kiln Workers\' Solidarity — "News""  2 entries' in out
    assert f'[2] {server.url("/comments/atom.xml")}  atom  "Comments"  1 entry' in out
    assert "NOT USABLE" in out and "news/feed.json" in out  # linked but 404
    assert "wp-json" not in out  # application/json alternates are not feeds
    written = path.read_bytes()
    assert written.startswith(ORIGINAL.encode("utf-8"))
    block = tomllib.loads(written[len(ORIGINAL.encode("utf-8")) :].decode("utf-8"))
    # The host is an IP address, so the id comes from the feed's title.
    assert block["sources"] == [
        {
            "id": "brick-kiln-workers-solidarity-news",
            "name": 'Brick Kiln Workers\' Solidarity — "News"',
            "url": feed_url,
            "home_page": server.url("/"),
            "tags": ["ngo", "debt bondage"],
        }
    ]
    config = load(path)
    assert [s.id for s in config.sources] == [
        "brick-kiln-workers",
        "brick-kiln-workers-solidarity-news",
    ]


def test_add_pick_and_derived_id_that_is_already_taken(server: LocalServer, tmp_path: Path) -> None:
    _partner_with_links(server)
    path = _config(tmp_path)
    first = run_cli("add", server.url("/"), "--pick", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_cli("add", server.url("/"), "--pick", "2", "--id", "comments-2", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already configured as source 'comments'; nothing added" in second.stdout
    third = run_cli("add", server.url("/"), cwd=tmp_path)  # the RSS feed, id derived
    assert third.returncode == 0, third.stderr
    ids = [s.id for s in load(path).sources]
    assert ids == ["brick-kiln-workers", "comments", "brick-kiln-workers-solidarity-news"]

    # A derived id that exists gets a suffix; an explicit duplicate is refused.
    server.routes["/other/feed"] = Response(rss([("o1", "https://o.example/1", "x")], "Comments"))
    fourth = run_cli("add", server.url("/other/feed"), cwd=tmp_path)
    assert fourth.returncode == 0, fourth.stderr
    assert f"{server.url('/other/feed')} is a feed" in fourth.stdout
    assert load(path).sources[-1].id == "comments-2"
    before = path.read_bytes()
    server.routes["/third/feed"] = Response(rss([("t1", "https://t.example/1", "y")]))
    taken = run_cli("add", server.url("/third/feed"), "--id", "comments", cwd=tmp_path)
    assert taken.returncode == 2
    assert "--id 'comments' is already used" in taken.stderr
    bad_pick = run_cli("add", server.url("/"), "--pick", "3", cwd=tmp_path)  # the 404 one
    assert bad_pick.returncode == 2
    assert "is not a usable feed" in bad_pick.stderr
    assert path.read_bytes() == before


def test_add_probes_common_paths_when_the_page_links_no_feed(
    server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/"] = _page("home_without_feed_links.html")
    server.routes["/feed"] = _page("home_without_feed_links.html")  # an HTML page, no feed
    server.routes["/rss.xml"] = Response(
        rss([("c1", "https://obs.example/actualites/cacao", "Cacao")], "Observatoire — actus")
    )
    path = _config(tmp_path)
    result = run_cli("--config", str(path), "add", server.url("/"), "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "it links to no feed" in result.stdout
    assert "probed 8 common paths: 1 feed" in result.stdout
    assert f'[1] {server.url("/rss.xml")}  rss  "Observatoire — actus"  1 entry' in result.stdout
    for probe in ("/feed", "/rss", "/rss.xml", "/atom.xml", "/index.xml", "/news/feed"):
        assert server.requests_to(probe), probe
    # --dry-run prints the block and writes nothing.
    assert "dry run: would append to" in result.stdout
    assert 'id = "observatoire-actus"' in result.stdout
    assert path.read_bytes() == ORIGINAL.encode("utf-8")


def test_add_without_any_feed_suggests_an_html_source(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/actualites"] = _page("home_without_feed_links.html")
    path = _config(tmp_path)
    result = run_cli("add", server.url("/actualites"), "--id", "observatoire", cwd=tmp_path)
    assert result.returncode == 1
    assert f"no feed found for {server.url('/actualites')}" in result.stdout
    skeleton = result.stdout.split("for example:\n\n", 1)[1].split("\n\nthen", 1)[0]
    suggested = tomllib.loads(skeleton)["sources"][0]
    assert suggested["type"] == "html" and suggested["id"] == "observatoire"
    assert set(suggested["html"]) >= {"item", "title", "link", "date"}
    assert "check --fetch --source observatoire" in result.stdout
    assert path.read_bytes() == ORIGINAL.encode("utf-8")

    unreachable = run_cli("add", server.url("/gone"), cwd=tmp_path)
    assert unreachable.returncode == 1
    assert "cannot fetch" in unreachable.stderr and "404" in unreachable.stderr


def test_add_restores_the_file_when_the_result_does_not_load(
    server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/feed.xml"] = Response(rss([("a", "https://a.example/1", "A")], "Alliance"))
    # Valid TOML and a valid config, but sources is a static array: an appended
    # [[sources]] table makes the file invalid, so it must be restored.
    inline = 'sources = [ { id = "inline", url = "https://inline.example/feed" } ]\n'
    path = _config(tmp_path, inline + write_config(tmp_path, []).read_text(encoding="utf-8"))
    before = path.read_bytes()
    assert load(path).sources[0].id == "inline"
    result = run_cli("add", server.url("/feed.xml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "was left unchanged" in result.stderr
    assert path.read_bytes() == before


def test_add_keeps_crlf_files_and_a_missing_final_newline(
    server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/feed.xml"] = Response(rss([("a", "https://a.example/1", "A")], "Alliance"))
    text = ORIGINAL.rstrip("\n").replace("\n", "\r\n")  # no final newline
    path = _config(tmp_path, text)
    result = run_cli("add", server.url("/feed.xml"), "--name", "Alliance \\ Ñ", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = path.read_bytes()
    assert written.startswith(text.encode("utf-8"))
    assert b"\n" not in written.replace(b"\r\n", b"")
    assert load(path).sources[-1].name == "Alliance \\ Ñ"
