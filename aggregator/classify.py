"""Classify one entry: forced-labour relevance (and why), themes, kind, countries, language.

Purpose: decide whether an entry of a `filter = "topic"` source is about forced
labour, record which phrases in which fields made it so, and tag every entry with
its themes, kind, countries and language (issue #6).
Input: the entry's title, summary and content (plain text or sanitised HTML), the
source's filter and tags, the feed's declared language, optionally the entry's link,
and a `Lexicon` (lexicon.py; the built-in one by default).
Output: a frozen `Classification`. Pure: the same input always gives the same value.
Failure: none. Any text gives a result; an empty item is simply not relevant. A bad
lexicon or bad overrides fail earlier, in `Lexicon.load` (`ConfigError`).

How (numbers are the built-in lexicon's; see aggregator/lexicon.toml):

1. Each field is folded (lexicon.canonical) and scanned ONCE by the lexicon's
   Aho-Corasick automaton; overlapping phrases resolve to the leftmost, then the
   longest (of two partly overlapping terms, the heavier); a negative context
   cancels every term it overlaps ("drug trafficking" leaves no "trafficking"); a
   neutral phrase swallows what is inside it ("se trata de", "le traité").
2. Score = sum over distinct (phrase, field) of weight x field factor (title 2,
   summary 1, content 0.5) minus the negative contexts' weights x field factor.
   The content (its first 3000 characters) is read only when title and summary
   stay below the threshold. Relevant when score >= threshold (2.0), or always for
   `filter = "all"` (the score and matches are still recorded).
3. Themes: every theme whose matches add up to at least 0.5, heaviest first.
4. Kind: event or publication cues (title and summary, link path segments, a time
   of day for events) reaching kind_threshold and beating the news cues; else news.
5. Countries: ISO 3166-1 alpha-2 codes of country names (pycountry en/fr/es and the
   lexicon's aliases) in the title and summary, in order of first mention, minus
   names the lexicon vetoes in context (Georgia next to Atlanta).
6. Language: the declared language's primary subtag ("en-GB" -> "en") unless the
   item's function words clearly say another lexicon language; without a declared
   language, py3langid (restricted to the lexicon's `detect` list) decides.

Tags (`Classification.tags`, the slugs per-tag feeds use): themes as they are
("forced-labour"), then the kind ("news", "event", "publication"), the language
code ("fr"), one "country-xx" per country ("country-br"), then the source's tags
from feeds.toml, each once, in that order. The feed's own categories
(`Entry.tags`) are not read or changed.

Use (one lexicon per run; it is immutable and safe to share between threads):

    lexicon = Lexicon.load(overrides=config.lexicon)  # ConfigError if it is bad
    result = classify_entry(entry, source, lexicon, feed_language=parsed.language)
    if result.relevant:
        ...  # store the entry with result.tags; result.matches says why
"""

from __future__ import annotations

import html
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aggregator.config import Source
from aggregator.lexicon import FIELDS, Lexicon, Phrase, canonical, default_lexicon
from aggregator.models import Entry

__all__ = ["Classification", "Match", "classify", "classify_entry", "normalise_language"]

THEME_MIN = 0.5  # a theme is tagged when its matches add up to this
_TAG = re.compile(r"<[^>]*>")
# "14:00", "10h30", "9 h 15"; a leading digit lets `re` skip ahead fast. Hours are
# checked in _has_time.
_TIME = re.compile(r"\d{1,2}(?::|\s?h\s?)[0-5]\d(?![\d])")
_LANGUAGE_TAG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*$")
_DETECT_CHARS = 80  # the title and the summary's start: as accurate as 600 (DECISIONS.md 60)
_DETECT_MIN_WORDS = 3


@dataclass(frozen=True, slots=True)
class Match:
    """One lexicon phrase found in one field, and what it added to the score.

    `themes` is empty for phrases that count for relevance without a theme
    ("Alliance 8.7") and for negative contexts, whose `weight` is negative.
    """

    term: str
    themes: tuple[str, ...]
    field: str
    weight: float


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classify stage says about one entry."""

    relevant: bool
    score: float
    matches: tuple[Match, ...]  # why: the positive phrases, in field then text order
    negatives: tuple[Match, ...]  # negative contexts that lowered the score
    themes: tuple[str, ...]
    kind: str  # "news" | "event" | "publication"
    countries: tuple[str, ...]  # ISO 3166-1 alpha-2, upper case, first mention first
    language: str | None  # ISO 639-1 code, None when unknown
    tags: tuple[str, ...]


def plain(text: str) -> str:
    """Text of sanitised HTML (entries are nh3-clean, so a tag is always <...>)."""
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return text


def normalise_language(value: str | None) -> str | None:
    """A BCP 47 tag's primary language subtag: "en-GB" -> "en", "ES_es" -> "es"."""
    if not value:
        return None
    match = _LANGUAGE_TAG.match(value)
    return match.group(1).lower() if match else None


