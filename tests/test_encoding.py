"""Unit tests of encoding.py: BOM, UTF-8, HTTP charset and label precedence; control characters."""

from __future__ import annotations

import codecs
import json

import lxml.etree
import pytest

from aggregator.config import HtmlSelectors, Source
from aggregator.encoding import (
    Decoded,
    charset_from_content_type,
    decode_feed,
    decode_html,
    decode_json,
    normalise_label,
    strip_xml_forbidden,
    utf8_content_type,
)
from aggregator.errors import ParseError
from aggregator.models import FailureKind
from aggregator.parse import parse

from .conftest import FEEDS

TITLE = "“Travail forcé” – 5 €"
# What a French CMS writes for TITLE: windows-1252 bytes, C1 range for the typography.
TITLE_1252 = b"\x93Travail forc\xe9\x94 \x96 5 \x80"
CYRILLIC = "Принудительный труд на стройках"


def rss(
    title: str, declaration: str = '<?xml version="1.0" encoding="{enc}"?>', enc: str = ""
) -> str:
    head = declaration.format(enc=enc)
    return (
        f'{head}\n<rss version="2.0"><channel><title>Watch</title>'
        f"<item><title>{title}</title><link>https://ngo.example/a</link></item>"
        "</channel></rss>\n"
    )


def title_of(decoded: Decoded) -> str:
    return lxml.etree.fromstring(decoded.xml_utf8()).findtext("channel/item/title") or ""


# --- labels ---


@pytest.mark.parametrize(
    ("label", "decoder"),
    [
        ("ISO-8859-1", "windows-1252"),
        ("latin1", "windows-1252"),
        ("l1", "windows-1252"),
        ("US-ASCII", "windows-1252"),
        ("cp819", "windows-1252"),
        ("Windows-1252", "windows-1252"),
        ('"utf-8"', "utf-8"),
        ("UTF8", "utf-8"),
        ("utf8mb4", "utf-8"),
        ("unicode-1-1-utf-8", "utf-8"),
        ("x-mac-roman", "mac-roman"),
        ("gb2312", "gb18030"),
        ("Shift_JIS", "cp932"),
        ("ISO-8859-9", "cp1254"),
        ("windows-1251", "cp1251"),
        ("utf-16", "utf-16-le"),
        ("UTF-16BE", "utf-16-be"),
    ],
)
def test_labels_normalise_as_whatwg_does(label: str, decoder: str) -> None:
    assert normalise_label(label) == decoder


@pytest.mark.parametrize(
    "label", ["x-bogus", "", "  ", "utf-7", "base64", "rot13", "unicode_escape"]
)
def test_unknown_and_non_text_labels_are_refused(label: str) -> None:
    assert normalise_label(label) is None


@pytest.mark.parametrize(
    ("header", "charset"),
    [
        ("application/rss+xml; charset=ISO-8859-1", "ISO-8859-1"),
        ('text/xml;charset="utf-8"', "utf-8"),
        ("text/html; Charset='windows-1251'; q=1", "windows-1251"),
        ("application/rss+xml", None),
        ("text/xml; charset=", None),
        (None, None),
    ],
)
def test_charset_from_content_type(header: str | None, charset: str | None) -> None:
    assert charset_from_content_type(header) == charset


def test_utf8_content_type_replaces_only_the_charset() -> None:
    assert (
        utf8_content_type('text/xml; charset="ISO-8859-1"; q=1') == "text/xml; q=1; charset=utf-8"
    )
    assert utf8_content_type("application/rss+xml") == "application/rss+xml; charset=utf-8"


# --- windows-1252 for latin-1 labels ---


def test_latin1_label_gives_the_typography_the_partner_typed() -> None:
    body = (
        rss("", enc="ISO-8859-1")
        .encode("ascii")
        .replace(b"<title></title>", b"<title>" + TITLE_1252 + b"</title>")
    )
    decoded = decode_feed(body, "application/rss+xml")
    assert decoded.encoding == "windows-1252"
    assert decoded.warnings == ()
    assert title_of(decoded) == TITLE


