"""The story-clustering evaluation set is well formed, and pairwise scoring is right."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Hashable, Mapping
from datetime import timedelta
from itertools import combinations
from math import comb
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from .evalset import (
    EVAL_FILE,
    FAMILIES,
    LANGUAGES,
    LINK_VARIATIONS,
    SUMMARY_VARIATIONS,
    TITLE_VARIATIONS,
    EvalSet,
    load_eval,
    pair_errors,
    pairwise_scores,
)

# The only page that two different stories link to (README.md, "digest").
LANDING_PAGES = frozenset({"https://mwrc.example/newsletter/"})
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def evalset() -> EvalSet:
    return load_eval()


# --- the data ---


def test_size_languages_and_sources(evalset: EvalSet) -> None:
    entries = evalset.entries
    assert len(entries) >= 300
    languages = Counter(e.language for e in entries)
    assert set(languages) == set(LANGUAGES)
    assert 0.5 <= languages["en"] / len(entries) <= 0.7, languages
    assert languages["fr"] / len(entries) >= 0.15, languages
    assert languages["es"] / len(entries) >= 0.15, languages
    ids = [s.id for s in evalset.sources]
    assert len(ids) >= 10
    assert len(set(ids)) == len(ids)
    used = Counter(e.source_id for e in entries)
    assert set(used) <= set(ids), set(used) - set(ids)
    assert set(ids) <= set(used), "every source carries entries"


def test_sources_are_fictional(evalset: EvalSet) -> None:
    for source in evalset.sources:
        for url in (source.home_page, source.feed_url):
            parts = urlsplit(url)
            assert parts.scheme in {"http", "https"}, url
            assert (parts.hostname or "").endswith(".example"), url
        assert re.fullmatch(r"[a-z0-9-]+", source.id), source.id
    for entry in evalset.entries:
        if entry.link:
            assert (urlsplit(entry.link).hostname or "").endswith(".example"), entry.id


def test_ids_are_unique_and_stable_shaped(evalset: EvalSet) -> None:
    ids = [e.id for e in evalset.entries]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"e\d{3,}", i) for i in ids)


def test_guids_are_unique_within_a_source(evalset: EvalSet) -> None:
    seen = Counter((e.source_id, e.guid) for e in evalset.entries if e.guid)
    assert [k for k, n in seen.items() if n > 1] == []
    assert any(e.guid is None for e in evalset.entries), "some sources have no GUIDs"


def test_dates_are_rfc3339_utc(evalset: EvalSet) -> None:
    raw = EVAL_FILE.read_text(encoding="utf-8")
    stamps = re.findall(r'"(?:published|first_seen)": "([^"]*)"', raw)
    assert len(stamps) > len(evalset.entries)
    assert all(RFC3339_UTC.match(s) for s in stamps), [
        s for s in stamps if not RFC3339_UTC.match(s)
    ]
    missing = [e for e in evalset.entries if e.published is None]
    assert 5 <= len(missing) < len(evalset.entries) // 10
    for entry in evalset.entries:
        assert entry.first_seen.utcoffset() == timedelta(0)
        if entry.published is not None:
            assert entry.published <= entry.first_seen <= entry.published + timedelta(hours=2)


def test_republications_follow_within_four_days(evalset: EvalSet) -> None:
    for story, members in evalset.stories().items():
        dates = [m.published for m in members if m.published is not None]
        if len(members) > 1:
            original = members[0]
            assert original.published == min(dates), f"{story}: the original comes first"
            assert max(dates) - min(dates) <= timedelta(days=4), story


def test_cluster_sizes(evalset: EvalSet) -> None:
    sizes = Counter(len(m) for m in evalset.stories().values())
    assert max(sizes) <= 6
    clusters = sum(sizes.values())
    assert sum(n for size, n in sizes.items() if size >= 2) >= 100
    assert 0.3 <= sizes[1] / clusters <= 0.5, sizes
    assert all(sizes[size] >= 1 for size in range(1, 7)), sizes


def test_translation_flags_follow_the_original_language(evalset: EvalSet) -> None:
    for story, members in evalset.stories().items():
        originals = {m.language for m in members if not m.translation}
        assert len(originals) == 1, f"{story}: one original language, got {originals}"
        for member in members:
            if member.translation:
                assert member.language not in originals, (story, member.id)
    flagged = evalset.translation_ids
    assert len(flagged) >= 40
    assert {e.language for e in evalset.entries if e.id in flagged} == set(LANGUAGES)


def test_variation_tags(evalset: EvalSet) -> None:
    for members in evalset.stories().values():
        original, *others = members
        assert original.variation == ()
        for member in others:
            tags = set(member.variation)
            title = tags & TITLE_VARIATIONS
            assert title, member.id
            assert len(tags & LINK_VARIATIONS) == 1, member.id
            assert len(tags & SUMMARY_VARIATIONS) == 1, member.id
            assert tags <= TITLE_VARIATIONS | LINK_VARIATIONS | SUMMARY_VARIATIONS, member.id
            assert ("translated" in tags) == member.translation, member.id
            if "same-link" in tags:
                assert member.link in {m.link for m in members if m is not member}
    seen = Counter(t for e in evalset.entries for t in e.variation)
    wanted = ("shortened", "prefix", "suffix", "edited-title", "case-punct", "same-title")
    assert all(seen[t] >= 3 for t in wanted), seen
    assert all(seen[t] >= 10 for t in ("same-link", "link-variant", "own-link")), seen


def test_hard_negative_families(evalset: EvalSet) -> None:
    stories = evalset.stories()
    assert {g.family for g in evalset.hard_negatives} == set(FAMILIES)
    names = [g.group for g in evalset.hard_negatives]
    assert len(set(names)) == len(names)
    for group in evalset.hard_negatives:
        assert len(set(group.stories)) == len(group.stories) >= 2, group.group
        assert set(group.stories) <= set(stories), set(group.stories) - set(stories)
        assert group.description
    involved = evalset.hard_negative_stories()
    assert sum(len(stories[s]) for s in involved) >= 40
    for family in FAMILIES:
        assert len(evalset.hard_negative_stories(family)) >= 4, family


def test_ratification_look_alikes_are_many_countries(evalset: EvalSet) -> None:
    titles = [
        e.title
        for e in evalset.entries
        if e.story in evalset.hard_negative_stories("similar-wording") and not e.translation
    ]
    template = re.compile(r"^(.+) ratifies the Protocol of 2014 to the Forced Labour Convention$")
    countries = {m.group(1) for t in titles if (m := template.match(t))}
    assert len(countries) >= 10, countries


def _same_page(url: str) -> tuple[str, str, str]:
    """The page a link points to, ignoring tracking, scheme, www., trailing slash, fragment."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    query = [(k, v) for k, v in parse_qsl(parts.query) if not k.lower().startswith("utm_")]
    return host, parts.path.rstrip("/"), urlencode(sorted(query))


