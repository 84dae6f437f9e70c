"""Story clustering on the labelled set: the quality floor this rule must keep (#5).

The set (tests/data/stories) was written for this; benchmarks/cluster_eval.py prints
the full table. Precision is the hard requirement (a wrong merge hides a story);
recall is measured without translations, which no title rule can match.
"""

from __future__ import annotations

from benchmarks.cluster_eval import cluster

from .evalset import load_eval, pairwise_scores


def test_clustering_meets_the_precision_target_and_keeps_its_recall() -> None:
    evalset = load_eval()
    predicted = cluster(evalset)
    everything = pairwise_scores(predicted, evalset)
    same_language = pairwise_scores(predicted, evalset, exclude_translations=True)
    assert everything.precision >= 0.99, everything
    assert same_language.precision >= 0.99, same_language
    assert same_language.recall >= 0.95, same_language


def test_hard_negatives_are_never_merged() -> None:
    evalset = load_eval()
    predicted = cluster(evalset)
    assert evalset.hard_negatives
    for group in evalset.hard_negatives:
        seen: dict[str, str] = {}  # predicted story -> true story
        for entry in evalset.entries:
            if entry.story in group.stories:
                true = seen.setdefault(predicted[entry.id], entry.story)
                assert true == entry.story, (group.group, entry.title)
