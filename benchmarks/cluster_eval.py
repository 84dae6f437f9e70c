"""Story clustering quality on the labelled set (tests/data/stories/eval.json).

Run: `python -m benchmarks.cluster_eval` (or `make bench-merge`). Every entry goes
through the real stages — normalize (links, canonical URL, identity), the store's
effective date, then merge.plan_assignments, fed in first-seen order as passes
would — and the resulting stories are scored pairwise against the labels. Prints
precision, recall and F1 for all entries, without translations, and per language,
with the wrong pairs when `--errors` is given. Targets (issue #5): precision >= 0.99,
recall >= 0.95.
"""

from __future__ import annotations

import argparse
import sys
from itertools import count

from aggregator.merge import plan_assignments
from aggregator.models import RawEntry, StoredEntry
from aggregator.normalize import effective_published, normalize_entry
from tests.evalset import EvalSet, load_eval, pair_errors, pairwise_scores

AUTHORITY = "eval.example,2026"


def cluster(evalset: EvalSet) -> dict[str, str]:
    """entry id -> story uri, as the pipeline would assign them pass after pass."""
    pks = count(1)
    stored: list[tuple[str, StoredEntry]] = []
    for entry in evalset.entries:
        source = evalset.source(entry.source_id)
        raw = RawEntry(
            guid=entry.guid,
            link=entry.link,
            title=entry.title,
            summary=entry.summary,
            content="",
            published=entry.published,
            updated=None,
        )
        norm = normalize_entry(raw, entry.source_id, source.feed_url)
        published = effective_published(norm.published, entry.first_seen)
        stored.append(
            (
                entry.id,
                StoredEntry(
                    pk=next(pks),
                    source_id=entry.source_id,
                    key=norm.key,
                    link=norm.link,
                    canonical_url=norm.canonical_url,
                    title=norm.title,
                    summary_html=norm.summary_html,
                    content_html="",
                    author=None,
                    tags=(),
                    published_at=published,
                    first_seen_at=entry.first_seen,
                    last_seen_at=entry.first_seen,
                    modified_at=None,
                    claimed_updated=None,
                ),
            )
        )
    # One pass per day of first-seen time: earlier stories are neighbours of later ones.
    stored.sort(key=lambda pair: pair[1].first_seen_at)
    assigned: dict[int, str] = {}
    known: dict[str, str] = {}
    done: list[StoredEntry] = []
    day: list[StoredEntry] = []
    for index, (_, entry) in enumerate(stored):
        day.append(entry)
        last = index == len(stored) - 1
        if last or stored[index + 1][1].first_seen_at.date() != entry.first_seen_at.date():
            for pk, uri, seed in plan_assignments(day, known, AUTHORITY, done):
                assigned[pk] = uri
                known.setdefault(seed, uri)
            for member in day:
                uri = assigned[member.pk]
                if member.canonical_url:
                    known.setdefault(member.canonical_url, uri)
                done.append(_with_story(member, uri))
            day = []
    return {entry_id: assigned[entry.pk] for entry_id, entry in stored}


def _with_story(entry: StoredEntry, uri: str) -> StoredEntry:
    from dataclasses import replace

    return replace(entry, story_uri=uri)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="List the wrong pairs.")
    args = parser.parse_args(argv)
    evalset = load_eval()
    predicted = cluster(evalset)
    rows = [
        ("all entries", pairwise_scores(predicted, evalset)),
        ("without translations", pairwise_scores(predicted, evalset, exclude_translations=True)),
    ]
    for language in ("en", "fr", "es"):
        others = [e.id for e in evalset.entries if e.language != language]
        rows.append((f"{language} only", pairwise_scores(predicted, evalset, exclude=others)))
    print(f"{len(evalset.entries)} entries, {len(evalset.stories())} true stories")
    print(f"{'':<22} {'precision':>9} {'recall':>7} {'f1':>6} {'false merges':>12} {'missed':>7}")
    for name, s in rows:
        print(
            f"{name:<22} {s.precision:>9.4f} {s.recall:>7.4f} {s.f1:>6.3f}"
            f" {s.false_pos:>12} {s.false_neg:>7}"
        )
    if args.errors:
        errors = pair_errors(predicted, evalset, exclude_translations=True)
        by_id = {e.id: e for e in evalset.entries}
        for kind, pairs in (("false merge", errors.false_merges), ("missed", errors.missed)):
            for a, b in pairs:
                print(f"{kind}: {by_id[a].title!r} ({a}) ~ {by_id[b].title!r} ({b})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