def classify(
    title: str,
    summary: str = "",
    content: str = "",
    *,
    lexicon: Lexicon | None = None,
    source_filter: str = "topic",
    declared_language: str | None = None,
    source_tags: Sequence[str] = (),
    link: str | None = None,
) -> Classification:
    """Classify one entry. `source_filter` is "topic" or "all" (config.FILTERS)."""
    lexicon = lexicon or default_lexicon()
    texts = {"title": plain(title), "summary": plain(summary), "content": ""}
    folded = {name: canonical(text) for name, text in texts.items()}

    score = 0.0
    matches: list[Match] = []
    negatives: list[Match] = []
    theme_weight: dict[str, float] = {}
    kind_score = dict.fromkeys(("news", "event", "publication"), 0.0)
    countries: dict[str, None] = {}
    for name in FIELDS:
        if name == "content":
            # A fallback for items whose title and summary are not enough (most feeds
            # put the start of the content in the summary). The markup is cut first
            # (twice the budget covers the tags), then the text.
            chars = lexicon.content_chars
            if score >= lexicon.threshold or not content or not chars:
                break
            texts[name] = plain(content[: 2 * chars])[:chars]
            folded[name] = canonical(texts[name])
        factor = lexicon.field_weights[name]
        terms, against, cues, named = _scan(folded[name], lexicon)
        for entry in terms:
            weight = entry.weight * factor
            themes = entry.named_themes
            matches.append(Match(entry.term, themes, name, round(weight, 3)))
            score += weight
            for theme in themes:
                theme_weight[theme] = theme_weight.get(theme, 0.0) + entry.themes[theme] * factor
        for entry in against:
            weight = entry.negative * factor
            negatives.append(Match(entry.negative_term, (), name, round(-weight, 3)))
            score -= weight
        if name != "content":
            for entry in cues:
                for kind, weight in entry.kinds.items():
                    kind_score[kind] += weight * factor
            countries.update(dict.fromkeys(named))
    countries.update(dict.fromkeys(_acronyms(texts, lexicon)))

    relevant = source_filter == "all" or score >= lexicon.threshold
    order = lexicon.theme_order
    themes = tuple(
        sorted(
            (t for t, w in theme_weight.items() if w >= THEME_MIN),
            key=lambda t: (-theme_weight[t], order[t]),
        )
    )
    head = f"{folded['title']} {folded['summary']}"
    kind = _kind(kind_score, texts, link, lexicon)
    codes = tuple(c for c in countries if not _vetoed(c, head, lexicon))
    language = _language(declared_language, head, texts, lexicon)
    tags = [*themes, kind]
    if language:
        tags.append(language)
    tags += [f"country-{c.lower()}" for c in codes]
    tags += [t for t in source_tags if t]
    return Classification(
        relevant=relevant,
        score=round(score, 3),
        matches=tuple(matches),
        negatives=tuple(negatives),
        themes=themes,
        kind=kind,
        countries=codes,
        language=language,
        tags=tuple(dict.fromkeys(tags)),
    )


def classify_entry(
    entry: Entry,
    source: Source,
    lexicon: Lexicon | None = None,
    *,
    feed_language: str | None = None,
) -> Classification:
    """Classify a normalised `models.Entry` of `config.Source` (its filter and tags).

    `feed_language` is the feed's declared language (`ParsedFeed.language`).
    """
    return classify(
        entry.title,
        entry.summary_html,
        entry.content_html,
        lexicon=lexicon,
        source_filter=source.filter,
        declared_language=feed_language,
        source_tags=source.tags,
        link=entry.link,
    )


def _scan(
    text: str, lexicon: Lexicon
) -> tuple[list[Phrase], list[Phrase], list[Phrase], list[str]]:
    """One pass of the lexicon's automaton over one folded field.

    The automaton reports every phrase, overlapping ones included. Phrases are
    taken leftmost-longest without overlap; a phrase inside a taken one is ignored;
    of two terms that partly overlap the heavier counts ("held in debt bondage" is
    "debt bondage", 3, not "held in debt", 1); a negative context that partly
    overlaps a taken phrase still counts, and cancels every term it overlaps. Each
    phrase counts once. Returns terms, negatives, kind cues and country codes.
    """
    found = sorted([(end - len(key) - 1, -len(key), key) for end, key in _hits(text, lexicon)])
    if not found:
        return [], [], [], []
    phrases = lexicon.phrases
    taken: list[tuple[int, int, Phrase]] = []
    against: dict[str, Phrase] = {}
    spans: list[tuple[int, int]] = []
    last = -1
    for start, negative_length, key in found:
        end = start - negative_length
        entry = phrases[key]
        if start >= last:
            taken.append((start, end, entry))
            last = end
        elif end <= last:
            continue  # inside a phrase already taken
        elif entry.weight > taken[-1][2].weight:
            taken[-1] = (start, end, entry)  # two terms overlap: the heavier one counts
            last = end
        elif not entry.negative:
            continue
        if entry.negative:
            against.setdefault(key, entry)
            spans.append((start, end))
    terms: dict[int, Phrase] = {}
    cues: dict[int, Phrase] = {}
    named: dict[str, None] = {}
    for start, end, entry in taken:
        if entry.themes and not (spans and any(s < end and start < e for s, e in spans)):
            terms[id(entry)] = entry
        if entry.kinds:
            cues[id(entry)] = entry
        if entry.country:
            named[entry.country] = None
    return list(terms.values()), list(against.values()), list(cues.values()), list(named)


