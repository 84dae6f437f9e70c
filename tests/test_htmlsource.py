"""HTML news lists: the pages under tests/data/html/ against the expectations beside them,
dates in English, French and Spanish, month headings, <base href> and stable ids."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.config import HtmlSelectors, loads
from aggregator.dates import PartialDate, combine, parse_date, read_date
from aggregator.errors import ConfigError, ParseError
from aggregator.htmlsource import extract_html_list, parse_html_list, title_id
from aggregator.normalize import normalize_entry

from .conftest import DATA

HTML = DATA / "html"
CASES = sorted(HTML.glob("*.expected.json"))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def test_there_are_html_fixtures() -> None:
    assert {p.name.removesuffix(".expected.json") for p in CASES} >= {
        "grouped_en",
        "grouped_es",
        "fr_partner",
        "es_partner",
        "base_href",
    }


@pytest.mark.parametrize("expected_path", CASES, ids=lambda p: p.name.split(".")[0])
def test_html_fixture(expected_path: Path) -> None:
    spec = json.loads(expected_path.read_text(encoding="utf-8"))
    body = (HTML / expected_path.name.replace(".expected.json", ".html")).read_bytes()
    parsed = parse_html_list(
        body, spec["content_type"], spec["base_url"], HtmlSelectors(**spec["html"])
    )
    entries = [normalize_entry(raw, "fixture", spec["base_url"]) for raw in parsed.entries]
    got = [
        {"title": e.title, "link": e.link, "published": _iso(e.published), "key": e.key}
        for e in entries
    ]
    assert got == spec["entries"]
    assert list(parsed.warnings) == spec["warnings"]


# --- dates ---

DATES = [
    ("08 April 2013", "2013-04-08T00:00:00Z"),
    ("17 mars 2017", "2017-03-17T00:00:00Z"),
    ("17 Mars 2017", "2017-03-17T00:00:00Z"),
    ("17 de marzo de 2017", "2017-03-17T00:00:00Z"),
    ("1er mars 2017", "2017-03-01T00:00:00Z"),
    ("1.º de dic. de 2016", "2016-12-01T00:00:00Z"),
    ("March 17, 2017", "2017-03-17T00:00:00Z"),
    ("Friday, March 17th, 2017", "2017-03-17T00:00:00Z"),
    ("vendredi 17 mars 2017", "2017-03-17T00:00:00Z"),
    ("viernes, 17 de marzo de 2017", "2017-03-17T00:00:00Z"),
    ("28 févr. 2017", "2017-02-28T00:00:00Z"),
    ("28 fevr. 2017", "2017-02-28T00:00:00Z"),
    ("9 fevrier 2017", "2017-02-09T00:00:00Z"),
    ("2 août 2016", "2016-08-02T00:00:00Z"),
    ("2 aout 2016", "2016-08-02T00:00:00Z"),
    ("5 sept. 2016", "2016-09-05T00:00:00Z"),
    ("15 déc. 2016", "2016-12-15T00:00:00Z"),
    ("5 dic. 2016", "2016-12-05T00:00:00Z"),
    ("3 ene 2017", "2017-01-03T00:00:00Z"),
    ("12 setiembre 2016", "2016-09-12T00:00:00Z"),
    ("17/03/2017", "2017-03-17T00:00:00Z"),
    ("17.03.2017", "2017-03-17T00:00:00Z"),
    ("17-03-17", "2017-03-17T00:00:00Z"),
    ("04/03/2017", "2017-03-04T00:00:00Z"),
    ("03/17/2017", "2017-03-17T00:00:00Z"),  # only one order is a date
    ("2017-03-17", "2017-03-17T00:00:00Z"),
    ("2017-03-17T10:00:00+01:00", "2017-03-17T09:00:00Z"),
    ("17 mars 2017 à 14h30", "2017-03-17T14:30:00Z"),
    ("March 17, 2017 at 2:30 pm", "2017-03-17T14:30:00Z"),
    ("Mon, 06 Nov 2026 10:00:00 +0200", "2026-11-06T08:00:00Z"),
    ("Published on 3 August 2016", "2016-08-03T00:00:00Z"),
    # Incomplete or not dates: no date rather than a guess filled from today.
    ("17", None),
    ("Friday 17", None),
    ("17 mars", None),
    ("Mars 2017", None),
    ("31/02/2017", None),
    ("Coming soon", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_dates_in_english_french_and_spanish(text: str, expected: str | None) -> None:
    assert _iso(parse_date(text)) == expected


def test_month_first_numeric_dates() -> None:
    assert _iso(parse_date("04/03/2017", day_first=False)) == "2017-04-03T00:00:00Z"
    assert _iso(parse_date("17/03/2017", day_first=False)) == "2017-03-17T00:00:00Z"


def test_date_format_is_tried_first_and_falls_back() -> None:
    assert _iso(parse_date("2017|03|17", date_format="%Y|%m|%d")) == "2017-03-17T00:00:00Z"
    # %B is English whatever the process locale; other languages use the table.
    assert _iso(parse_date("17 March 2017", date_format="%d %B %Y")) == "2017-03-17T00:00:00Z"
    assert _iso(parse_date("17 mars 2017", date_format="%d %B %Y")) == "2017-03-17T00:00:00Z"


def test_headings_and_partial_dates() -> None:
    assert read_date("Marzo de 2017") == PartialDate(2017, 3, None)
    assert read_date("Mars 2017") == PartialDate(2017, 3, None)
    assert read_date("Friday 17") == PartialDate(None, None, 17)
    march = read_date("March 2017")
    assert _iso(combine(read_date("Friday 17"), march)) == "2017-03-17T00:00:00Z"
    assert _iso(combine(read_date("17 février"), read_date("2017"))) == "2017-02-17T00:00:00Z"
    # The item's own full date wins over its heading.
    assert _iso(combine(read_date("14 February 2017"), march)) == "2017-02-14T00:00:00Z"
    # A month heading alone is not a day; a full-date heading is.
    assert combine(None, march) is None
    assert _iso(combine(None, read_date("17 March 2017"))) == "2017-03-17T00:00:00Z"
    assert _iso(combine(read_date("14:30"), read_date("17 mars 2017"))) == "2017-03-17T14:30:00Z"
    assert combine(read_date("17"), None) is None
    assert combine(read_date("31"), read_date("February 2017")) is None


# --- month headings on a page ---


def test_month_grouped_page_takes_month_and_year_from_the_heading() -> None:
    body = (HTML / "grouped_en.html").read_bytes()
    selectors = HtmlSelectors(
        item="ul.news-list > li", title="h3", link="h3 a@href", date=".day", group="h2.month"
    )
    extraction = extract_html_list(body, None, "https://fr.example/news/", selectors)
    by_title = {i.title.split()[0]: i for i in extraction.items}
    assert by_title["Labour"].heading == "March 2017"
    assert _iso(by_title["Labour"].published) == "2017-03-17T00:00:00Z"
    assert by_title["Webinar:"].heading == "February 2017"
    assert _iso(by_title["Webinar:"].published) == "2017-02-28T00:00:00Z"
    assert extraction.headings == 2
    # Without the group selector the same day-only dates are no dates.
    ungrouped = extract_html_list(
        body, None, "https://fr.example/news/", replace(selectors, group=None)
    )
    assert ungrouped.items[0].published is None
    assert any("set html.group" in w for w in ungrouped.warnings)


def test_items_before_the_first_heading_and_headings_that_are_not_months() -> None:
    body = b"""<html><body>
      <ul><li><a href="/a">Early item</a> <i>17</i></li></ul>
      <h2>Archives</h2><ul><li><a href="/b">Archived item</a> <i>3</i></li></ul>
      <h2>Marzo de 2017</h2><ul><li><a href="/c">Spanish item</a> <i>viernes 17</i></li></ul>
    </body></html>"""
    selectors = HtmlSelectors(item="li", title="a", link="a@href", date="i", group="h2")
    extraction = extract_html_list(body, None, "https://partner.example/", selectors)
    assert [i.heading for i in extraction.items] == [None, "Archives", "Marzo de 2017"]
    assert [_iso(i.published) for i in extraction.items] == [None, None, "2017-03-17T00:00:00Z"]
    assert "1 items come before the first group heading" in extraction.warnings
    assert "group heading 'Archives' is not a month and year" in extraction.warnings


# --- links, base href, ids ---


def test_base_href_resolves_links_and_summary_links() -> None:
    body = (HTML / "base_href.html").read_bytes()
    selectors = HtmlSelectors(item=".update", title="h4", link="h4 a@href", summary=".text")
    extraction = extract_html_list(body, None, "https://www.seafarers.example/updates", selectors)
    assert extraction.base_url == "https://static.seafarers-welfare.example/site/en/"
    first = extraction.items[0]
    assert first.link == (
        "https://static.seafarers-welfare.example/site/en/updates/abandoned-crews-2017.html"
    )
    assert (
        'href="https://static.seafarers-welfare.example/site/fr/mises-a-jour/'
        'equipages-abandonnes.html"' in first.summary
    )


def test_links_without_base_resolve_against_the_page_url() -> None:
    body = b'<ul><li><a href="item-1.html">One</a></li><li><a href="#">Two</a></li></ul>'
    selectors = HtmlSelectors(item="li", title="a", link="a@href")
    extraction = extract_html_list(body, None, "https://partner.example/news/list", selectors)
    assert extraction.items[0].link == "https://partner.example/news/item-1.html"
    assert extraction.items[1].link is None  # a bare fragment is no link


SELECTORS = HtmlSelectors(
    item="ul.items > li", title="h3", link="h3 a@href", date=".when", summary="p.summary"
)
PAGE = "https://www.domestic-workers.example/news"


def _keys(name: str, selectors: HtmlSelectors = SELECTORS) -> dict[str, str]:
    parsed = parse_html_list((HTML / name).read_bytes(), None, PAGE, selectors)
    entries = [normalize_entry(raw, "dwf", PAGE) for raw in parsed.entries]
    return {e.title: e.key for e in entries}


def test_ids_survive_a_re_rendered_page() -> None:
    """Other order, whitespace, classes and tracking parameters, one new item: same ids."""
    before, after = _keys("rerender_v1.html"), _keys("rerender_v2.html")
    assert len(before) == 4 and len(after) == 5
    assert {t: after[t] for t in before} == before
    assert before["Statement on the raids of recruitment agencies"] == "guid:" + title_id(
        "Statement on the raids of recruitment agencies"
    )
    assert all(not key.startswith("guid:") or "html-title" in key for key in after.values())


def test_ids_from_the_id_selector_survive_a_re_rendered_page() -> None:
    selectors = replace(SELECTORS, id="@data-nid")
    before = _keys("rerender_v1.html", selectors)
    after = _keys("rerender_v2.html", selectors)
    assert before["Survey: live-in workers report withheld wages"] == "guid:305"
    assert {t: after[t] for t in before} == before


def test_re_indented_summary_is_not_an_edit() -> None:
    def hashes(name: str) -> dict[str, str]:
        parsed = parse_html_list((HTML / name).read_bytes(), None, PAGE, SELECTORS)
        entries = [normalize_entry(raw, "d", PAGE) for raw in parsed.entries]
        return {e.key: e.content_hash for e in entries}

    before, after = hashes("rerender_v1.html"), hashes("rerender_v2.html")
    survey = "link:https://www.domestic-workers.example/news/live-in-survey"
    assert before[survey] == after[survey]


def test_title_id_ignores_case_and_spacing_but_not_words() -> None:
    assert title_id("Statement  on the RAIDS") == title_id("statement on the raids")
    assert title_id("Statement on the raids") != title_id("Statement on the arrests")


def test_repeated_links_are_dropped_with_a_warning_and_titles_are_required() -> None:
    body = b"""<ol>
      <li><h3><a href="/news/a">1. First</a></h3></li>
      <li><h3><a href="/news/a?utm_source=x">2. First again</a></h3></li>
      <li><h3><a href="/news/b"></a></h3></li>
      <li><h3><a href="/news/c">3. Third</a></h3></li>
    </ol>"""
    selectors = HtmlSelectors(item="li", title="h3", link="a@href")
    parsed = parse_html_list(body, None, "https://p.example/", selectors)
    assert [e.title for e in parsed.entries] == ["First", "Third"]  # numbering stripped
    assert "1 of 4 items had no title and were skipped" in parsed.warnings
    assert any("repeat an earlier item's link" in w for w in parsed.warnings)


def test_a_selector_that_matches_nothing_is_a_warning_with_counts() -> None:
    body = (HTML / "fr_partner.html").read_bytes()
    selectors = HtmlSelectors(item=".actu", title="h3", link="h3 a@href", date=".datum")
    parsed = parse_html_list(body, None, "https://e.example/", selectors)
    assert "date selector '.datum' matched 0 of 5 items" in parsed.warnings


def test_no_items_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        parse_html_list(b"<p>nothing</p>", None, "https://e.example/", SELECTORS)
    assert info.value.kind == "no_items"


# --- configuration of the new keys ---


def _html_config(html: str) -> str:
    return (
        '[aggregator]\ntitle = "t"\npublic_url = "https://x.example/"\n'
        '[[sources]]\nid = "p"\nurl = "https://p.example/"\ntype = "html"\n'
        f"html = {{ item = 'li', title = 'h3', link = 'a@href', {html} }}\n"
    )


def test_new_html_keys_load() -> None:
    config = loads(_html_config("group = 'h2.month', id = '@data-id', day_first = false"))
    html = config.sources[0].html
    assert html is not None
    assert (html.group, html.id, html.day_first) == ("h2.month", "@data-id", False)


@pytest.mark.parametrize(
    ("html", "key", "message"),
    [
        ("group = 'h2[['", "html.group", "CSS selector"),
        ("id = 'li[[@data-id'", "html.id", "CSS selector"),
        ("day_first = 'yes'", "html.day_first", "true or false"),
    ],
)
def test_new_html_keys_are_validated(html: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        loads(_html_config(html))
    (problem,) = info.value.problems
    assert problem.key.endswith(key) and message in problem.message