def test_different_stories_do_not_share_a_page(evalset: EvalSet) -> None:
    pages: dict[tuple[str, str, str], set[str]] = {}
    for entry in evalset.entries:
        if entry.link and entry.link not in LANDING_PAGES:
            pages.setdefault(_same_page(entry.link), set()).add(entry.story)
    assert {page: s for page, s in pages.items() if len(s) > 1} == {}
    landing = {e.story for e in evalset.entries if e.link in LANDING_PAGES}
    assert len(landing) >= 2
    assert landing <= evalset.hard_negative_stories("digest")


def test_identical_titles_across_stories_are_documented_look_alikes(evalset: EvalSet) -> None:
    by_title: dict[str, set[str]] = {}
    for entry in evalset.entries:
        by_title.setdefault(entry.title.casefold(), set()).add(entry.story)
    groups = [set(g.stories) for g in evalset.hard_negatives]
    shared = {t: s for t, s in by_title.items() if len(s) > 1}
    assert len(shared) >= 5, "the generic-title family has identical titles"
    for title, stories in shared.items():
        assert any(stories <= g for g in groups), (title, stories)


# --- pairwise_scores ---

TRUTH = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}  # true pairs: ab ac bc de


def test_perfect_clustering() -> None:
    scores = pairwise_scores({k: f"x{v}" for k, v in TRUTH.items()}, TRUTH)
    assert (scores.precision, scores.recall, scores.f1) == (1.0, 1.0, 1.0)
    assert (scores.true_pos, scores.false_pos, scores.false_neg) == (4, 0, 0)
    assert (scores.pairs, scores.entries) == (10, 5)


def test_hand_computed_example() -> None:
    predicted = {"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Z"}  # pairs ab (right), cd (wrong)
    scores = pairwise_scores(predicted, TRUTH)
    assert (scores.true_pos, scores.false_pos, scores.false_neg) == (1, 1, 3)
    assert scores.precision == 0.5
    assert scores.recall == 0.25
    assert scores.f1 == pytest.approx(1 / 3)
    errors = pair_errors(predicted, TRUTH)
    assert errors.false_merges == (("c", "d"),)
    assert errors.missed == (("a", "c"), ("b", "c"), ("d", "e"))


def test_all_singletons_have_no_recall() -> None:
    scores = pairwise_scores({k: k for k in TRUTH}, TRUTH)
    assert (scores.precision, scores.recall, scores.f1) == (1.0, 0.0, 0.0)
    assert (scores.true_pos, scores.false_pos, scores.false_neg) == (0, 0, 4)
    assert pairwise_scores(dict.fromkeys(TRUTH), TRUTH) == scores, "None is a cluster of its own"


