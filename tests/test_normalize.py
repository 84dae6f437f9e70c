"""Normalize stage: canonical URLs, absolute links, clean text and HTML, identities, dates."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.models import RawEntry
from aggregator.normalize import (
    FUTURE_GRACE,
    HASH_VERSION,
    absolute_url,
    canonical_url,
    clean_html,
    effective_published,
    entry_key,
    normalize_entry,
    plain_text,
)

FIRST_SEEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
BASE = "https://partner.example/news/2026/item.html"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # tracking parameters removed, others kept and sorted
        (
            "https://example.org/a?utm_source=rss&utm_medium=feed&id=7",
            "https://example.org/a?id=7",
        ),
        ("https://example.org/a?UTM_Campaign=x&b=2", "https://example.org/a?b=2"),
        ("https://example.org/a?fbclid=IwAR0&gclid=Cj0&p=1", "https://example.org/a?p=1"),
        ("https://example.org/a?mc_cid=abc&mc_eid=def", "https://example.org/a"),
        ("https://example.org/a?z=1&a=2&m=3", "https://example.org/a?a=2&m=3&z=1"),
        (
            "https://example.org/a?q=forced+labour&empty=",
            "https://example.org/a?empty=&q=forced+labour",
        ),
        # fragment dropped
        ("https://example.org/report#findings", "https://example.org/report"),
        # scheme and host lower-cased, path case kept
        ("HTTPS://WWW.Example.ORG/News/Item-ABC", "https://www.example.org/News/Item-ABC"),
        # http -> https
        ("http://example.org/x", "https://example.org/x"),
        # default ports dropped, other ports kept
        ("https://example.org:443/x", "https://example.org/x"),
        ("http://example.org:80/x", "https://example.org/x"),
        ("https://example.org:8443/x", "https://example.org:8443/x"),
        ("http://example.org:8080/x", "https://example.org:8080/x"),
        # empty path -> "/"
        ("https://example.org", "https://example.org/"),
        ("https://example.org?utm_source=x", "https://example.org/"),
        # surrounding whitespace ignored
        ("  https://example.org/a  ", "https://example.org/a"),
        # not http(s), or not a URL
        ("mailto:info@example.org", None),
        ("ftp://files.example.org/report.pdf", None),
        ("javascript:alert(1)", None),
        ("/relative/path", None),
        ("https://example.org:99999/x", None),
        ("", None),
        (None, None),
    ],
)
def test_canonical_url(url: str | None, expected: str | None) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_makes_a_republished_link_equal_to_the_original() -> None:
    original = "https://alliance.example/news/recruitment-fees"
    republished = (
        "http://Alliance.Example:80/news/recruitment-fees"
        "?utm_source=union&utm_medium=rss&fbclid=abc#top"
    )
    assert canonical_url(republished) == canonical_url(original) == original


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("/about", BASE, "https://partner.example/about"),
        ("other.html", BASE, "https://partner.example/news/2026/other.html"),
        ("../2025/old.html", BASE, "https://partner.example/news/2025/old.html"),
        ("https://elsewhere.example/x", BASE, "https://elsewhere.example/x"),
        ("//cdn.example/img.png", BASE, "https://cdn.example/img.png"),
        ("  /padded  ", BASE, "https://partner.example/padded"),
        ("https://elsewhere.example/x", None, "https://elsewhere.example/x"),
        ("/about", None, None),
        ("mailto:info@partner.example", BASE, None),
        ("javascript:alert(1)", BASE, None),
        ("", BASE, None),
        (None, BASE, None),
    ],
)
def test_absolute_url(url: str | None, base: str | None, expected: str | None) -> None:
    assert absolute_url(url, base) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<b>Forced</b>  labour &amp; <i>debt</i>\n\t bondage", "Forced labour & debt bondage"),
        ("Caf&eacute; workers &#8211; &#x201C;quoted&#x201D;", "Café workers – “quoted”"),
        ("&lt;p&gt; is a tag", "<p> is a tag"),
        ("<script>alert(1)</script>Report", "Report"),
        ("  plain   text  ", "plain text"),
        ("", ""),
    ],
)
def test_plain_text(value: str, expected: str) -> None:
    assert plain_text(value) == expected


HOSTILE = (
    '<p onclick="steal()" onmouseover="steal()">Read the '
    '<a href="/reports/2026.pdf" onclick="x()">report</a>'
    '<script>alert("x")</script><style>p { color: red }</style>'
    '<iframe src="https://evil.example/frame"></iframe>'
    '<object data="https://evil.example/obj"></object>'
    '<a href="javascript:alert(1)">bad link</a>'
    '<a href="JavaScript:alert(2)">bad link 2</a>'
    '<img src="data:image/png;base64,AAAA" alt="d">'
    '<img src="photos/field.jpg" alt="Field workers">'
    '<a href="mailto:press@partner.example">press</a></p>'
)


def test_clean_html_removes_active_content() -> None:
    cleaned = clean_html(HOSTILE, BASE).lower()
    for forbidden in (
        "<script",
        "alert",
        "<style",
        "color: red",
        "<iframe",
        "evil.example",
        "<object",
        "onclick",
        "onmouseover",
        "steal",
        "javascript:",
        "data:",
    ):
        assert forbidden not in cleaned, forbidden
    assert "read the" in cleaned, "ordinary text is kept"


def test_clean_html_resolves_relative_urls_and_keeps_mailto() -> None:
    cleaned = clean_html(HOSTILE, BASE)
    assert 'href="https://partner.example/reports/2026.pdf"' in cleaned
    assert 'src="https://partner.example/news/2026/photos/field.jpg"' in cleaned
    assert 'href="mailto:press@partner.example"' in cleaned
    assert 'alt="Field workers"' in cleaned
    assert not re.search(r'(href|src)="(?!https://|mailto:)', cleaned), cleaned


def test_clean_html_marks_links_noopener() -> None:
    cleaned = clean_html('<a href="https://x.example/">x</a>', BASE)
    assert 'rel="noopener noreferrer"' in cleaned


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_clean_html_of_blank_is_empty(blank: str) -> None:
    assert clean_html(blank, BASE) == ""


# --- identity ---


def test_entry_key_prefers_guid_then_link_then_hash() -> None:
    link = "https://partner.example/a"
    assert entry_key("urn:uuid:1", link, "T", "S") == "guid:urn:uuid:1"
    assert entry_key(None, link, "T", "S") == f"link:{link}"
    assert entry_key("", link, "T", "S") == f"link:{link}"
    hashed = entry_key(None, None, "T", "S")
    assert re.fullmatch(rf"{HASH_VERSION}:[0-9a-f]{{32}}", hashed), hashed


def test_entry_key_hash_is_stable_and_depends_on_the_content() -> None:
    first = entry_key(None, None, "Debt bondage in brick kilns", "<p>Summary</p>")
    assert first == entry_key(None, None, "Debt bondage in brick kilns", "<p>Summary</p>")
    # markup in the summary is not part of the identity, only its text
    assert first == entry_key(None, None, "Debt bondage in brick kilns", "Summary")
    assert first != entry_key(None, None, "Debt bondage in fisheries", "<p>Summary</p>")
    assert first != entry_key(None, None, "Debt bondage in brick kilns", "Other")


def _raw(**overrides: object) -> RawEntry:
    values: dict[str, object] = {
        "guid": None,
        "link": None,
        "title": "New ILO estimates on forced labour",
        "summary": "<p>Twenty-eight million people.</p>",
        "content": "",
        "published": datetime(2026, 11, 19, 8, 0, tzinfo=UTC),
        "updated": None,
    }
    values.update(overrides)
    return RawEntry(**values)  # type: ignore[arg-type]


def test_hash_key_is_independent_of_the_date() -> None:
    one = normalize_entry(_raw(), "partner", BASE)
    other = normalize_entry(
        _raw(published=datetime(2020, 1, 1, tzinfo=UTC), updated=FIRST_SEEN), "partner", BASE
    )
    assert one.key.startswith(f"{HASH_VERSION}:")
    assert one.key == other.key
    assert normalize_entry(_raw(title="Another story"), "partner", BASE).key != one.key


def test_normalize_entry_resolves_link_and_canonical_url() -> None:
    entry = normalize_entry(
        _raw(link="/news/1?utm_source=rss", summary='<a href="more">more</a>'), "partner", BASE
    )
    assert entry.source_id == "partner"
    assert entry.link == "https://partner.example/news/1?utm_source=rss", "the link keeps its form"
    assert entry.canonical_url == "https://partner.example/news/1"
    assert entry.key == "link:https://partner.example/news/1"
    assert 'href="https://partner.example/news/more"' in entry.summary_html


def test_html_title_is_stripped_of_markup() -> None:
    entry = normalize_entry(
        _raw(title="<b>Debt</b> bondage &amp; <em>wages</em>", title_is_html=True), "p", BASE
    )
    assert entry.title == "Debt bondage & wages"


def test_plain_title_is_kept_literally() -> None:
    entry = normalize_entry(_raw(title="I <3 rights &amp; more"), "p", BASE)
    assert entry.title == "I <3 rights &amp; more"
    spaced = normalize_entry(_raw(title="  Two\n  lines  "), "p", BASE)
    assert spaced.title == "Two lines"


def test_guid_only_permalink_becomes_the_link() -> None:
    guid = "https://partner.example/p/42"
    entry = normalize_entry(_raw(guid=guid, link=None), "p", BASE)
    assert entry.link == guid
    assert entry.canonical_url == guid
    assert entry.key == f"guid:{guid}"
    opaque = normalize_entry(_raw(guid="urn:uuid:42", link=None), "p", BASE)
    assert opaque.link is None
    assert opaque.key == "guid:urn:uuid:42"


def test_duplicate_and_empty_tags_collapse() -> None:
    raw = _raw(tags=("labour", "labour", " labour ", "<b>labour</b>", "", "  ", "Migration"))
    assert normalize_entry(raw, "p", BASE).tags == ("labour", "Migration")


def test_author_is_plain_text() -> None:
    assert normalize_entry(_raw(author="<i>Ana</i> &amp; Li"), "p", BASE).author == "Ana & Li"
    assert normalize_entry(_raw(author=None), "p", BASE).author is None


def test_content_hash_changes_with_the_title_only_when_something_changes() -> None:
    raw = _raw(link="https://partner.example/a")
    first = normalize_entry(raw, "p", BASE)
    again = normalize_entry(dataclasses.replace(raw), "p", BASE)
    edited = normalize_entry(dataclasses.replace(raw, title=raw.title + " (corrected)"), "p", BASE)
    assert first.content_hash == again.content_hash
    assert first.content_hash.startswith(f"{HASH_VERSION}:")
    assert edited.content_hash != first.content_hash
    assert edited.key == first.key, "an edit keeps the entry's identity"


def test_empty_title_falls_back_to_the_link() -> None:
    entry = normalize_entry(_raw(title="", link="https://partner.example/a"), "p", BASE)
    assert entry.title == "https://partner.example/a"


# --- dates ---


@pytest.mark.parametrize(
    ("claimed", "expected"),
    [
        (None, FIRST_SEEN),
        (FIRST_SEEN + timedelta(days=3), FIRST_SEEN),
        (FIRST_SEEN + FUTURE_GRACE + timedelta(seconds=1), FIRST_SEEN),
        (FIRST_SEEN + FUTURE_GRACE, FIRST_SEEN + FUTURE_GRACE),
        (FIRST_SEEN + timedelta(minutes=2), FIRST_SEEN + timedelta(minutes=2)),
        (FIRST_SEEN - timedelta(days=400), FIRST_SEEN - timedelta(days=400)),
    ],
)
def test_effective_published(claimed: datetime | None, expected: datetime) -> None:
    assert effective_published(claimed, FIRST_SEEN) == expected


def test_future_grace_is_minutes_not_days() -> None:
    assert timedelta(0) < FUTURE_GRACE <= timedelta(hours=1)
