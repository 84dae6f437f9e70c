"""Read and validate feeds.toml once, into frozen dataclasses.

Every problem is collected (unknown key, wrong type, duplicate id, bad URL, bad
duration or size, missing key, HTML source without selectors) and raised together
as one `ConfigError`, each with its key path, the line it is on, and a fix. No other
module reads the operator's TOML (lexicon.py reads the classification lexicon, which
is package data; `[lexicon]` is checked here by loading it).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aggregator.errors import ConfigError, ConfigProblem

IPNetwork = IPv4Network | IPv6Network
SOURCE_TYPES = ("feed", "html")
FILTERS = ("topic", "all")  # topic: keep forced-labour items only; all: keep everything
DEFAULT_INTERVAL = timedelta(minutes=30)
DEFAULT_MAX_INTERVAL = timedelta(hours=24)
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_DURATION_RE = re.compile(r"(\d+)\s*(d|h|m|s)")
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}


@dataclass(frozen=True, slots=True)
class HtmlSelectors:
    """CSS selectors that turn an HTML news list into entries.

    `link` (and optionally the others) may end in `@attr` to take an attribute
    instead of the element's text, e.g. `h3 a@href` or `time@datetime`. `group`
    selects month headings on the page (not inside items) whose month and year
    complete day-only item dates; `id` selects a stable identifier inside the item
    (`@data-id` reads the item's own attribute). See docs/CONFIG.md.
    """

    item: str
    title: str
    link: str
    date: str | None = None
    date_format: str | None = None
    summary: str | None = None
    group: str | None = None
    id: str | None = None
    day_first: bool = True


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    name: str
    url: str
    type: str = "feed"
    home_page: str | None = None
    tags: tuple[str, ...] = ()
    interval: timedelta = DEFAULT_INTERVAL
    timeout: timedelta = timedelta(seconds=20)
    max_bytes: int = 10 * 1024**2
    lenient: bool = False
    max_interval: timedelta = DEFAULT_MAX_INTERVAL
    stale_after: timedelta = timedelta(days=60)
    enabled: bool = True
    html: HtmlSelectors | None = None
    block_titles: tuple[str, ...] = ()  # regular expressions; a match drops the entry
    block_urls: tuple[str, ...] = ()
    filter: str = "topic"  # "all" for a dedicated forced-labour source (DECISIONS.md 62)


@dataclass(frozen=True, slots=True)
class LexiconSettings:
    """`[lexicon]`: the operator's changes to the classification lexicon (classify.py).

    `file` replaces the built-in lexicon; `terms` adds or re-weights phrases of a
    theme (theme, phrase, weight); `negative` adds or re-weights negative contexts;
    `remove` drops built-in terms and negative contexts; `threshold` replaces the
    relevance threshold. See docs/CONFIG.md.
    """

    file: Path | None = None
    threshold: float | None = None
    terms: tuple[tuple[str, str, float], ...] = ()
    negative: tuple[tuple[str, float], ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    title: str
    public_url: str
    output_dir: Path
    database: str
    subtitle: str = ""
    contact_url: str | None = None
    language: str = "en"
    max_items: int = 100
    workers: int = 8
    schedule_interval: timedelta = timedelta(minutes=5)
    tag_authority: str = ""
    per_host: int = 2
    allow_networks: tuple[IPNetwork, ...] = ()
    block_titles: tuple[str, ...] = ()  # for every source, on top of each source's own
    block_urls: tuple[str, ...] = ()
    retention: timedelta = timedelta(days=365)  # working-set age; stories stay tombstoned
    tag_feeds: tuple[str, ...] | None = None  # None: a feed for every tag with items
    tag_feed_min_items: int = 1
    websub_hub: str | None = None  # WebSub hub the feeds name and that is pinged on change


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    settings: Settings
    sources: tuple[Source, ...] = field(default_factory=tuple)
    lexicon: LexiconSettings = LexiconSettings()

    def source(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)


# --- value parsers: each returns the value or raises ValueError(message, hint) ---


class _Invalid(ValueError):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_duration(value: object) -> timedelta:
    """'30m', '1h30m', '20s', '2d' -> timedelta (a positive duration)."""
    if not isinstance(value, str):
        raise _Invalid(
            f"expected a duration string, got {type(value).__name__} {value!r}",
            'write it with a unit, e.g. "30m", "1h", "20s"',
        )
    text = value.strip().lower().replace(" ", "")
    pos, seconds = 0, 0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise _Invalid(
            f"{value!r} is not a duration", 'use numbers with units d/h/m/s, e.g. "30m" or "1h30m"'
        )
    if seconds <= 0:
        raise _Invalid(f"{value!r} must be longer than zero", 'e.g. "30m"')
    return timedelta(seconds=seconds)


def parse_size(value: object) -> int:
    """'10MiB', '500KB', '2000000' -> bytes (positive)."""
    if not isinstance(value, str):
        raise _Invalid(
            f"expected a size string, got {type(value).__name__} {value!r}",
            'write it with a unit, e.g. "10MiB" or "500KB"',
        )
    match = _SIZE_RE.match(value)
    if not match:
        raise _Invalid(
            f"{value!r} is not a size", 'use a number and B, KB, MB, KiB or MiB, e.g. "10MiB"'
        )
    size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
    if size <= 0:
        raise _Invalid(f"{value!r} must be larger than zero", 'e.g. "10MiB"')
    return size


def check_url(value: object, *, what: str = "URL") -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a {what} string, got {type(value).__name__}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid(
            f"{value!r} is not an absolute http(s) {what}",
            "write the full address, starting with https://",
        )
    return value.strip()


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("expected a non-empty string")
    return value.strip()


def _optional_text(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {type(value).__name__}")
    return value.strip()


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _Invalid(f"expected a positive whole number, got {value!r}")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {value!r}")
    return value


def _tags(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        raise _Invalid("expected a list of non-empty strings", 'e.g. tags = ["un", "research"]')
    return tuple(t.strip() for t in value)


def _tag_feeds(value: object) -> tuple[str, ...] | None:
    """`"all"`, or a list of tag slugs to publish feeds for."""
    if value == "all":
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Invalid(
            'expected "all" or a list of tag slugs',
            'e.g. tag_feeds = ["forced-labour", "child-labour", "fr", "country-br"]',
        )
    slugs = []
    for tag in value:
        slug = re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")
        if slug != tag:
            raise _Invalid(f"{tag!r} is not a tag slug", f"write it as {slug!r}")
        slugs.append(slug)
    return tuple(slugs)


def _patterns(value: object) -> tuple[str, ...]:
    """Block rules: a list of regular expressions, matched case-insensitively."""
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise _Invalid(
            "expected a list of regular expressions",
            'e.g. block_titles = ["^Job offer", "(?i)vacancy"]',
        )
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _Invalid(
                f"{pattern!r} is not a valid regular expression ({exc})",
                "fix the pattern; escape literal characters such as ( . ? with a backslash",
            ) from None
    return tuple(value)


def _filter(value: object) -> str:
    if value not in FILTERS:
        raise _Invalid(
            f"{value!r} is not a filter",
            'use "topic" (keep forced-labour items only) or "all" (a dedicated source)',
        )
    return str(value)


_WEIGHT_HINT = "a weight is a number above 0 and at most 10; 3 is decisive, 1 supporting"


def _weight(value: object, phrase: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10:
        raise _Invalid(
            f"weight of {phrase!r} must be a number above 0 and at most 10", _WEIGHT_HINT
        )
    return float(value)


def _phrase_weights(value: object, default: float, example: str) -> tuple[tuple[str, float], ...]:
    """A list of phrases (each `default`) or a table of phrase = weight."""
    if isinstance(value, list) and all(isinstance(p, str) and p.strip() for p in value):
        return tuple((p.strip(), default) for p in value)
    if isinstance(value, dict):
        out = []
        for phrase, weight in value.items():
            if not phrase.strip():
                raise _Invalid("a phrase is empty", example)
            out.append((phrase.strip(), _weight(weight, phrase)))
        return tuple(out)
    raise _Invalid("expected a list of phrases or a table of phrase = weight", example)


def _lexicon_terms(value: object) -> tuple[tuple[str, str, float], ...]:
    example = 'e.g. terms = { forced-labour = { "bonded labour in kilns" = 3.0 } }'
    if not isinstance(value, dict):
        raise _Invalid("expected a table of theme = phrases", example)
    out = []
    for theme, phrases in value.items():
        for phrase, weight in _phrase_weights(phrases, 3.0, example):
            out.append((theme, phrase, weight))
    return tuple(out)


def _lexicon_negative(value: object) -> tuple[tuple[str, float], ...]:
    return _phrase_weights(value, 1.0, 'e.g. negative = ["labour party conference"]')


def _phrases(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise _Invalid("expected a list of phrases", 'e.g. remove = ["slavery"]')
    return tuple(p.strip() for p in value)


def _threshold(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
        raise _Invalid(f"expected a number above 0, got {value!r}", "the default is 2.0")
    return float(value)


def _source_type(value: object) -> str:
    if value not in SOURCE_TYPES:
        raise _Invalid(f"{value!r} is not a source type", f"use one of {', '.join(SOURCE_TYPES)}")
    return str(value)


def is_source_id(value: str) -> bool:
    """Whether `value` is a valid source id (lower-case letters, digits and '-')."""
    return bool(_ID_RE.fullmatch(value))


def _source_id(value: object) -> str:
    if not isinstance(value, str) or not is_source_id(value):
        raise _Invalid(
            f"{value!r} is not a valid source id",
            "use lower-case letters, digits and '-', e.g. \"ilo-forced-labour\"",
        )
    return value


def _database(value: object) -> str:
    text = _text(value)
    if not text.startswith("sqlite:///"):
        raise _Invalid(
            f"{text!r} is not a supported database URL",
            'use an SQLite URL such as "sqlite:///data/aggregator.sqlite"',
        )
    return text


def _language(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*", value):
        raise _Invalid(f"{value!r} is not a language tag", 'use a BCP 47 tag such as "en" or "fr"')
    return value


def _networks(value: object) -> tuple[IPNetwork, ...]:
    """["127.0.0.1", "10.0.0.0/8"] -> networks the fetcher may connect to though private."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(
            "expected a list of IP addresses or networks", 'e.g. allow_networks = ["127.0.0.1"]'
        )
    networks = []
    for item in value:
        try:
            networks.append(ip_network(item.strip(), strict=False))
        except ValueError:
            raise _Invalid(
                f"{item!r} is not an IP address or network",
                'write an address such as "127.0.0.1" or a network such as "10.1.0.0/16"',
            ) from None
    return tuple(networks)


