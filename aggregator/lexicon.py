"""The classification lexicon: load, validate, apply overrides, compile one matcher.

Purpose: turn aggregator/lexicon.toml (or an operator's replacement file) plus the
`[lexicon]` overrides of feeds.toml into a `Lexicon`: every phrase folded, its
meanings (theme term, negative context, kind cue, country name) merged, and ONE
automaton (pyahocorasick) that finds them all in a single pass (DECISIONS.md 58).
Input: the lexicon file (TOML, documented in its own comments) and `LexiconSettings`.
Output: a frozen `Lexicon` with its matcher, an Aho-Corasick automaton.
Failure: `ConfigError` listing every problem of the file or the overrides, each with
its key path and a fix. The lexicon is package data, like a schema, so this module
reads its TOML; operator configuration is still read only by config.py.

Folding (`canonical`): accents removed, case folded, every run of characters other
than a-z and 0-9 becomes one space. It agrees with similarity.fold on letters and
is written for speed (DECISIONS.md 58).
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from aggregator.config import LexiconSettings
from aggregator.errors import ConfigError, ConfigProblem

KINDS = ("news", "event", "publication")
FIELDS = ("title", "summary", "content")
BUILT_IN = "lexicon.toml"
_THEME_RE = re.compile(r"^[a-z][a-z0-9-]{3,40}$")  # >= 4 characters: never a language code
_CODE_RE = re.compile(r"^[A-Z]{2}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_TOP_KEYS = (
    *("version", "scoring", "relevance", "themes", "negative", "neutral", "kinds"),
    *("countries", "language"),
)
# ASCII bytes: letters to lower case, digits kept, everything else a space.
_ASCII_FOLD = bytes(
    c if 48 <= c <= 57 or 97 <= c <= 122 else c + 32 if 65 <= c <= 90 else 32 for c in range(256)
)
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
# Letters NFKD does not decompose into a base letter and marks.
_LETTERS = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th"})
_UNDECOMPOSED = re.compile("[œæøłđðþ]")
# Codes that look like ISO 3166-1 alpha-2 but are reservations, groupings or
# private use: never a country tag.
NOT_ISO = frozenset({"AC", "CP", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XK", "ZZ"})


def canonical(text: str) -> str:
    """Folded text for matching: "Côte d’Ivoire, SDG 8.7" -> "cote d ivoire sdg 8 7".

    Every step runs in C (measured 2-4x faster than per-character Python): NFKD
    splits accents from letters, the marks are dropped, other non-ASCII characters
    become "?", and one byte table lowers letters and turns the rest into spaces.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.casefold())
        if _UNDECOMPOSED.search(text):
            text = text.translate(_LETTERS)
        text = _COMBINING.sub("", text).encode("ascii", "replace").decode("ascii")
    return " ".join(text.encode("ascii").translate(_ASCII_FOLD).decode("ascii").split())


@dataclass(slots=True)
class Phrase:
    """Everything one folded phrase means; built while loading, then read-only."""

    themes: dict[str, float] = field(default_factory=dict)  # theme ("" = none) -> weight
    term: str = ""  # the phrase as written in the lexicon, for `Match.term`
    negative: float = 0.0
    negative_term: str = ""
    kinds: dict[str, float] = field(default_factory=dict)
    country: str | None = None
    neutral: bool = False  # means nothing; swallows the phrases inside it ("se trata de")
    # Set once the lexicon is built (`finish`): read on every match.
    weight: float = 0.0  # the heaviest of `themes`
    named_themes: tuple[str, ...] = ()  # `themes` without "" (relevance only)

    def finish(self) -> None:
        self.weight = max(self.themes.values(), default=0.0)
        self.named_themes = tuple(theme for theme in self.themes if theme)


@dataclass(frozen=True, slots=True)
class Lexicon:
    """A validated lexicon. Build it with `Lexicon.load()`; share one per run."""

    phrases: Mapping[str, Phrase]
    themes: tuple[str, ...]  # in lexicon order
    threshold: float
    kind_threshold: float
    content_chars: int
    field_weights: Mapping[str, float]
    kind_paths: Mapping[str, frozenset[str]]
    kind_time: float
    unless: Mapping[str, tuple[str, ...]]  # country code -> folded context phrases
    detect: tuple[str, ...]
    stopwords: Mapping[str, str]  # folded word -> language
    stopword_min: int
    stopword_languages: frozenset[str]
    theme_order: Mapping[str, int]
    automaton: Any = field(compare=False, repr=False)  # the one matcher (pyahocorasick)
    acronyms: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    acronym_codes: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls, path: str | Path | None = None, *, overrides: LexiconSettings | None = None
    ) -> Lexicon:
        """Read `path` (default: the built-in lexicon) and apply `overrides`."""
        if path is None and overrides is not None and overrides.file is not None:
            path = overrides.file
        if path is None:
            text = resources.files("aggregator").joinpath(BUILT_IN).read_text(encoding="utf-8")
            where = BUILT_IN
        else:
            where = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(where, [ConfigProblem("(file)", f"cannot read: {exc}")]) from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problem = ConfigProblem("(syntax)", str(exc), "fix the TOML syntax at that line")
            raise ConfigError(where, [problem]) from exc
        return _Builder(where).build(data, overrides)


