"""Near-duplicate titles: is this the same story, re-published by another partner?

Pure functions. A title becomes a `TitleKey`: accent- and case-folded significant
words (stop words of English, French and Spanish dropped, a few spelling variants
folded: labor/labour, organization/organisation), the numbers it contains, and the
words written with a capital inside the title (names: countries, organisations; a
title's first word, or any word of a Title Case headline, only when it is an acronym
or a country in English, French or Spanish, from pycountry). Acronyms match the
initials of capitalised words ("GWC" = "Global Workers' Confederation"), and short
country forms are spelled out ("UK" = "United Kingdom").

Two entries are the same story unless each title names something, or has a number,
that the other lacks ("Argentina ratifies ..." is not "Finland ratifies ...";
"World Day Against Child Labour 2016" is not "... 2017"; "roundup – 3 March" is
not "– 10 March"; one side may add a name or a year: "ILO and Walk Free Foundation
..." is "ILO, Walk Free ..."), and one of these holds:

1. the titles' words overlap: Jaccard >= 0.7, or one contains >= 85 % of the other's
   words and they share at least 4 (words compared fuzzily, rapidfuzz ratio >= 88,
   so plurals and small typos match);
2. published within a few days (`near`), the titles share >= 75 % of the shorter's
   words (at least 5), or >= 60 % (at least 4) and the summaries' first 60
   significant words overlap >= 20 %;
3. published within a few days, the titles share at least 2 words and the summaries
   overlap >= 30 % (a rewritten title over the same text).

The thresholds were set on the labelled set in tests/data/stories (precision first:
a wrong merge hides a story, a missed one shows it twice); see benchmarks/RESULTS.md.
Short titles (fewer than 4 significant words: "Press release", "Statement on
forced labour") never match on the title alone.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import pycountry
from rapidfuzz import fuzz

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NUMBER = re.compile(r"\d+")
# Prefixes partners put in front of a re-published title.
_PREFIX = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*|\([^)]{1,40}\)\s*"
    r"|(?:news|press release|media release|update|breaking|statement|blog|op-ed|"
    r"actualit[eé]s?|communiqu[eé](?: de presse)?|nota de prensa|noticias?|comunicado)"
    r"\s*[:|–—-]\s*)+",
    re.IGNORECASE,
)
# " | Partner name" at the end (a site suffix); dashes are left alone, they are common
# inside real titles ("Weekly roundup – 3 March").
_SUFFIX = re.compile(r"\s+\|\s+[^|]{1,60}$")

_STOP_EN = (
    "a an and are as at be by for from has have in into is it its of on or our over that"
    " the their this to was were will with new news says said about after how why what"
)
_STOP_FR = (
    "au aux avec ce ces dans de des du en et la le les leur leurs l d un une pour par"
    " plus sur qui que est sont son sa ses se nouveau nouvelle"
)
_STOP_ES = (
    "al con del el en entre es la las lo los para por que se su sus un una y o nuevo nueva sobre"
)
STOP_WORDS = frozenset(f"{_STOP_EN} {_STOP_FR} {_STOP_ES}".split())
# Short forms partners use for countries (folded).
_ALIASES = {
    "uk": "united kingdom",
    "usa": "united states",
    "us": "united states",
    "uae": "united arab emirates",
    "drc": "democratic republic congo",
    "rdc": "democratic republic congo",
    "eeuu": "united states",
}
_POSSESSIVE = frozenset({"s"})  # "Workers' " leaves no word; "Workers's" leaves "s"
_VARIANTS = {
    "labor": "labour",
    "organization": "organisation",
    "organizations": "organisations",
    "program": "programme",
    "programs": "programmes",
    "center": "centre",
}
MIN_WORDS = 4
JACCARD = 0.7
CONTAINMENT = 0.85
MIN_SHARED = 4
WORD_RATIO = 88.0
NEAR_CONTAINMENT = 0.75  # published within days: a little less of the title suffices
NEAR_SHARED = 5
SUMMARY_WORDS = 60  # the start of a summary is what partners copy
SUMMARY_MIN = 8  # fewer significant words than this is no evidence
SUMMARY_CONTAINMENT = 0.3  # titles sharing only a few words: summaries overlap this much
PARTIAL_CONTAINMENT = 0.6  # titles sharing most words...
PARTIAL_SUMMARY = 0.2  # ...need less summary overlap
SUMMARY_TITLE_SHARED = 2  # the titles must still share this many words


@dataclass(frozen=True, slots=True)
class TitleKey:
    words: frozenset[str]
    numbers: frozenset[str]
    names: frozenset[str]
    initials: frozenset[str] = frozenset()  # of its runs of capitalised words


def fold(text: str) -> str:
    """Accent- and case-folded text: "Travail forcé" -> "travail force"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@lru_cache(maxsize=1)