def test_windows_1252_decodes_every_byte() -> None:
    # The five bytes cp1252 leaves undefined map to the C1 code points (WHATWG).
    decoded = decode_feed(b"<a>\x81\x8d\x8f\x90\x9d \x80</a>", "text/xml; charset=iso-8859-1")
    assert decoded.text == "<a>\x81\x8d\x8f\x90\x9d €</a>"


# --- precedence ---


@pytest.mark.parametrize(
    ("bom", "codec", "encoding"),
    [
        (codecs.BOM_UTF8, "utf-8", "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32-be"),
    ],
)
def test_a_bom_decides(bom: bytes, codec: str, encoding: str) -> None:
    body = bom + rss(TITLE, enc=codec.upper()[:6]).encode(codec)
    decoded = decode_feed(body, "application/rss+xml")
    assert decoded.encoding == encoding
    assert not decoded.text.startswith("\ufeff")
    assert title_of(decoded) == TITLE
    assert decoded.warnings == ()


def test_the_bom_beats_header_and_declaration_with_a_warning() -> None:
    body = codecs.BOM_UTF8 + rss(TITLE, enc="iso-8859-1").encode("utf-8")
    decoded = decode_feed(body, "application/rss+xml; charset=windows-1252")
    assert decoded.encoding == "utf-8"
    assert title_of(decoded) == TITLE
    assert decoded.warnings == (
        "encoding: the HTTP header says 'windows-1252' but the byte order mark says UTF-8;"
        " the XML declaration says 'iso-8859-1' but the byte order mark says UTF-8;"
        " decoded as UTF-8",
    )


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_without_bom_by_their_nul_pattern(codec: str) -> None:
    decoded = decode_feed(rss(TITLE, enc=codec.upper()).encode(codec), "application/rss+xml")
    assert decoded.encoding == codec
    assert title_of(decoded) == TITLE


def test_valid_utf8_beats_a_latin1_header_and_declaration() -> None:
    body = rss(TITLE, enc="ISO-8859-1").encode("utf-8")
    decoded = decode_feed(body, "text/xml; charset=ISO-8859-1")
    assert decoded.encoding == "utf-8"
    assert title_of(decoded) == TITLE
    assert decoded.warnings == (
        "encoding: the HTTP header says 'ISO-8859-1' but the body is valid UTF-8;"
        " the XML declaration says 'ISO-8859-1' but the body is valid UTF-8; decoded as UTF-8",
    )


def test_ascii_under_any_ascii_compatible_label_is_not_a_mislabel() -> None:
    decoded = decode_feed(
        rss("Forced labour", enc="iso-8859-1").encode(), "text/xml; charset=us-ascii"
    )
    assert (decoded.encoding, decoded.warnings) == ("utf-8", ())


def test_the_header_beats_the_declaration() -> None:
    body = rss(CYRILLIC, enc="iso-8859-1").encode("cp1251")
    decoded = decode_feed(body, "application/rss+xml; charset=windows-1251")
    assert decoded.encoding == "cp1251"
    assert title_of(decoded) == CYRILLIC
    assert decoded.warnings == ()


def test_the_declaration_is_used_without_a_header_charset() -> None:
    decoded = decode_feed(rss(CYRILLIC, enc="windows-1251").encode("cp1251"), "application/rss+xml")
    assert (decoded.encoding, title_of(decoded)) == ("cp1251", CYRILLIC)


def test_a_utf8_header_on_8bit_bytes_falls_through_to_the_declaration() -> None:
    body = rss(CYRILLIC, enc="koi8-r").encode("koi8-r")
    decoded = decode_feed(body, "application/rss+xml; charset=UTF-8")
    first_bad = body.index(CYRILLIC[0].encode("koi8-r"))
    assert (decoded.encoding, title_of(decoded)) == ("koi8-r", CYRILLIC)
    assert decoded.warnings == (
        "encoding: the HTTP header says 'UTF-8' but the body is not valid UTF-8"
        f" (byte 0xf0 at offset {first_bad}); decoded as koi8-r",
    )