Parser = Callable[[object], Any]

_SETTINGS_KEYS: dict[str, Parser] = {
    "title": _text,
    "subtitle": _optional_text,
    "public_url": lambda v: check_url(v),
    "contact_url": lambda v: check_url(v),
    "output_dir": _text,
    "database": lambda v: _database(v),
    "language": _language,
    "max_items": _positive_int,
    "workers": _positive_int,
    "schedule_interval": parse_duration,
    "tag_authority": _text,
    "per_host": _positive_int,
    "allow_networks": _networks,
    "block_titles": _patterns,
    "block_urls": _patterns,
    "retention": parse_duration,
    "tag_feeds": _tag_feeds,
    "tag_feed_min_items": _positive_int,
    "websub_hub": lambda v: check_url(v, what="hub URL"),
}
_SETTINGS_REQUIRED = ("title", "public_url")

_DEFAULTS_KEYS: dict[str, Parser] = {
    "interval": parse_duration,
    "timeout": parse_duration,
    "max_bytes": parse_size,
    "lenient": _bool,
    "max_interval": parse_duration,
    "stale_after": parse_duration,
    "enabled": _bool,
    "filter": _filter,
}

_SOURCE_KEYS: dict[str, Parser] = {
    "id": _source_id,
    "name": _text,
    "url": lambda v: check_url(v),
    "type": _source_type,
    "home_page": lambda v: check_url(v),
    "tags": _tags,
    "html": lambda v: v,  # checked separately, key by key
    "block_titles": _patterns,
    "block_urls": _patterns,
    **_DEFAULTS_KEYS,
}
_SOURCE_REQUIRED = ("id", "url")