def _country_words() -> frozenset[str]:
    """First words of country names in English, French and Spanish (pycountry).

    A title's first word is capitalised whatever it is; it counts as a name only
    when it is one of these ("Brazil ratifies ..." vs "Chile ratifies ...").
    """
    languages = [
        gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[code])
        for code in ("fr", "es")
    ]
    words: set[str] = set()
    for country in pycountry.countries:
        for attribute in ("name", "common_name", "official_name"):
            name = getattr(country, attribute, None)
            if not name:
                continue
            for text in (name, *(t.gettext(name) for t in languages)):
                first = _WORD.findall(text.split(",")[0])
                words.update(fold(w) for w in first[:1] if fold(w) not in STOP_WORDS)
    return frozenset(words)


def _initials(words: list[str]) -> set[str]:
    """Initialisms of runs of capitalised words: "Global Workers' Confederation" -> gwc."""
    found, run = set(), []
    for word in [*words, ""]:
        if word[:1].isupper() and not word.isupper() and fold(word) not in STOP_WORDS:
            run.append(word)
            continue
        if len(run) >= 2:
            found.add("".join(fold(w)[0] for w in run))
        run = []
    return found


def _alias(word: str) -> str:
    """The folded word; a country's short form (UK, EEUU) spelled out."""
    folded = fold(word)
    return _ALIASES.get(folded, folded) if word.isupper() else folded


@lru_cache(maxsize=65536)
def title_key(title: str) -> TitleKey:
    text = _SUFFIX.sub("", _PREFIX.sub("", title)).strip()
    raw_words = [w for w in _WORD.findall(text) if w not in _POSSESSIVE]
    significant = [w for w in raw_words if fold(w) not in STOP_WORDS and not w.isdigit()]
    capitalised = [w for w in significant if w[:1].isupper()]
    # In a Title Case Headline every word is capitalised: only acronyms (ILO, OIT)
    # and countries mark names there; the first word of any title likewise.
    title_case = len(significant) >= 3 and len(capitalised) > 0.6 * len(significant)
    first = next((n for n, w in enumerate(raw_words) if fold(w) not in STOP_WORDS), 0)
    names: set[str] = set()
    for position, word in enumerate(raw_words):
        folded = _alias(word)
        if folded in STOP_WORDS or folded.isdigit():
            continue
        acronym = len(word) > 1 and word.isupper()
        if title_case or position == first:
            named = acronym or folded in _country_words()
        else:
            named = acronym or word[:1].isupper()
        if named:
            names.add(_VARIANTS.get(folded, folded))
    words: set[str] = set()
    numbers: set[str] = set()
    for word in raw_words:
        folded = _alias(word)
        if folded.isdigit():
            numbers.add(str(int(folded)))
        elif _NUMBER.search(folded):
            numbers.update(str(int(n)) for n in _NUMBER.findall(folded))
        elif folded not in STOP_WORDS and len(folded) > 1:
            words.update(_VARIANTS.get(part, part) for part in folded.split())
    # "WLO and GWC sign ..." is "WLO and Global Workers' Confederation sign ...".
    initials = _initials(raw_words)
    names = {part for name in names for part in name.split()}
    return TitleKey(
        frozenset(words), frozenset(numbers), frozenset(names & words), frozenset(initials)
    )