def test_a_bogus_label_is_reported_and_the_next_candidate_used() -> None:
    body = rss(CYRILLIC, enc="windows-1251").encode("cp1251")
    decoded = decode_feed(body, "application/rss+xml; charset=x-klingon")
    assert (decoded.encoding, title_of(decoded)) == ("cp1251", CYRILLIC)
    assert decoded.warnings == (
        "encoding: unknown charset 'x-klingon' in the HTTP header; decoded as cp1251",
    )


def test_utf7_is_refused() -> None:
    body = b"<a>+ADw-script+AD4-</a>"
    decoded = decode_feed(body, "text/xml; charset=utf-7")
    assert decoded.text == "<a>+ADw-script+AD4-</a>"
    assert decoded.warnings == (
        "encoding: unknown charset 'utf-7' in the HTTP header; decoded as UTF-8",
    )


def test_a_utf16_label_on_8bit_bytes_is_not_believed() -> None:
    body = b"<a>" + TITLE_1252 + b"</a>"
    decoded = decode_feed(body, "text/xml; charset=utf-16")
    assert decoded.text == f"<a>{TITLE}</a>"
    assert decoded.warnings == (
        "encoding: the HTTP header says 'utf-16' but the body is not UTF-16-LE;"
        " decoded as windows-1252",
    )


def test_without_any_label_8bit_text_is_windows_1252() -> None:
    body = (
        rss("", declaration="")
        .encode()
        .replace(b"<title></title>", b"<title>" + TITLE_1252 + b"</title>")
    )
    decoded = decode_feed(body, "text/xml")
    first_bad = body.index(TITLE_1252)
    assert decoded.encoding == "windows-1252"
    assert title_of(decoded) == TITLE
    assert decoded.warnings == (
        "encoding: no charset declared and the body is not valid UTF-8"
        f" (byte 0x93 at offset {first_bad});"
        " decoded as windows-1252",
    )


def test_invalid_bytes_after_a_bom_are_replaced_and_reported() -> None:
    decoded = decode_feed(codecs.BOM_UTF8 + b"<a>caf\xe9</a>", None)
    assert decoded.text == "<a>caf\ufffd</a>"
    assert decoded.warnings == (
        "encoding: the body is not valid UTF-8 (byte 0xe9 at offset 9);"
        " the bad bytes were replaced with U+FFFD; decoded as UTF-8",
    )


# --- HTML ---


@pytest.mark.parametrize(
    "meta",
    [
        '<meta charset="windows-1251">',
        "<meta charset=windows-1251>",
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251" />',
    ],
)
def test_html_meta_labels(meta: str) -> None:
    body = f"<html><head>{meta}<title>{CYRILLIC}</title></head></html>".encode("cp1251")
    decoded = decode_html(body, "text/html")
    assert decoded.encoding == "cp1251"
    assert CYRILLIC in decoded.text


def test_html_header_beats_meta_and_utf8_beats_both() -> None:
    page = f'<meta charset="iso-8859-1"><p>{CYRILLIC}</p>'
    assert (
        decode_html(page.encode("cp1251"), "text/html; charset=windows-1251").encoding == "cp1251"
    )
    decoded = decode_html(page.encode("utf-8"), "text/html; charset=windows-1251")
    assert decoded.encoding == "utf-8"
    assert CYRILLIC in decoded.text


