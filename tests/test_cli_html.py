"""`aggregator check --fetch` on HTML sources, run as a user would, against a real local server."""

from __future__ import annotations

from pathlib import Path

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