def _shared(a: frozenset[str], b: frozenset[str]) -> int:
    """Words of `a` that have a match in `b`, exactly or fuzzily."""
    exact = a & b
    count = len(exact)
    rest_b = b - exact
    for word in a - exact:
        if len(word) >= 5 and any(
            fuzz.ratio(word, other) >= WORD_RATIO for other in rest_b if len(other) >= 5
        ):
            count += 1
    return count


@lru_cache(maxsize=65536)
def text_words(text: str) -> frozenset[str]:
    """Significant folded words of a plain-text summary (its first SUMMARY_WORDS)."""
    words = (fold(w) for w in _WORD.findall(text)[: SUMMARY_WORDS * 2])
    found = [_VARIANTS.get(w, w) for w in words if w not in STOP_WORDS and len(w) > 2]
    return frozenset(found[:SUMMARY_WORDS])


def _conflict(a: TitleKey, b: TitleKey) -> bool:
    """Each title has a number, or a name, that the other lacks: two stories."""
    if (a.numbers - b.numbers) and (b.numbers - a.numbers):
        return True
    only_a = a.names - b.words - _spelled_out(a, b)
    only_b = b.names - a.words - _spelled_out(b, a)
    return bool(only_a) and bool(only_b)


def _spelled_out(a: TitleKey, b: TitleKey) -> set[str]:
    """Names of `a` that `b` has too, one way or the other, as an acronym."""
    acronyms_in_b = b.names & a.initials  # a writes out what b abbreviates
    covered = {w for w in a.names if any(w[:1] in x for x in acronyms_in_b)}
    return covered | (a.names & b.initials)  # a abbreviates what b writes out


def same_story(
    a: TitleKey,
    b: TitleKey,
    summary_a: frozenset[str] = frozenset(),
    summary_b: frozenset[str] = frozenset(),
    *,
    near: bool = True,
) -> bool:
    """`near`: published within a few days (merge.NEAR); only then do summaries count.

    Cheap first: every rule only gets easier with more shared words, so the exact
    overlap and an upper bound of the fuzzy one decide most pairs without rapidfuzz.
    """
    exact = len(a.words & b.words)
    longer_a = sum(1 for w in a.words - b.words if len(w) >= 5)
    longer_b = sum(1 for w in b.words - a.words if len(w) >= 5)
    args = (summary_a, summary_b, near)
    if not _enough(a, b, exact + min(longer_a, longer_b), *args) or _conflict(a, b):
        return False
    if _enough(a, b, exact, *args):
        return True
    return _enough(a, b, _shared(a.words, b.words), *args)


def _enough(
    a: TitleKey,
    b: TitleKey,
    shared: int,
    summary_a: frozenset[str],
    summary_b: frozenset[str],
    near: bool,
) -> bool:
    """The rules of the module docstring, given how many title words the two share."""
    if len(a.words) >= MIN_WORDS and len(b.words) >= MIN_WORDS:
        union = len(a.words) + len(b.words) - shared
        if union and shared / union >= JACCARD:
            return True
        smaller = min(len(a.words), len(b.words))
        if shared >= MIN_SHARED and shared / smaller >= CONTAINMENT:
            return True
        if near and shared >= NEAR_SHARED and shared / smaller >= NEAR_CONTAINMENT:
            return True
    # A rewritten title: the summaries must say it is one story, the more so the
    # less the titles agree.
    if not near or shared < SUMMARY_TITLE_SHARED:
        return False
    if len(summary_a) < SUMMARY_MIN or len(summary_b) < SUMMARY_MIN:
        return False
    overlap = len(summary_a & summary_b) / min(len(summary_a), len(summary_b))
    smaller = max(1, min(len(a.words), len(b.words)))
    if shared >= MIN_SHARED and shared / smaller >= PARTIAL_CONTAINMENT:
        return overlap >= PARTIAL_SUMMARY
    return overlap >= SUMMARY_CONTAINMENT


def similarity(a: TitleKey, b: TitleKey) -> float:
    """A score in [0, 1] to rank candidate stories (higher is closer): word Jaccard."""
    union = len(a.words | b.words)
    return len(a.words & b.words) / union if union else 0.0