def test_html_list_page_in_windows_1252_through_htmlsource() -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        "<title>Actualit\xe9s</title></head><body><ul>"
        '<li><a href="/n/1">Travail forc\xe9\x01 : 5 \x80</a></li></ul></body></html>'
    ).encode("latin-1")
    selectors = HtmlSelectors(item="li", title="a", link="a@href")
    source = Source(id="page", name="Page", url="https://ngo.example/", type="html", html=selectors)
    parsed = parse(page, "text/html", "https://ngo.example/", source)
    assert parsed.title == "Actualités"
    assert parsed.entries[0].title == "Travail forcé : 5 €"
    assert any("removed 1 control character " in w for w in parsed.warnings)


# --- control characters ---


def test_strip_xml_forbidden_raw_and_references() -> None:
    text = (
        "a\x00b\x01c\x08d\x0be\x0cf\x0eg\x1fh\ufffei\uffffj\ud800k"
        "&#0;&#1;&#x1;&#8;&#x0B;&#11;&#12;&#x1f;&#31;&#00000008;&#xD800;&#57343;&#65534;&#xFFFF;"
    )
    assert strip_xml_forbidden(text) == ("abcdefghijk", 10 + 14)


def test_strip_xml_forbidden_keeps_what_xml_allows() -> None:
    text = (
        "tab\tlf\ncr\r nel\x85 &#9;&#10;&#13;&#32;&#x20;&#xFFFD;&#57344;&#xE000;&#65533;"
        "&#x10FFFF; &amp;#1; &#x1"
    )
    assert strip_xml_forbidden(text) == (text, 0)


def test_strip_xml_forbidden_without_references() -> None:
    assert strip_xml_forbidden("a\x01&#1;", char_refs=False) == ("a&#1;", 1)


def test_control_characters_no_longer_break_the_xml_parser() -> None:
    body = rss("Debt\x0b bondage&#x1; in\x1b kilns&#8;", enc="utf-8").encode()
    with pytest.raises(lxml.etree.XMLSyntaxError):
        lxml.etree.fromstring(body)
    decoded = decode_feed(body, "application/rss+xml; charset=utf-8")
    assert title_of(decoded) == "Debt bondage in kilns"
    assert decoded.warnings == (
        "removed 4 control characters that XML 1.0 forbids (2 raw, 2 as character references)",
    )


def test_json_feed_strings_lose_control_characters() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Watch\u0007",
        "items": [
            {"id": "1", "url": "https://ngo.example/1", "title": "Bonded\u0001 labour\ud800"}
        ],
    }
    body = json.dumps(doc).encode()
    parsed = parse(
        body,
        "application/feed+json",
        "https://ngo.example/f",
        Source(id="j", name="J", url="https://ngo.example/f"),
    )
    assert (parsed.title, parsed.entries[0].title) == ("Watch", "Bonded labour")


# --- UTF-8 for the parsers ---


@pytest.mark.parametrize("content_type", ["application/atom+xml; charset=ISO-8859-1", None])
def test_feedparser_does_not_decode_a_mislabelled_feed_twice(content_type: str | None) -> None:
    # feedparser repairs double-decoded element text itself, but not attributes
    # (links), categories or Atom author names: those show whether it obeyed the
    # header (or, without one, the XML declaration) instead of our decision.
    atom = """<?xml version="1.0" encoding="iso-8859-1"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Observatório</title>
<id>tag:ngo.example,2026:f</id><updated>2026-11-01T00:00:00Z</updated>
<entry><title>Ação contra o trabalho escravo</title><id>tag:ngo.example,2026:1</id>
<updated>2026-11-01T00:00:00Z</updated><link href="https://ngo.example/notícias/ação"/>
<category term="trabalho forçado"/><author><name>João</name></author></entry></feed>"""
    source = Source(id="a", name="A", url="https://ngo.example/f")
    parsed = parse(atom.encode("utf-8"), content_type, "https://ngo.example/f", source)
    entry = parsed.entries[0]
    assert (parsed.title, entry.title, entry.link, entry.tags, entry.author) == (
        "Observatório",
        "Ação contra o trabalho escravo",
        "https://ngo.example/notícias/ação",
        ("trabalho forçado",),
        "João",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "<?xml version='1.0' encoding='ISO-8859-1'?><a/>",
            "<?xml version='1.0' encoding=\"utf-8\"?><a/>",
        ),
        (
            '<?xml version="1.0" encoding="windows-1252" standalone="yes"?>\n<a/>',
            '<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<a/>',
        ),
        ('<?xml version="1.0"?><a/>', '<?xml version="1.0"?><a/>'),
        ("<a/>", '<?xml version="1.0" encoding="utf-8"?><a/>'),
        ("\n<rss/>", '<?xml version="1.0" encoding="utf-8"?>\n<rss/>'),
    ],
)
def test_xml_utf8_rewrites_or_adds_the_declaration(text: str, expected: str) -> None:
    assert Decoded(text=text, encoding="windows-1252").xml_utf8() == expected.encode("utf-8")