@cache
def country_names() -> dict[str, str]:
    """Folded names of every ISO 3166-1 country in en, fr and es -> alpha-2 code.

    From pycountry (DECISIONS.md 38, 59): each country's name, common and official name,
    and their French and Spanish translations. ISO writes some names inverted ("Korea,
    Republic of", "Salomon, Îles"): both the part before the comma and the reordered
    name are kept; parenthesised parts are dropped ("Holy See (Vatican City State)").
    The lexicon's `skip` list removes the forms that are ambiguous alone ("Korea").
    """
    import gettext

    import pycountry  # imported here: only matching needs it

    translations = [
        gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
        for language in ("fr", "es")
    ]
    names: dict[str, str] = {}
    for country in pycountry.countries:
        english = [getattr(country, a, None) for a in ("name", "common_name", "official_name")]
        for name in (n for n in english if n):
            for text in (name, *(t.gettext(name) for t in translations)):
                text = re.sub(r"\s*\([^)]*\)", "", text)
                forms = [text]
                if ", " in text:
                    head, _, tail = text.partition(", ")
                    forms += [head, f"{tail} {head}"]
                for form in forms:
                    folded = canonical(form)
                    if folded:
                        names.setdefault(folded, country.alpha_2)
    return names


def automaton(phrases: Mapping[str, object]) -> Any:
    """An Aho-Corasick automaton of " phrase " for every phrase (DECISIONS.md 58).

    Folded text has exactly one space between words, so matching " phrase " in
    " text " finds whole words only, and finds every phrase in one pass, overlapping
    ones included (the caller picks among them).
    """
    import ahocorasick

    machine = ahocorasick.Automaton()
    for phrase in phrases:
        machine.add_word(f" {phrase} ", phrase)
    machine.make_automaton()
    return machine