def test_all_in_one_cluster() -> None:
    scores = pairwise_scores(dict.fromkeys(TRUTH, "all"), TRUTH)
    assert scores.precision == 4 / 10
    assert scores.recall == 1.0
    assert (scores.true_pos, scores.false_pos, scores.false_neg) == (4, 6, 0)


def test_labels_are_only_compared_for_equality() -> None:
    # predicted labels that happen to equal true labels of other clusters change nothing
    assert pairwise_scores({"a": 2, "b": 2, "c": 2, "d": 1, "e": 1}, TRUTH).f1 == 1.0


def test_predicted_and_truth_must_cover_the_same_entries() -> None:
    with pytest.raises(ValueError, match="missing"):
        pairwise_scores({"a": 1}, TRUTH)
    with pytest.raises(ValueError, match="unknown"):
        pairwise_scores({**TRUTH, "z": 9}, TRUTH)
    assert pairwise_scores({"a": 1, "b": 1}, TRUTH, exclude={"c", "d", "e"}).f1 == 1.0
    with pytest.raises(ValueError, match="EvalSet"):
        pairwise_scores(TRUTH, TRUTH, exclude_translations=True)


def test_on_the_set_perfect_singletons_and_one_cluster(evalset: EvalSet) -> None:
    truth = evalset.truth()
    n = len(truth)
    true_pairs = sum(comb(len(m), 2) for m in evalset.stories().values())
    perfect = pairwise_scores(truth, evalset)
    assert (perfect.precision, perfect.recall) == (1.0, 1.0)
    assert perfect.true_pos == true_pairs
    assert perfect.pairs == comb(n, 2)
    alone = pairwise_scores({k: k for k in truth}, evalset)
    assert (alone.precision, alone.recall, alone.false_neg) == (1.0, 0.0, true_pairs)
    lumped = pairwise_scores(dict.fromkeys(truth, 0), evalset)
    assert lumped.precision == true_pairs / comb(n, 2)
    assert lumped.recall == 1.0


def test_entry_indices_are_accepted(evalset: EvalSet) -> None:
    by_index = {i: e.story for i, e in enumerate(evalset.entries)}
    assert pairwise_scores(by_index, evalset) == pairwise_scores(evalset.truth(), evalset)
    with pytest.raises(ValueError, match="out of range"):
        pairwise_scores({**by_index, len(by_index): "x"}, evalset)


def test_excluding_translations(evalset: EvalSet) -> None:
    truth = evalset.truth()
    kept = evalset.truth(translations=False)
    scores = pairwise_scores(truth, evalset, exclude_translations=True)
    assert scores.entries == len(kept) == len(truth) - len(evalset.translation_ids)
    assert scores.true_pos == sum(comb(n, 2) for n in Counter(kept.values()).values())
    # a clustering that merges nothing across languages loses recall only with translations
    monolingual = {e.id: (e.story, e.language) for e in evalset.entries}
    with_them = pairwise_scores(monolingual, evalset)
    without = pairwise_scores(monolingual, evalset, exclude_translations=True)
    assert with_them.precision == without.precision == 1.0
    assert with_them.recall < 1.0
    assert without.recall == 1.0
    # predictions may leave the excluded entries out
    assert pairwise_scores(kept, evalset, exclude_translations=True) == scores


def _brute_force(
    predicted: Mapping[str, Hashable], truth: Mapping[str, Hashable]
) -> tuple[int, int, int]:
    tp = fp = fn = 0
    for a, b in combinations(sorted(truth), 2):
        same_pred, same_true = predicted[a] == predicted[b], truth[a] == truth[b]
        tp += same_pred and same_true
        fp += same_pred and not same_true
        fn += same_true and not same_pred
    return tp, fp, fn


def test_combinatorics_match_brute_force_on_noisy_clusterings(evalset: EvalSet) -> None:
    truth = evalset.truth()
    rng = random.Random(5)
    for _ in range(3):
        # merge some stories together and split others at random
        predicted: dict[str, Hashable] = {}
        for key, story in truth.items():
            label: Hashable = story if rng.random() < 0.8 else f"split-{key}"
            if rng.random() < 0.05:
                label = "lumped"
            predicted[key] = label
        scores = pairwise_scores(predicted, evalset)
        assert (scores.true_pos, scores.false_pos, scores.false_neg) == _brute_force(
            predicted, truth
        )
        errors = pair_errors(predicted, evalset)
        assert len(errors.false_merges) == scores.false_pos
        assert len(errors.missed) == scores.false_neg