def _hits(text: str, lexicon: Lexicon) -> list[tuple[int, str]]:
    """(index of the closing space, phrase) of every phrase in " text "."""
    if not text:
        return []
    return list(lexicon.automaton.iter(f" {text} "))


def _acronyms(texts: dict[str, str], lexicon: Lexicon) -> list[str]:
    """Country acronyms that are also words once folded ("US" / "us"): case matters."""
    text = f"{texts['title']}\n{texts['summary']}"
    if lexicon.acronyms is None or not any(a in text for a in lexicon.acronym_codes):
        return []
    found = lexicon.acronyms.findall(text)
    return [lexicon.acronym_codes[a] for a in found]


def _kind(scores: dict[str, float], texts: dict[str, str], link: str | None, lx: Lexicon) -> str:
    if link and lx.kind_paths:
        path = link.partition("://")[2].partition("/")[2].partition("?")[0]
        segments = set(canonical(path).split())
        for kind, paths in lx.kind_paths.items():
            if segments & paths:
                scores[kind] += 3.0
    title = texts["title"]
    colon = title.find(":", 0, 40)
    if colon > 0:  # "Webinar: ...", "Rapport : ..." - a label the partner put first
        lead = lx.phrases.get(canonical(title[:colon]))
        if lead is not None:
            for kind, weight in lead.kinds.items():
                scores[kind] += weight * lx.field_weights["title"]
    if lx.kind_time and (_has_time(texts["title"]) or _has_time(texts["summary"][:300])):
        scores["event"] += lx.kind_time
    best = max(("event", "publication"), key=lambda k: scores[k])  # a tie goes to event
    if scores[best] >= lx.kind_threshold and scores[best] > scores["news"]:
        return best
    return "news"


def _has_time(text: str) -> bool:
    found = _TIME.search(text)  # almost always None: one pass in C
    while found is not None:
        start = found.start()
        longer = start > 0 and text[start - 1].isdigit()  # part of a longer number
        if not longer and int(found.group()[:2].rstrip(":h ")) < 24:
            return True
        found = _TIME.search(text, found.end())
    return False


def _vetoed(code: str, head: str, lexicon: Lexicon) -> bool:
    contexts = lexicon.unless.get(code, ())
    padded = f" {head} "
    return any(f" {context} " in padded for context in contexts)


def _language(
    declared: str | None, head: str, texts: dict[str, str], lexicon: Lexicon
) -> str | None:
    base = normalise_language(declared)
    words = head.split()
    if base is not None:
        if base not in lexicon.stopword_languages:
            return base
        counts = Counter(map(lexicon.stopwords.get, words))  # C loops: 3x a Python loop
        counts.pop(None, None)
        if not counts:
            return base
        best = max(counts, key=lambda k: counts[k])
        own = counts.get(base, 0)
        if best == base or counts[best] < lexicon.stopword_min or counts[best] <= 3 * own:
            return base
        # The words contradict the feed: a multilingual feed with one declared language.
        return _detect(texts, lexicon) or base
    if len(f"{texts['title']} {texts['summary'][:200]}".split()) < _DETECT_MIN_WORDS:
        return None  # counted on the text itself: folded, non-Latin scripts are empty
    return _detect(texts, lexicon)


_DETECTORS: dict[tuple[str, ...], Any] = {}
_DETECTOR_LOCK = threading.Lock()


def _detect(texts: dict[str, str], lexicon: Lexicon) -> str | None:
    """py3langid's answer among the lexicon's `detect` languages (model loaded once)."""
    languages = lexicon.detect
    detector = _DETECTORS.get(languages)
    if detector is None:
        with _DETECTOR_LOCK:
            detector = _DETECTORS.get(languages)
            if detector is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                detector = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
                if languages:
                    detector.set_languages(list(languages))
                _contiguous(detector)
                _DETECTORS[languages] = detector
    sample = f"{texts['title']}. {texts['summary']}"[:_DETECT_CHARS]
    language, _ = detector.classify(sample)
    return str(language) if language else None


def _contiguous(detector: Any) -> None:
    """Store py3langid's restricted table as contiguous float32 (same answers).

    After `set_languages` the model's table is a float16 slice; numpy computes in
    float16 slowly, and the slice is not contiguous: 32 µs a call, 13 µs after this
    (measured on the speed benchmark's entries). Skipped if the model changes shape.
    """
    import numpy as np

    table = getattr(detector, "nb_ptc", None)
    if isinstance(table, np.ndarray) and table.ndim == 2:
        detector.nb_ptc = np.ascontiguousarray(table, dtype=np.float32)
