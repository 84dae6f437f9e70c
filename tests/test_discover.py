"""The pure parts of `aggregator add`: feed links on a page, ids, and TOML quoting."""

from __future__ import annotations

import tomllib

import pytest

from aggregator.configwrite import appended, source_block, toml_string
from aggregator.discover import derive_id, feed_links, feed_type, slugify

from .conftest import DATA, rss


def test_feed_links_are_read_in_page_order_and_resolved() -> None:
    body = (DATA / "html" / "home_with_feed_links.html").read_bytes()
    links = feed_links(body, "text/html", "https://kilns.example/en/home")
    assert links == [
        (
            "https://kilns.example/en/news/feed.xml",
            "rss",
            "Brick Kiln Workers' Solidarity — News",
        ),
        ("https://kilns.example/comments/atom.xml", "atom", "Comments"),
        ("https://kilns.example/en/news/feed.json", "json", "News (JSON Feed)"),
    ]


def test_feed_links_resolve_against_base_href() -> None:
    body = (
        b'<html><head><base href="https://cdn.partner.example/fr/">'
        b'<link rel="Alternate" type="application/rss+xml; charset=utf-8" href="flux.xml">'
        b'<link rel="alternate stylesheet" type="text/css" href="x.css"></head></html>'
    )
    assert feed_links(body, None, "https://partner.example/") == [
        ("https://cdn.partner.example/fr/flux.xml", "rss", "")
    ]


def test_feed_type_comes_from_the_document() -> None:
    assert feed_type(rss([("a", "https://a.example/", "A")]), "text/html") == "rss"
    assert feed_type(
        b'<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom">', None
    ) == ("atom")
    assert feed_type(b'<rdf:RDF xmlns:rdf="x">', None) == "rss"
    assert feed_type(b'  {"version": "https://jsonfeed.org/version/1.1"}', None) == "json"
    assert feed_type(b"<html></html>", None) is None


@pytest.mark.parametrize(
    ("url", "title", "existing", "expected"),
    [
        ("https://www.antislavery.example/feed/", "News", set(), "antislavery-example"),
        (
            "https://news.partner.example/rss",
            "",
            {"news-partner-example"},
            "news-partner-example-2",
        ),
        ("http://127.0.0.1:8765/feed", "Red Andina — Noticias", set(), "red-andina-noticias"),
        ("http://localhost/feed", "", set(), "localhost"),
        ("http://[::1]:80/feed", "Ñandú", {"nandu", "nandu-2"}, "nandu-3"),
    ],
)
def test_derived_ids_are_valid_and_unique(
    url: str, title: str, existing: set[str], expected: str
) -> None:
    assert derive_id(url, title, existing) == expected


def test_slugs_are_short_and_valid() -> None:
    slug = slugify("Observatoire des Chaînes d'Approvisionnement et du Travail Décent en Afrique")
    assert slug == "observatoire-des-chaines-d"  # cut at a word within 40 characters
    assert len(slug) <= 40 and slug[0].isalnum() and slug[-1].isalnum()


@pytest.mark.parametrize(
    "value",
    ['Say "no" to forced labour', "back\\slash", "tab\tand\nnewline", "bell\x07", "Ñandú — «»"],
)
def test_toml_strings_round_trip(value: str) -> None:
    assert tomllib.loads(f"k = {toml_string(value)}")["k"] == value


def test_block_is_appended_after_a_blank_line_with_the_file_s_line_endings() -> None:
    block = source_block([("id", "a"), ("tags", ["x", 'y"z'])], comment="Added", newline="\r\n")
    assert block == '# Added\r\n[[sources]]\r\nid = "a"\r\ntags = ["x", "y\\"z"]\r\n'
    assert appended(b"x = 1\r\n", block) == b"x = 1\r\n\r\n" + block.encode()
    assert appended(b"a = 1\r\nx = 1", block) == b"a = 1\r\nx = 1\r\n\r\n" + block.encode()
    assert appended(b"", block) == block.encode()