def test_xml_utf8_keeps_line_numbers() -> None:
    decoded = decode_feed(rss(TITLE, declaration="").encode("cp1252"), None)
    assert decoded.xml_utf8().decode("utf-8").count("\n") == decoded.text.count("\n")


# --- JSON ---


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        ('{"title": "Trabajo forzoso: niños"}'.encode(), "utf-8"),
        (codecs.BOM_UTF8 + '{"title": "Trabajo forzoso: niños"}'.encode(), "utf-8"),
        ('{"title": "Trabajo forzoso: niños"}'.encode("utf-16-le"), "utf-16-le"),
        (
            codecs.BOM_UTF16_BE + '{"title": "Trabajo forzoso: niños"}'.encode("utf-16-be"),
            "utf-16-be",
        ),
        ('{"title": "Trabajo forzoso: niños"}'.encode("utf-32-be"), "utf-32-be"),
    ],
)
def test_json_is_utf8_16_or_32(body: bytes, encoding: str) -> None:
    decoded = decode_json(body)
    assert (decoded.text, decoded.encoding) == ('{"title": "Trabajo forzoso: niños"}', encoding)


def test_json_in_latin1_is_malformed() -> None:
    with pytest.raises(ParseError) as info:
        decode_json('{"title": "niños"}'.encode("latin-1"))
    assert info.value.kind == FailureKind.MALFORMED
    assert info.value.detail == (
        "JSON Feed is not valid UTF-8 (byte 0xf1 at offset 13); RFC 8259 requires UTF-8"
    )


# --- every encoding fixture ---

ENCODING_FIXTURES = [
    "control_characters.xml",
    "cp1252_declared_latin1.xml",
    "header_latin1_body_utf8.xml",
    "header_utf8_body_latin1.xml",
    "html_list_cp1252_meta.html",
    "jsonfeed_bom_control.json",
    "latin1_no_charset.xml",
    "not_utf8_declared_utf8.xml",
    "spanish_latin1_no_declaration.xml",
    "utf16be_no_bom.xml",
    "utf16le_bom.xml",
    "utf8_bom_declared_latin1.xml",
]


@pytest.mark.parametrize("name", ENCODING_FIXTURES)
def test_every_encoding_fixture_parses_to_clean_text(name: str) -> None:
    spec = json.loads(
        (FEEDS / name.rsplit(".", 1)[0]).with_suffix(".expected.json").read_text("utf-8")
    )
    html = spec.get("html")
    source = Source(
        id="f",
        name="F",
        url=spec["base_url"],
        type="html" if html else "feed",
        html=HtmlSelectors(**html) if html else None,
    )
    parsed = parse((FEEDS / name).read_bytes(), spec["content_type"], spec["base_url"], source)
    assert parsed.entries
    text = " ".join(f"{e.title} {e.summary} {e.content} {e.author or ''}" for e in parsed.entries)
    assert not strip_xml_forbidden(text)[1]
    for mojibake in ("\ufffd", "Ã©", "Ã£", "â€", "\x93", "\x94", "\x96", "\x80"):
        assert mojibake not in text, mojibake
