"""Read an OPML subscription list safely and plan its import, for `aggregator opml import`.

Purpose: bring a partner list from a feed reader or another aggregator into feeds.toml.
Input: the bytes of an OPML 1.0/1.1/2.0 file; the configured sources.
Output: `read_opml` gives an `OpmlList` (every outline that names a feed, with its
folders and categories, and every outline that was ignored and why); `plan_import`
turns it into the `[[sources]]` fields to append and the outlines skipped, each with
its reason. The CLI appends through configwrite (byte-preserving, re-validated).
Failure: `ParseError` for a file that is refused as a whole (too large, not UTF-8/16
decodable XML, not well-formed, not OPML, or declaring a DOCTYPE). A bad outline is
never an exception: it is skipped with a reason.

Safety, because an OPML file comes from anywhere:

- at most `MAX_OPML_BYTES` are read (the CLI reads one byte more to tell);
- a DOCTYPE is refused before any XML parser sees the text: OPML needs none, and
  refusing it is what rules out external entities (XXE) and entity expansion
  ("billion laughs") whatever the parser version does;
- lxml then parses with `resolve_entities=False`, `no_network=True`, `load_dtd=False`
  and `huge_tree=False` (libxml2's depth and size limits stay on) as a second fence;
- nothing is fetched: URLs are only checked for form.

What an outline becomes (OPML 2.0, http://opml.org/spec2.opml): any outline with an
`xmlUrl` attribute (in any letter case, whatever its `type`, as feed readers do) is a
feed source; its name is `text`, else `title`; `htmlUrl` becomes `home_page`. Tags are
the names of the folders it sits in (outer first), then each part of its `category`
attribute (comma-separated; a path such as `/NGOs/Asia` gives `NGOs` and `Asia`), then
the `--tag` values, without repeats (case-insensitive). Outlines written by `opml
export` also carry `aggregator:id` (kept when free) and, for HTML news lists,
`aggregator:type="html"` with the page in `url` and the selectors. Outlines with
`isComment="true"` are ignored with their children.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree

from aggregator import config as config_mod
from aggregator.config import Source
from aggregator.configwrite import Value, source_block
from aggregator.discover import derive_id
from aggregator.encoding import decode_feed
from aggregator.errors import ConfigError, ParseError
from aggregator.models import FailureKind
from aggregator.normalize import canonical_url
from aggregator.publish.opml import HTML_PREFIX, NS

MAX_OPML_BYTES = 10 * 1024**2
KNOWN_VERSIONS = ("1.0", "1.1", "2.0")
# What may stand before the root element: the XML declaration, PIs, comments, space.
_PROLOG = re.compile(r"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Outline:
    """An outline that names a source: a feed (`xmlUrl`) or our HTML extension."""

    line: int | None
    name: str
    url: str
    type: str = "feed"  # or "html"
    home_page: str | None = None
    tags: tuple[str, ...] = ()
    source_id: str | None = None  # aggregator:id, from `opml export`
    html: tuple[tuple[str, str], ...] = ()  # aggregator:html-* selectors, as written


@dataclass(frozen=True, slots=True)
class Ignored:
    """An outline that is not a source (a note, a link, an included list…)."""

    line: int | None
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class OpmlList:
    version: str
    title: str
    outlines: tuple[Outline, ...]
    ignored: tuple[Ignored, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NewSource:
    """A source to append: its id and its `[[sources]]` fields, in order."""

    outline: Outline
    id: str
    fields: tuple[tuple[str, Value], ...]
    notes: tuple[str, ...] = ()  # what was left out and why


@dataclass(frozen=True, slots=True)
class Skipped:
    """An outline not imported. `refused`: it is unusable; else it is already there."""

    line: int | None
    name: str
    url: str
    reason: str
    refused: bool


@dataclass(frozen=True, slots=True)
class ImportPlan:
    added: tuple[NewSource, ...]
    skipped: tuple[Skipped, ...]

    @property
    def refused(self) -> tuple[Skipped, ...]:
        return tuple(s for s in self.skipped if s.refused)

    @property
    def existing(self) -> tuple[Skipped, ...]:
        return tuple(s for s in self.skipped if not s.refused)


# --- reading ---


def _refuse(kind: FailureKind, detail: str) -> ParseError:
    return ParseError(kind, detail)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _text(value: str | None) -> str:
    return " ".join((value or "").split())


def _attributes(element: etree._Element) -> tuple[dict[str, str], dict[str, str]]:
    """(plain attributes by lower-case name, our namespace's attributes by name)."""
    plain: dict[str, str] = {}
    ours: dict[str, str] = {}
    for key, value in element.attrib.items():
        name = str(key)
        if name.startswith("{"):
            uri, _, local = name[1:].partition("}")
            if uri == NS:
                ours[local] = str(value)
        else:
            plain.setdefault(name.lower(), str(value))
    return plain, ours


def _categories(value: str | None) -> list[str]:
    tags = []
    for category in (value or "").split(","):
        tags += [part.strip() for part in category.split("/") if part.strip()]
    return tags


def read_opml(data: bytes) -> OpmlList:
    """Parse an OPML document (see the module docstring). Raises ParseError."""
    if len(data) > MAX_OPML_BYTES:
        raise _refuse(
            FailureKind.TOO_LARGE,
            f"the file is larger than {MAX_OPML_BYTES // 1024**2} MiB;"
            " subscription lists are far smaller",
        )
    if not data.strip():
        raise _refuse(FailureKind.EMPTY, "the file is empty")
    decoded = decode_feed(data, None)
    prolog = _PROLOG.match(decoded.text)
    rest = decoded.text[prolog.end() if prolog else 0 :]
    if _DOCTYPE.match(rest):
        raise _refuse(
            FailureKind.MALFORMED,
            "the file declares a DOCTYPE; OPML needs none, and one is refused so that no"
            " entity is ever expanded or loaded (XXE, billion laughs)",
        )
    try:
        root = etree.fromstring(decoded.xml_utf8(), _parser())
    except etree.XMLSyntaxError as exc:
        raise _refuse(FailureKind.MALFORMED, f"not well-formed XML: {exc}") from exc
    if root.tag != "opml":
        raise _refuse(FailureKind.NOT_A_FEED, f"not an OPML file: the root element is <{root.tag}>")
    warnings: list[str] = list(decoded.warnings)
    version = (root.get("version") or "").strip()
    if version not in KNOWN_VERSIONS:
        warnings.append(f"OPML version {version or '(none)'!r} is not 1.0, 1.1 or 2.0; read as 2.0")
    body = root.find("body")
    if body is None:
        raise _refuse(FailureKind.NOT_A_FEED, "not an OPML file: it has no <body>")
    title = _text(root.findtext("head/title"))
    outlines: list[Outline] = []
    ignored: list[Ignored] = []
    _walk(body, (), outlines, ignored)
    return OpmlList(version or "2.0", title, tuple(outlines), tuple(ignored), tuple(warnings))


def _walk(
    parent: etree._Element,
    folders: tuple[str, ...],
    outlines: list[Outline],
    ignored: list[Ignored],
) -> None:
    for element in parent:
        if element.tag != "outline":
            continue
        plain, ours = _attributes(element)
        name = _text(plain.get("text")) or _text(plain.get("title"))
        line = element.sourceline if isinstance(element.sourceline, int) else None
        children = any(child.tag == "outline" for child in element)
        if plain.get("iscomment", "").strip().lower() == "true":
            ignored.append(Ignored(line, name, "commented out (isComment)"))
            continue
        xml_url = plain.get("xmlurl", "").strip()
        tags = (*folders, *_categories(plain.get("category")))
        home = plain.get("htmlurl", "").strip() or None
        if xml_url:
            outlines.append(Outline(line, name, xml_url, "feed", home, tags, ours.get("id")))
        elif ours.get("type") == "html":
            selectors = tuple(
                (key.removeprefix(HTML_PREFIX), value)
                for key, value in ours.items()
                if key.startswith(HTML_PREFIX)
            )
            url = plain.get("url", "").strip()
            outlines.append(Outline(line, name, url, "html", home, tags, ours.get("id"), selectors))
        elif not children:
            kind = plain.get("type", "").strip()
            what = f"type {kind!r}" if kind else "no type"
            ignored.append(Ignored(line, name, f"no xmlUrl ({what}): not a feed"))
        if children:
            _walk(element, (*folders, name) if name and not xml_url else folders, outlines, ignored)


# --- planning ---


def _http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _unique_tags(tags: Sequence[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for tag in tags:
        tag = " ".join(tag.split())
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            out.append(tag)
    return tuple(out)


_HTML_KEYS = config_mod.documented_keys()["sources.html"]
_CHECK_HEADER = '[aggregator]\ntitle = "check"\npublic_url = "https://check.invalid/"\n\n'


def _selectors(outline: Outline) -> tuple[dict[str, str | bool], list[str]]:
    selectors: dict[str, str | bool] = {}
    notes = []
    for key, value in outline.html:
        if key not in _HTML_KEYS:
            notes.append(f"unknown selector attribute aggregator:{HTML_PREFIX}{key} left out")
        elif key == "day_first":
            selectors[key] = value.strip().lower() != "false"
        elif value.strip():
            selectors[key] = value.strip()
    return selectors, notes


def _problem(block: str) -> str | None:
    """Why one block alone does not load (None when it does): checked before appending."""
    try:
        config_mod.loads(_CHECK_HEADER + block, "opml-import-check.toml")
    except ConfigError as exc:
        return "; ".join(f"{p.key.split('.', 1)[-1]}: {p.message}" for p in exc.problems)
    return None


def plan_import(
    opml: OpmlList, existing: Sequence[Source], extra_tags: Sequence[str] = ()
) -> ImportPlan:
    """Which outlines become sources (ids unique, like `add`), and why others do not."""
    configured = {canonical_url(s.url): s.id for s in existing}
    taken = {s.id for s in existing}
    first_line: dict[str | None, int | None] = {}
    added: list[NewSource] = []
    skipped = [Skipped(i.line, i.name, "", i.reason, True) for i in opml.ignored]
    for outline in opml.outlines:
        what = "xmlUrl" if outline.type == "feed" else "url"

        def refuse(reason: str, outline: Outline = outline) -> None:
            skipped.append(Skipped(outline.line, outline.name, outline.url, reason, True))

        if not outline.url:
            refuse(f"an HTML source without its page ({what})")
            continue
        if not _http_url(outline.url):
            refuse(f"{what} {outline.url!r} is not an absolute http(s) URL")
            continue
        key = canonical_url(outline.url)
        if key in configured:
            skipped.append(
                Skipped(
                    outline.line,
                    outline.name,
                    outline.url,
                    f"already configured as source {configured[key]!r}",
                    False,
                )
            )
            continue
        if key in first_line:
            where = f"line {first_line[key]}" if first_line[key] else "an earlier outline"
            skipped.append(
                Skipped(outline.line, outline.name, outline.url, f"repeats {where}", False)
            )
            continue
        notes: list[str] = []
        selectors: dict[str, str | bool] = {}
        if outline.type == "html":
            selectors, notes = _selectors(outline)
            missing = [k for k in ("item", "title", "link") if k not in selectors]
            if missing:
                refuse(f"an HTML source without its {', '.join(missing)} selector(s)")
                continue
        name = outline.name or urlsplit(outline.url).hostname or outline.url
        hint = outline.source_id
        if hint and config_mod.is_source_id(hint) and hint not in taken:
            source_id = hint
        else:
            source_id = derive_id(outline.url, name, taken)
            if hint and hint != source_id:
                notes.append(f"id {hint!r} is taken or invalid here: {source_id!r} instead")
        fields: list[tuple[str, Value]] = [("id", source_id), ("name", name)]
        if outline.type == "html":
            fields.append(("type", "html"))
        fields.append(("url", outline.url))
        if outline.home_page:
            if _http_url(outline.home_page):
                fields.append(("home_page", outline.home_page))
            else:
                notes.append(f"htmlUrl {outline.home_page!r} is not an http(s) URL: left out")
        tags = _unique_tags((*outline.tags, *extra_tags))
        if tags:
            fields.append(("tags", tags))
        if selectors:
            fields.append(("html", selectors))
        problem = _problem(source_block(fields))
        if problem is not None:
            refuse(f"does not make a valid source: {problem}")
            continue
        taken.add(source_id)
        first_line[key] = outline.line
        added.append(NewSource(outline, source_id, tuple(fields), tuple(notes)))
    skipped.sort(key=lambda s: s.line or 0)
    return ImportPlan(tuple(added), tuple(skipped))
