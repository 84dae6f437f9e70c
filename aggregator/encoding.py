"""Decode fetched bytes to text: reconcile the BOM, the HTTP charset and the document's own label.

Purpose: one place that decides which character encoding a feed or news page is in,
so that parse.py and htmlsource.py hand correct Unicode to feedparser and lxml.
Input: the body bytes and the HTTP Content-Type header (or None).
Output: a `Decoded` value (text, the encoding used, warnings for the operator).
Failure: none for feeds and pages — a mislabelled body is decoded anyway and the
mislabel becomes a warning. A JSON Feed that is not UTF-8/16/32 raises `ParseError`
(MALFORMED), because RFC 8259 §8.1 allows nothing else.

Precedence, first match wins (see `decode_feed` for why UTF-8 comes second):

1. a byte order mark (UTF-8, UTF-16, UTF-32), or without one the XML 1.0 Appendix F
   pattern of NUL bytes that only UTF-16/UTF-32 text starting with "<" produces;
2. the body decodes as strict UTF-8;
3. the charset parameter of the HTTP Content-Type;
4. the document's own label: the XML declaration, or for HTML `<meta charset>` /
   `<meta http-equiv="Content-Type" content="…; charset=…">`;
5. windows-1252.

Labels are normalised with `codecs.lookup`, then as the WHATWG Encoding Standard does:
iso-8859-1, latin-1 and us-ascii mean windows-1252 (so the C1 bytes 0x80–0x9F give the
curly quotes, dashes and euro sign the partner typed, not invisible control
characters), gb2312/gbk mean gb18030, and so on. An unknown or non-text label (a typo,
"utf-7", "base64") is reported and the next candidate is tried.

XML 1.0 §2.2 forbids most C0 control characters, U+FFFE, U+FFFF and lone surrogates,
even as numeric character references; one of them makes a conforming parser reject
the whole feed. `decode_feed` and `decode_html` remove them (and `&#x1;`-style
references to them) and say how many, since they never carry meaning in news text.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass

from aggregator.errors import ParseError
from aggregator.models import FailureKind

__all__ = [
    "Decoded",
    "charset_from_content_type",
    "decode_feed",
    "decode_html",
    "decode_json",
    "normalise_label",
    "strip_xml_forbidden",
    "utf8_content_type",
]

WINDOWS_1252 = "windows-1252"

# UTF-32 before UTF-16: the UTF-32-LE mark FF FE 00 00 starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# XML 1.0 Appendix F (and RFC 4627 §3 for JSON): which of the first four bytes are NUL
# tells UTF-16/UTF-32 without a BOM apart, because the document starts with ASCII.
_WIDE_PATTERNS: dict[tuple[bool, ...], str] = {
    (True, True, True, False): "utf-32-be",
    (False, True, True, True): "utf-32-le",
    (True, False, True, False): "utf-16-be",
    (False, True, False, True): "utf-16-le",
}

# WHATWG labels Python does not know, and MySQL's name for UTF-8.
_ALIASES = {
    "unicode-1-1-utf-8": "utf-8",
    "unicode11utf8": "utf-8",
    "unicode20utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "utf8mb4": "utf-8",
    "utf8mb3": "utf-8",
    "x-mac-roman": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-ukrainian": "mac-cyrillic",
    "iso-8859-8-i": "iso8859-8",
    "csiso88598i": "iso8859-8",
    "logical": "iso8859-8",
    "x-sjis": "cp932",
    "ms932": "cp932",
    "windows-31j": "cp932",
    "x-gbk": "gb18030",
    "dos-874": "cp874",
    "x-cp1250": "cp1250",
    "x-cp1251": "cp1251",
    "x-cp1252": "cp1252",
    "x-euc-jp": "euc_jp",
}
# Python codec name -> the decoder WHATWG uses for that label (a superset of it).
_WHATWG = {
    "iso8859-1": WINDOWS_1252,
    "ascii": WINDOWS_1252,
    "cp1252": WINDOWS_1252,
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
    "utf-8-sig": "utf-8",
    # A label without byte order: WHATWG reads it as little-endian, like most writers.
    "utf-16": "utf-16-le",
    "utf-32": "utf-32-le",
}
# Codecs Python has but that are no character set of a document. UTF-7 is refused as
# browsers refuse it: it smuggles "<script>" past filters that look for "<".
_REFUSED = frozenset(
    {
        "utf-7",
        "unicode-escape",
        "raw-unicode-escape",
        "idna",
        "punycode",
        "undefined",
        "mbcs",
        "oem",
    }
)

# windows-1252 as WHATWG defines it: Python's cp1252 plus the five bytes it leaves
# undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) mapped to the C1 code points of the same
# value, so the table decodes any byte string and never fails.
_WINDOWS_1252_TABLE = "".join(
    bytes([i]).decode("cp1252", errors="replace").replace("\ufffd", chr(i)) for i in range(256)
)

_CHARSET_PARAM = re.compile(r"""(?:^|;)\s*charset\s*=\s*["']?([^"';,\s]*)""", re.IGNORECASE)
_CHARSET_PARAM_FULL = re.compile(r""";\s*charset\s*=\s*("[^"]*"|'[^']*'|[^;]*)""", re.IGNORECASE)
# The XML declaration must come first (XML 1.0 §2.8); leading white space is an error
# the parser reports, but it does not hide the label from us.
_XML_DECLARED = re.compile(
    r"""\A\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']\s*([^"'\s]*)\s*["']""", re.IGNORECASE
)
_XML_DECLARATION = re.compile(r"\A(\s*<\?xml\b[^>]*?)\?>", re.IGNORECASE)
_ENCODING_PSEUDO_ATTRIBUTE = re.compile(r"""\bencoding\s*=\s*(?:"[^"]*"|'[^']*')""")
_UTF8_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
# Both forms of the HTML label; the HTML standard prescans 1024 bytes, we look a little
# further because CMS templates put long comments and scripts before the <meta>.
_META_CHARSET = re.compile(r"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([^"'\s;/>]+)""", re.IGNORECASE)
_HTML_PRESCAN = 4096

# XML 1.0 §2.2 Char: everything but these may appear. Tab, LF and CR are allowed.
_XML_FORBIDDEN = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]")
# Numeric character references to the same code points (§4.1 WFC: Legal Character).
_XML_FORBIDDEN_REF = re.compile(
    r"""&\#(?:
        [xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F]|[dD][89a-fA-F][0-9a-fA-F]{2}|[fF]{3}[eEfF])
      | 0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|6553[45]
            |5529[6-9]|55[3-9][0-9]{2}|56[0-9]{3}|57[0-2][0-9]{2}|573[0-3][0-9]|5734[0-3])
    );""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A body decoded to text.

    `text` never starts with a byte order mark; `encoding` is the decoder used (a
    Python codec name, or "windows-1252"); `warnings` are one-line messages for the
    source's health, empty when the labels agreed with the bytes.
    """

    text: str
    encoding: str
    warnings: tuple[str, ...] = ()

    def xml_utf8(self) -> bytes:
        """The text as UTF-8 bytes whose XML declaration says encoding="utf-8".

        An XML parser given these bytes reads exactly `text`: a declaration naming
        another encoding is rewritten, and one is added when there is none (on the
        same line as the first one of the body, so parser line numbers still match
        the partner's file).
        """
        match = _XML_DECLARATION.match(self.text)
        if match is None:
            return (_UTF8_DECLARATION + self.text).encode("utf-8")
        declaration = _ENCODING_PSEUDO_ATTRIBUTE.sub('encoding="utf-8"', match.group(1), count=1)
        return (declaration + self.text[match.end(1) :]).encode("utf-8")


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header value, as written, or None."""
    match = _CHARSET_PARAM.search(content_type or "")
    return match.group(1) if match and match.group(1) else None


def utf8_content_type(content_type: str) -> str:
    """The same Content-Type with its charset parameter set to utf-8.

    For handing already-decoded UTF-8 bytes to a library (feedparser) that would
    otherwise obey the original header and decode them a second time.
    """
    media_type = _CHARSET_PARAM_FULL.sub("", content_type).strip().rstrip(";").strip()
    return f"{media_type}; charset=utf-8" if media_type else "charset=utf-8"


def normalise_label(label: str) -> str | None:
    """The decoder for an encoding label, or None when the label is unknown or refused.

    >>> normalise_label("ISO-8859-1"), normalise_label("UTF8"), normalise_label("x-bogus")
    ('windows-1252', 'utf-8', None)
    """
    key = label.strip().strip("\"'").lower()
    if not key:
        return None
    key = _ALIASES.get(key, key)
    try:
        name = codecs.lookup(key).name
        "<".encode(name)  # LookupError for bytes-to-bytes codecs: base64, rot13, zlib
    except (LookupError, UnicodeError):
        return None
    if name in _REFUSED:
        return None
    return _WHATWG.get(name, name)


def strip_xml_forbidden(text: str, *, char_refs: bool = True) -> tuple[str, int]:
    """Remove the characters XML 1.0 forbids, and numeric references to them.

    Returns the cleaned text and how many were removed. Tab, LF, CR and the C1
    range U+0080–U+009F are allowed by XML 1.0 and kept. With `char_refs=False`
    only raw characters are removed (for strings that are not XML source).
    """
    text, raw, refs = _strip_counted(text, char_refs=char_refs)
    return text, raw + refs


def _strip_counted(text: str, *, char_refs: bool) -> tuple[str, int, int]:
    text, raw = _XML_FORBIDDEN.subn("", text)
    refs = 0
    if char_refs and "&#" in text:
        text, refs = _XML_FORBIDDEN_REF.subn("", text)
    return text, raw, refs


def decode_feed(body: bytes, content_type: str | None) -> Decoded:
    """Decode an RSS/Atom body, reconciling BOM, HTTP charset and XML declaration.

    Strict UTF-8 is tried before any label because real partners mislabel, and
    mostly in one direction: a CMS or web server configured years ago says
    `charset=ISO-8859-1` (or the XML declaration does) while the application now
    writes UTF-8. Bytes that are not UTF-8 almost never happen to form valid UTF-8
    sequences — any non-ASCII windows-1252 text does not — so a body that decodes
    is UTF-8 whatever its label; for pure ASCII every label gives the same text. The
    opposite mislabel (UTF-8 declared, windows-1252 sent) fails strict UTF-8 and
    falls through to the next candidate.

    Forbidden control characters are removed afterwards (see `strip_xml_forbidden`).
    """
    return _strip(_decode(body, content_type, _xml_label, "the XML declaration"))


def decode_html(body: bytes, content_type: str | None) -> Decoded:
    """Decode an HTML page: BOM, strict UTF-8, HTTP charset, `<meta>` label, windows-1252.

    The same precedence and reasons as `decode_feed`; the document's own label is the
    first `<meta charset>` or `<meta http-equiv="Content-Type">` in the first 4 KiB.
    Control characters XML forbids are removed too, because the page's text ends up
    in our Atom and RSS output, where one of them would make the file unreadable.
    """
    return _strip(_decode(body, content_type, _meta_label, "the <meta> charset"))


def decode_json(body: bytes) -> Decoded:
    """Decode a JSON body as RFC 8259 says: UTF-8, a BOM tolerated (§8.1).

    UTF-16 and UTF-32, which the older RFC 4627 allowed, are recognised by their BOM
    or by the NUL bytes around the first ASCII characters. The HTTP charset is ignored:
    RFC 8259 §11 defines none for application/json. Raises ParseError (MALFORMED) when
    the bytes are not valid in the detected encoding.
    """
    encoding, start = _bom(body)
    if encoding is None:
        encoding, start = _wide_pattern(body) or "utf-8", 0
    try:
        text = body[start:].decode(encoding)
    except UnicodeDecodeError as exc:
        raise ParseError(
            FailureKind.MALFORMED,
            f"JSON Feed is not valid {_display(encoding)} ({_position(exc, start)});"
            " RFC 8259 requires UTF-8",
        ) from exc
    return Decoded(text=text, encoding=encoding)


# --- the decision ---


def _bom(body: bytes) -> tuple[str | None, int]:
    for mark, encoding in _BOMS:
        if body.startswith(mark):
            return encoding, len(mark)
    return None, 0


def _wide_pattern(body: bytes) -> str | None:
    if len(body) < 4:
        return None
    return _WIDE_PATTERNS.get(tuple(byte == 0 for byte in body[:4]))


def _family(encoding: str) -> str:
    """utf-16-le -> utf-16: a label without byte order agrees with either mark."""
    return encoding[:6] if encoding.startswith(("utf-16", "utf-32")) else encoding


def _is_wide(encoding: str) -> bool:
    return encoding.startswith(("utf-16", "utf-32"))


def _display(encoding: str) -> str:
    return encoding.upper() if encoding.startswith("utf") else encoding


def _position(exc: UnicodeDecodeError, offset: int = 0) -> str:
    bad = exc.object[exc.start : exc.start + 1]
    return f"byte 0x{bad.hex()} at offset {exc.start + offset}" if bad else "truncated at the end"


def _decode_with(body: bytes, encoding: str) -> str:
    """Strict decode; windows-1252 through the WHATWG table, which cannot fail."""
    if encoding == WINDOWS_1252:
        return codecs.charmap_decode(body, "strict", _WINDOWS_1252_TABLE)[0]
    return body.decode(encoding)


def _xml_label(head: str) -> str | None:
    match = _XML_DECLARED.match(head[:1024])
    return match.group(1) if match and match.group(1) else None


def _meta_label(head: str) -> str | None:
    match = _META_CHARSET.search(head[:_HTML_PRESCAN])
    return match.group(1) if match else None


def _labels(header: str | None, declared: str | None, where: str) -> list[tuple[str, str]]:
    pairs = ((header, "the HTTP header"), (declared, where))
    return [(label, origin) for label, origin in pairs if label]


def _decode(
    body: bytes, content_type: str | None, find_label: Callable[[str], str | None], where: str
) -> Decoded:
    """Apply the module's precedence; `find_label` reads the document's own label."""
    header = charset_from_content_type(content_type)
    problems: list[str] = []

    # 1. A byte order mark, or the NUL pattern of UTF-16/32 without one.
    encoding, start = _bom(body)
    evidence = "the byte order mark"
    if encoding is None:
        encoding, evidence = _wide_pattern(body), "the NUL bytes between its characters"
    if encoding is not None:
        try:
            text = body[start:].decode(encoding)
        except UnicodeDecodeError as exc:
            text = body[start:].decode(encoding, errors="replace")
            problems.append(
                f"the body is not valid {_display(encoding)} ({_position(exc, start)});"
                " the bad bytes were replaced with U+FFFD"
            )
        for label, origin in _labels(header, find_label(text[:_HTML_PRESCAN]), where):
            name = normalise_label(label)
            if name is None:
                problems.append(f"unknown charset {label!r} in {origin}")
            elif _family(name) != _family(encoding):
                problems.append(f"{origin} says {label!r} but {evidence} says {_display(encoding)}")
        return _result(text, encoding, problems)

    # Without a BOM the label is ASCII, readable whatever the 8-bit encoding is.
    labels = _labels(header, find_label(body[:_HTML_PRESCAN].decode("latin-1")), where)

    # 2. Strict UTF-8 wins over any label (see decode_feed for why).
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    else:
        ascii_only = text.isascii()
        for label, origin in labels:
            name = normalise_label(label)
            if name is None:
                problems.append(f"unknown charset {label!r} in {origin}")
            elif name != "utf-8" and (not ascii_only or not _ascii_compatible(name)):
                problems.append(f"{origin} says {label!r} but the body is valid UTF-8")
        return _result(text, "utf-8", problems)

    # 3./4. The HTTP charset, then the document's own label.
    tried: set[str] = set()
    for label, origin in labels:
        name = normalise_label(label)
        if name is None:
            problems.append(f"unknown charset {label!r} in {origin}")
            continue
        if name in tried:
            continue
        tried.add(name)
        if name == "utf-8":
            problems.append(
                f"{origin} says {label!r} but the body is not valid UTF-8 ({_position(utf8_error)})"
            )
            continue
        if _is_wide(name):
            # Without a BOM or the NUL pattern the text does not start like UTF-16/32.
            problems.append(f"{origin} says {label!r} but the body is not {_display(name)}")
            continue
        try:
            text = _decode_with(body, name)
        except UnicodeDecodeError as exc:
            problems.append(
                f"{origin} says {label!r} but the body is not valid {name} ({_position(exc)})"
            )
            continue
        return _result(text, name, problems)

    # 5. windows-1252: the encoding of undeclared 8-bit text on the web.
    if not labels:
        problems.append(
            f"no charset declared and the body is not valid UTF-8 ({_position(utf8_error)})"
        )
    return _result(_decode_with(body, WINDOWS_1252), WINDOWS_1252, problems)


def _ascii_compatible(encoding: str) -> bool:
    probe = "<?xml encoding=1.0?>"
    try:
        return probe.encode(encoding) == probe.encode("ascii")
    except UnicodeError:
        return False


def _result(text: str, encoding: str, problems: list[str]) -> Decoded:
    if not problems:
        return Decoded(text=text, encoding=encoding)
    warning = f"encoding: {'; '.join(problems)}; decoded as {_display(encoding)}"
    return Decoded(text=text, encoding=encoding, warnings=(warning,))


def _strip(decoded: Decoded) -> Decoded:
    text, raw, refs = _strip_counted(decoded.text, char_refs=True)
    if not raw + refs:
        return decoded
    plural = "s" if raw + refs != 1 else ""
    warning = (
        f"removed {raw + refs} control character{plural} that XML 1.0 forbids"
        f" ({raw} raw, {refs} as character references)"
    )
    return Decoded(text=text, encoding=decoded.encoding, warnings=(*decoded.warnings, warning))