_HTML_KEYS: dict[str, Parser] = {
    "item": _text,
    "title": _text,
    "link": _text,
    "date": _text,
    "date_format": _text,
    "summary": _text,
    "group": _text,
    "id": _text,
    "day_first": _bool,
}
_HTML_REQUIRED = ("item", "title", "link")

_LEXICON_KEYS: dict[str, Parser] = {
    "file": _text,
    "threshold": _threshold,
    "terms": _lexicon_terms,
    "negative": _lexicon_negative,
    "remove": _phrases,
}

_TOP_KEYS = ("aggregator", "defaults", "sources", "lexicon")


class _LineFinder:
    """Find the line of a key path in the TOML text, for messages (tomllib gives none)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def _table_start(self, table: str, index: int | None) -> int | None:
        if index is None:
            pattern = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]")
        else:
            pattern = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
        seen = -1
        for number, line in enumerate(self.lines):
            if pattern.match(line):
                seen += 1
                if index is None or seen == index:
                    return number
        return None

    def find(self, table: str, index: int | None = None, key: str | None = None) -> int | None:
        start = self._table_start(table, index)
        if start is None:
            return None
        if key is None:
            return start + 1
        key_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(start + 1, len(self.lines)):
            line = self.lines[number]
            if re.match(r"^\s*\[", line):
                break
            if key_re.match(line):
                return number + 1
        return start + 1


class _Collector:
    def __init__(self, text: str) -> None:
        self.problems: list[ConfigProblem] = []
        self.lines = _LineFinder(text)

    def add(
        self,
        key: str,
        message: str,
        hint: str = "",
        *,
        where: tuple[str, int | None, str | None] | None = None,
    ) -> None:
        line = self.lines.find(*where) if where else None
        self.problems.append(ConfigProblem(key, message, hint, line))

    def table(
        self,
        data: dict[str, Any],
        schema: dict[str, Parser],
        required: tuple[str, ...],
        prefix: str,
        where: tuple[str, int | None],
        anchor: str | None = None,
    ) -> dict[str, Any]:
        """Check keys of one table; return the parsed values of the valid ones.

        `anchor` is the key whose line stands for this table (an inline table).
        """
        out: dict[str, Any] = {}
        for key, value in data.items():
            path = f"{prefix}.{key}"
            if key not in schema:
                close = difflib.get_close_matches(key, list(schema), n=1)
                hint = (
                    f"did you mean {close[0]}?"
                    if close
                    else f"remove it, or use one of: {', '.join(sorted(schema))}"
                )
                self.add(
                    path,
                    "unknown key",
                    hint,
                    where=(*where, anchor or key),
                )
                continue
            try:
                out[key] = schema[key](value)
            except _Invalid as exc:
                self.add(path, exc.message, exc.hint, where=(*where, anchor or key))
        for key in required:
            if key not in data:
                self.add(
                    f"{prefix}.{key}", "is required", f"add {key} = ...", where=(*where, anchor)
                )
        return out


def load(path: str | Path) -> Config:
    """Read and validate a config file. Raises ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path),
            [ConfigProblem("(file)", "not found", "create it, or pass --config PATH")],
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [ConfigProblem("(file)", f"cannot read: {exc}")]) from exc
    return loads(text, path)