class _Builder:
    """Validates lexicon data key by key, collecting every problem."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[ConfigProblem] = []
        self.phrases: dict[str, Phrase] = {}
        self.themes: list[str] = []
        self.skip: set[str] = set()  # folded country names never matched alone
        self.acronyms: dict[str, str] = {}  # case-sensitive acronym -> code

    def problem(self, key: str, message: str, hint: str = "") -> None:
        self.problems.append(ConfigProblem(key, message, hint))

    def table(self, data: object, key: str) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(key, "must be a table", f"write it as [{key}]")
            return {}
        return data

    def number(self, value: object, key: str, *, low: float = 0.0, high: float = 10.0) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
            self.problem(
                key, f"expected a number above {low:g} and at most {high:g}, got {value!r}"
            )
            return 0.0
        return float(value)

    def folded(self, phrase: str, key: str) -> str:
        folded = canonical(phrase)
        if not folded:
            self.problem(key, f"{phrase!r} has no letters or digits", "remove it")
        return folded

    def entry(self, folded: str) -> Phrase:
        return self.phrases.setdefault(folded, Phrase())

    def add_term(self, theme: str, phrase: str, weight: float, key: str, language: str) -> None:
        variants = {phrase}
        if language in ("en", "config"):  # British and US spelling, both ways
            variants |= {phrase.replace("labour", "labor"), phrase.replace("labor", "labour")}
        for variant in variants:
            folded = self.folded(variant, key)
            if folded:
                entry = self.entry(folded)
                entry.themes[theme] = weight  # a later table (an override) replaces
                entry.term = entry.term or variant

    def add_negative(self, phrase: str, weight: float, key: str, language: str) -> None:
        variants = {phrase}
        if language in ("en", "config"):
            variants |= {phrase.replace("labour", "labor"), phrase.replace("labor", "labour")}
        for variant in variants:
            folded = self.folded(variant, key)
            if folded:
                entry = self.entry(folded)
                entry.negative = weight
                entry.negative_term = entry.negative_term or variant

    def weighted(self, data: object, key: str) -> dict[str, float]:
        """A table of phrase = weight."""
        out: dict[str, float] = {}
        for phrase, weight in self.table(data, key).items():
            out[phrase] = self.number(weight, f"{key}.{phrase!r}")
        return out

    def build(self, data: dict[str, Any], overrides: LexiconSettings | None) -> Lexicon:
        for key in data:
            if key not in _TOP_KEYS:
                self.problem(key, "unknown key", f"use one of: {', '.join(_TOP_KEYS)}")
        if data.get("version") != 1:
            self.problem("version", f"expected version = 1, got {data.get('version')!r}")
        scoring = self.table(data.get("scoring"), "scoring")
        fields = self.table(scoring.get("fields"), "scoring.fields")
        field_weights = {f: self.number(fields.get(f, 1.0), f"scoring.fields.{f}") for f in FIELDS}
        for name in fields:
            if name not in FIELDS:
                self.problem(
                    f"scoring.fields.{name}", "unknown field", "use title, summary, content"
                )
        threshold = self.number(scoring.get("threshold", 2.0), "scoring.threshold", high=100)
        kind_threshold = self.number(scoring.get("kind_threshold", 2.0), "scoring.kind_threshold")
        chars = scoring.get("content_chars", 3000)
        if isinstance(chars, bool) or not isinstance(chars, int) or chars < 0:
            self.problem("scoring.content_chars", f"expected a whole number >= 0, got {chars!r}")
            chars = 0
        for language, table in self.table(data.get("relevance"), "relevance").items():
            key = f"relevance.{language}"
            for phrase, weight in self.weighted(table, key).items():
                self.add_term("", phrase, weight, f"{key}.{phrase!r}", language)
        for theme, languages in self.table(data.get("themes"), "themes").items():
            self.theme(theme, f"themes.{theme}")
            for language, table in self.table(languages, f"themes.{theme}").items():
                key = f"themes.{theme}.{language}"
                self.language_key(language, key)
                for phrase, weight in self.weighted(table, key).items():
                    self.add_term(theme, phrase, weight, f"{key}.{phrase!r}", language)
        for language, table in self.table(data.get("negative"), "negative").items():
            key = f"negative.{language}"
            for phrase, weight in self.weighted(table, key).items():
                self.add_negative(phrase, weight, f"{key}.{phrase!r}", language)
        for language, phrases in self.table(data.get("neutral"), "neutral").items():
            key = f"neutral.{language}"
            if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
                self.problem(key, "expected a list of phrases")
                continue
            for phrase in phrases:
                folded = self.folded(phrase, key)
                if folded:
                    self.entry(folded).neutral = True
        paths, time = self.kinds(self.table(data.get("kinds"), "kinds"))
        unless = self.countries(self.table(data.get("countries"), "countries"))
        detect, stopwords, minimum = self.language(self.table(data.get("language"), "language"))
        if overrides is not None:
            threshold = self.apply(overrides, threshold)
        if self.problems:
            raise ConfigError(self.where, self.problems)
        for name, code in country_names().items():
            entry = self.phrases.get(name)
            if name in self.skip:
                continue
            if entry is None:
                self.phrases[name] = Phrase(country=code)
            elif entry.country is None and not entry.neutral:
                entry.country = code
        for entry in self.phrases.values():
            entry.finish()
        return Lexicon(
            phrases=self.phrases,
            themes=tuple(self.themes),
            threshold=threshold,
            kind_threshold=kind_threshold,
            content_chars=chars,
            field_weights=field_weights,
            kind_paths=paths,
            kind_time=time,
            unless=unless,
            detect=detect,
            stopwords=stopwords,
            stopword_min=minimum,
            stopword_languages=frozenset(stopwords.values()),
            theme_order={theme: n for n, theme in enumerate(self.themes)},
            automaton=automaton(self.phrases),
            acronyms=(
                re.compile(
                    r"(?<![\w.])(?:" + "|".join(map(re.escape, self.acronyms)) + r")(?![\w])"
                )
                if self.acronyms
                else None
            ),
            acronym_codes=self.acronyms,
        )

    def theme(self, theme: str, key: str) -> None:
        if not _THEME_RE.fullmatch(theme) or theme in KINDS or theme.startswith("country-"):
            self.problem(
                key,
                f"{theme!r} is not a usable theme slug",
                "use 4-41 lower-case letters, digits and '-', not a kind or country-…",
            )
        elif theme not in self.themes:
            self.themes.append(theme)

    def language_key(self, language: str, key: str) -> None:
        if not _LANG_RE.fullmatch(language):
            self.problem(key, f"{language!r} is not a language code", 'use "en", "fr", "es", …')

    def kinds(self, kinds: dict[str, Any]) -> tuple[dict[str, frozenset[str]], float]:
        paths: dict[str, frozenset[str]] = {}
        time = 0.0
        for kind, table in kinds.items():
            key = f"kinds.{kind}"
            if kind not in KINDS:
                self.problem(key, "unknown kind", f"use one of: {', '.join(KINDS)}")
                continue
            for name, value in self.table(table, key).items():
                if name == "paths":
                    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
                        self.problem(f"{key}.paths", "expected a list of path segments")
                        continue
                    paths[kind] = frozenset(canonical(p) for p in value)
                elif name == "time" and kind == "event":
                    time = self.number(value, f"{key}.time")
                else:
                    self.language_key(name, f"{key}.{name}")
                    for phrase, weight in self.weighted(value, f"{key}.{name}").items():
                        folded = self.folded(phrase, f"{key}.{name}.{phrase!r}")
                        if folded:
                            cues = self.entry(folded).kinds
                            cues[kind] = max(cues.get(kind, 0.0), weight)
        return paths, time

    def countries(self, data: dict[str, Any]) -> dict[str, tuple[str, ...]]:
        for key in data:
            if key not in ("skip", "aliases", "unless", "acronyms"):
                self.problem(
                    f"countries.{key}", "unknown key", "use skip, aliases, unless, acronyms"
                )
        value = data.get("skip", [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem("countries.skip", "expected a list of names")
            value = []
        for phrase in value:
            folded = self.folded(phrase, "countries.skip")
            if folded:
                self.skip.add(folded)
        for phrase, code in self.table(data.get("aliases"), "countries.aliases").items():
            key = f"countries.aliases.{phrase!r}"
            if not isinstance(code, str) or not _CODE_RE.fullmatch(code) or code in NOT_ISO:
                self.problem(key, f"{code!r} is not an ISO 3166-1 alpha-2 code", 'e.g. "BR"')
                continue
            folded = self.folded(phrase, key)
            if folded:
                self.entry(folded).country = code
        for acronym, code in self.table(data.get("acronyms"), "countries.acronyms").items():
            key = f"countries.acronyms.{acronym!r}"
            if not isinstance(code, str) or not _CODE_RE.fullmatch(code) or code in NOT_ISO:
                self.problem(key, f"{code!r} is not an ISO 3166-1 alpha-2 code", 'e.g. "US"')
                continue
            self.acronyms[acronym] = code
        unless: dict[str, tuple[str, ...]] = {}
        for code, value in self.table(data.get("unless"), "countries.unless").items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.problem(f"countries.unless.{code}", "expected a list of phrases")
                continue
            unless[code] = tuple(c for c in (canonical(v) for v in value) if c)
        return unless

    def language(self, data: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, str], int]:
        detect = data.get("detect", ["en", "fr", "es"])
        if not isinstance(detect, list) or not all(
            isinstance(d, str) and _LANG_RE.fullmatch(d) for d in detect
        ):
            self.problem("language.detect", "expected a list of language codes", '["en", "fr"]')
            detect = []
        minimum = data.get("min", 3)
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
            self.problem("language.min", f"expected a whole number >= 1, got {minimum!r}")
            minimum = 3
        stopwords: dict[str, str] = {}
        for language, words in self.table(data.get("stopwords"), "language.stopwords").items():
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                self.problem(f"language.stopwords.{language}", "expected a list of words")
                continue
            for word in words:
                stopwords[canonical(word)] = language
        return tuple(detect), stopwords, minimum

    def apply(self, overrides: LexiconSettings, threshold: float) -> float:
        """Operator overrides: remove phrases, add or re-weight terms and negatives."""
        for phrase in overrides.remove:
            folded = canonical(phrase)
            entry = self.phrases.get(folded)
            if entry is None or not (entry.themes or entry.negative):
                known = [p for p, e in self.phrases.items() if e.themes or e.negative]
                close = difflib.get_close_matches(folded, known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else "check the built-in lexicon"
                self.problem("lexicon.remove", f"{phrase!r} is not a term of the lexicon", hint)
                continue
            entry.themes.clear()
            entry.negative = 0.0
        for theme, phrase, weight in overrides.terms:
            self.theme(theme, f"lexicon.terms.{theme}")
            self.add_term(theme, phrase, weight, f"lexicon.terms.{theme}", "config")
        for phrase, weight in overrides.negative:
            self.add_negative(phrase, weight, "lexicon.negative", "config")
        return overrides.threshold if overrides.threshold is not None else threshold


@cache
def default_lexicon() -> Lexicon:
    """The built-in lexicon, loaded once per process."""
    return Lexicon.load()