def loads(text: str, path: str | Path = "feeds.toml") -> Config:
    """Validate config text; relative paths are resolved against `path`'s folder."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            str(path), [ConfigProblem("(syntax)", str(exc), "fix the TOML syntax at that line")]
        ) from exc
    col = _Collector(text)
    for key in data:
        if key not in _TOP_KEYS:
            col.add(key, "unknown table or key", f"use one of: {', '.join(_TOP_KEYS)}")

    raw_settings = data.get("aggregator")
    if not isinstance(raw_settings, dict):
        col.add(
            "aggregator",
            "the [aggregator] table is required",
            "add [aggregator] with title and public_url",
        )
        raw_settings = {}
    settings_values = col.table(
        raw_settings, _SETTINGS_KEYS, _SETTINGS_REQUIRED, "aggregator", ("aggregator", None)
    )

    raw_defaults = data.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        col.add("defaults", "must be a table", "write it as [defaults]")
        raw_defaults = {}
    defaults = col.table(raw_defaults, _DEFAULTS_KEYS, (), "defaults", ("defaults", None))

    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list):
        col.add("sources", "must be an array of tables", "write each source as [[sources]]")
        raw_sources = []
    sources: list[Source] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_sources):
        source = _source(col, raw, index, defaults, seen)
        if source is not None:
            sources.append(source)

    lexicon = _lexicon(col, data.get("lexicon", {}), path)

    if col.problems:
        raise ConfigError(str(path), col.problems)
    return Config(
        path=path,
        settings=_settings(settings_values, path),
        sources=tuple(sources),
        lexicon=lexicon,
    )


def _lexicon(col: _Collector, raw: object, path: Path) -> LexiconSettings:
    """`[lexicon]`: check the keys, then load the lexicon the valid ones describe."""
    if not isinstance(raw, dict):
        col.add("lexicon", "must be a table", "write it as [lexicon]")
        return LexiconSettings()
    values = col.table(raw, _LEXICON_KEYS, (), "lexicon", ("lexicon", None))
    if "file" in values:
        file = Path(values["file"])
        values["file"] = file if file.is_absolute() else path.resolve().parent / file
    settings = LexiconSettings(**values)
    if not (settings.file or settings.terms or settings.remove):
        return settings  # nothing that needs the lexicon itself to check
    from aggregator.lexicon import Lexicon  # only when the lexicon is changed

    try:
        Lexicon.load(overrides=settings)
    except ConfigError as exc:
        for problem in exc.problems:
            if problem.key.startswith("lexicon."):
                key = problem.key.split(".")[1]
                col.add(problem.key, problem.message, problem.hint, where=("lexicon", None, key))
            else:
                col.add(
                    "lexicon.file",
                    f"{exc.path}: {problem.key}: {problem.message}",
                    problem.hint or "fix the lexicon file (see aggregator/lexicon.toml)",
                    where=("lexicon", None, "file"),
                )
    return settings


def _source(
    col: _Collector,
    raw: object,
    index: int,
    defaults: dict[str, Any],
    seen: dict[str, int],
) -> Source | None:
    prefix = f"sources[{index}]"
    where = ("sources", index)
    if not isinstance(raw, dict):
        col.add(prefix, "must be a table", "write each source as [[sources]]")
        return None
    if isinstance(raw.get("id"), str):
        prefix = f"sources[{index}] ({raw['id']})"
    problems_before = len(col.problems)
    values = col.table(raw, _SOURCE_KEYS, _SOURCE_REQUIRED, prefix, where)
    source_id = values.get("id")
    if source_id is not None:
        if source_id in seen:
            col.add(
                f"{prefix}.id",
                f"duplicate source id {source_id!r} (also sources[{seen[source_id]}])",
                "give every source its own id",
                where=(*where, "id"),
            )
        seen.setdefault(source_id, index)
    html = _html(col, values.get("html"), values.get("type", "feed"), prefix, where)
    if "id" not in values or "url" not in values or len(col.problems) > problems_before:
        return None
    merged = {**defaults, **{k: v for k, v in values.items() if k != "html"}}
    merged.setdefault("name", merged["id"])
    interval = merged.get("interval", DEFAULT_INTERVAL)
    max_interval = merged.get("max_interval", DEFAULT_MAX_INTERVAL)
    if max_interval < interval:
        col.add(
            f"{prefix}.max_interval",
            f"max_interval ({max_interval}) is shorter than interval ({interval})",
            "max_interval is the longest wait between checks; make it at least interval",
            where=(*where, "max_interval" if "max_interval" in values else "interval"),
        )
        return None
    return Source(html=html, **merged)


def _html(
    col: _Collector,
    raw: object,
    source_type: str,
    prefix: str,
    where: tuple[str, int],
) -> HtmlSelectors | None:
    if source_type != "html":
        if raw is not None:
            col.add(
                f"{prefix}.html",
                "selectors are only used by HTML sources",
                'add type = "html", or remove html',
                where=(*where, "html"),
            )
        return None
    if raw is None:
        col.add(
            f"{prefix}.html",
            "an HTML source needs selectors",
            'add html = { item = "ol.news > li", title = "h3", link = "a@href", date = ".date",'
            ' date_format = "%d %B %Y", summary = "p" }',
            where=(*where, "type"),
        )
        return None
    if not isinstance(raw, dict):
        col.add(f"{prefix}.html", "must be a table of selectors", where=(*where, "html"))
        return None
    values = col.table(raw, _HTML_KEYS, _HTML_REQUIRED, f"{prefix}.html", where, anchor="html")
    for key in ("item", "title", "link", "date", "summary", "group", "id"):
        selector = values.get(key)
        if selector is None:
            continue
        css = selector.rsplit("@", 1)[0] if "@" in selector else selector
        try:
            from lxml.cssselect import CSSSelector

            CSSSelector(css or "*")
        except Exception as exc:  # cssselect raises several unrelated classes
            col.add(
                f"{prefix}.html.{key}",
                f"{selector!r} is not a CSS selector ({exc})",
                "check the selector in your browser's developer tools",
                where=(*where, "html"),
            )
            values.pop(key)
    if "date_format" in values and "date" not in values:
        col.add(
            f"{prefix}.html.date_format",
            "is set but html.date is not",
            "add html.date = ...",
            where=(*where, "html"),
        )
    if not all(k in values for k in _HTML_REQUIRED):
        return None
    return HtmlSelectors(**values)


def _settings(values: dict[str, Any], path: Path) -> Settings:
    base = path.resolve().parent
    output_dir = Path(values.pop("output_dir", "output"))
    if not output_dir.is_absolute():
        output_dir = base / output_dir
    database = _resolve_database(values.pop("database", "sqlite:///data/aggregator.sqlite"), base)
    public_url = values["public_url"]
    if not public_url.endswith("/"):
        values["public_url"] = public_url + "/"
    if "tag_authority" not in values:
        host = urlsplit(values["public_url"]).hostname or "localhost"
        values["tag_authority"] = f"{host},2026"
    return Settings(output_dir=output_dir, database=database, **values)


def _resolve_database(url: str, base: Path) -> str:
    """Make a relative sqlite:/// path relative to the config file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        file_part = url[len(prefix) :]
        if file_part and file_part != ":memory:" and not file_part.startswith("/"):
            return prefix + str(base / file_part)
    return url


def documented_keys() -> dict[str, tuple[str, ...]]:
    """Every config key by table, for the documentation test."""
    return {
        "aggregator": tuple(_SETTINGS_KEYS),
        "defaults": tuple(_DEFAULTS_KEYS),
        "sources": tuple(_SOURCE_KEYS),
        "sources.html": tuple(_HTML_KEYS),
        "lexicon": tuple(_LEXICON_KEYS),
    }
