"""The labelled story-clustering set (tests/data/stories) and pairwise scoring of a clustering.

Standard library only, so tests and `benchmarks/` can both import it without the
aggregator's dependencies:

    from tests.evalset import load_eval, pairwise_scores

    evalset = load_eval()
    predicted = {entry.id: my_cluster_label(entry) for entry in evalset.entries}
    print(pairwise_scores(predicted, evalset))
    print(pairwise_scores(predicted, evalset, exclude_translations=True))

Pairwise scoring looks at every unordered pair of entries: a pair is a true positive
when both the clustering and the labels put the two entries in one story, a false
positive when only the clustering does, a false negative when only the labels do.
The counts come from cluster sizes (sum of n·(n-1)/2 over the cells of the
contingency table), so scoring is linear in the number of entries.
tests/data/stories/README.md says what the labels mean.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any, TypeVar

STORIES_DIR = Path(__file__).parent / "data" / "stories"
EVAL_FILE = STORIES_DIR / "eval.json"

# Hard-negative families (README.md, "Hard negatives"); every one is in the data.
FAMILIES = (
    "similar-wording",
    "recurring",
    "digest",
    "event-vs-report",
    "generic-title",
    "same-week",
    "follow-up",
)
LANGUAGES = ("en", "fr", "es")
# `variation` tags: how an entry differs from its story's original (README.md).
TITLE_VARIATIONS = frozenset(
    {"same-title", "case-punct", "shortened", "prefix", "suffix", "edited-title", "translated"}
)
LINK_VARIATIONS = frozenset({"same-link", "link-variant", "own-link", "no-link"})
SUMMARY_VARIATIONS = frozenset({"same-summary", "new-summary", "no-summary"})
VARIATIONS = TITLE_VARIATIONS | LINK_VARIATIONS | SUMMARY_VARIATIONS

Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True, slots=True)
class EvalSource:
    """A fictional partner organisation and its feed."""

    id: str
    name: str
    kind: str  # un-agency, network, ngo, trade-union, employers, research, multi-stakeholder
    language: str  # the language of most of its entries
    home_page: str
    feed_url: str


@dataclass(frozen=True, slots=True)
class EvalEntry:
    """One feed entry as a partner published it, with its true story label."""

    id: str  # stable, "e001"…; the key of predicted and true clusterings
    source_id: str
    guid: str | None
    link: str | None
    title: str
    summary: str  # as in the feed: may be empty or hold HTML
    published: datetime | None  # the partner's date, UTC; None when the feed gives none
    first_seen: datetime  # when the aggregator first saw it, UTC (the fallback date)
    language: str
    story: str  # the true cluster
    translation: bool  # in another language than the story's original
    variation: tuple[str, ...]  # empty for the story's original


@dataclass(frozen=True, slots=True)
class HardNegativeGroup:
    """Look-alike stories that must stay apart (each story may have several entries)."""

    family: str
    group: str
    description: str
    stories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvalSet:
    """The whole set: partner sources, entries in publication order, hard-negative groups."""

    sources: tuple[EvalSource, ...]
    entries: tuple[EvalEntry, ...]
    hard_negatives: tuple[HardNegativeGroup, ...]

    def source(self, source_id: str) -> EvalSource:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)

    def truth(self, *, translations: bool = True) -> dict[str, str]:
        """Entry id -> story label; `translations=False` leaves translated entries out."""
        return {e.id: e.story for e in self.entries if translations or not e.translation}

    @property
    def translation_ids(self) -> frozenset[str]:
        return frozenset(e.id for e in self.entries if e.translation)

    def stories(self) -> dict[str, tuple[EvalEntry, ...]]:
        """Story label -> its entries, in publication order."""
        members: dict[str, list[EvalEntry]] = defaultdict(list)
        for entry in self.entries:
            members[entry.story].append(entry)
        return {story: tuple(group) for story, group in members.items()}

    def hard_negative_stories(self, family: str | None = None) -> frozenset[str]:
        return frozenset(
            story
            for group in self.hard_negatives
            if family is None or group.family == family
            for story in group.stories
        )


@dataclass(frozen=True, slots=True)
class Scores:
    """Pairwise precision and recall of a clustering against the labels.

    With no predicted pairs precision is 1.0 (nothing was merged wrongly); with no
    true pairs recall is 1.0 (nothing could be missed).
    """

    precision: float
    recall: float
    f1: float
    true_pos: int
    false_pos: int
    false_neg: int
    pairs: int  # all unordered pairs of the scored entries, n·(n-1)/2
    entries: int

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.4f}  recall {self.recall:.4f}  f1 {self.f1:.4f}  "
            f"(tp {self.true_pos}, fp {self.false_pos}, fn {self.false_neg}; "
            f"{self.entries} entries, {self.pairs} pairs)"
        )


@dataclass(frozen=True, slots=True)
class PairErrors:
    """The wrong pairs themselves, for error analysis; each pair in key order."""

    false_merges: tuple[tuple[Any, Any], ...]  # clustered together, different stories
    missed: tuple[tuple[Any, Any], ...]  # same story, not clustered together


def _utc(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected an RFC 3339 string, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.utcoffset() != timedelta(0):
        raise ValueError(f"{what}: {value!r} is not UTC")
    return parsed


def _str(raw: Mapping[str, object], key: str, what: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{what}: {key!r} must be a string, got {value!r}")
    return value


def _opt_str(raw: Mapping[str, object], key: str, what: str) -> str | None:
    if key not in raw:
        raise ValueError(f"{what}: {key!r} is missing (use null)")
    value = raw[key]
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what}: {key!r} must be a string or null, got {value!r}")
    return value


def _entry(raw: Mapping[str, object]) -> EvalEntry:
    what = f"entry {raw.get('id')!r}"
    translation = raw.get("translation")
    if not isinstance(translation, bool):
        raise ValueError(f"{what}: 'translation' must be true or false")
    variation = raw.get("variation")
    if not isinstance(variation, list) or not all(isinstance(v, str) for v in variation):
        raise ValueError(f"{what}: 'variation' must be a list of strings")
    published = raw.get("published")
    return EvalEntry(
        id=_str(raw, "id", what),
        source_id=_str(raw, "source_id", what),
        guid=_opt_str(raw, "guid", what),
        link=_opt_str(raw, "link", what),
        title=_str(raw, "title", what),
        summary=_str(raw, "summary", what),
        published=None if published is None else _utc(published, f"{what} published"),
        first_seen=_utc(raw.get("first_seen"), f"{what} first_seen"),
        language=_str(raw, "language", what),
        story=_str(raw, "story", what),
        translation=translation,
        variation=tuple(variation),
    )


def load_eval(path: Path = EVAL_FILE) -> EvalSet:
    """Read the labelled set; ValueError names the first malformed record."""
    data = json.loads(path.read_text(encoding="utf-8"))
    sources = tuple(
        EvalSource(
            id=_str(s, "id", "source"),
            name=_str(s, "name", "source"),
            kind=_str(s, "kind", "source"),
            language=_str(s, "language", "source"),
            home_page=_str(s, "home_page", "source"),
            feed_url=_str(s, "feed_url", "source"),
        )
        for s in data["sources"]
    )
    groups = tuple(
        HardNegativeGroup(
            family=_str(g, "family", "hard negative"),
            group=_str(g, "group", "hard negative"),
            description=_str(g, "description", "hard negative"),
            stories=tuple(g["stories"]),
        )
        for g in data["hard_negatives"]
    )
    entries = tuple(_entry(raw) for raw in data["entries"])
    return EvalSet(sources=sources, entries=entries, hard_negatives=groups)


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


class _Alone:
    """A label of its own for an entry predicted as None (a singleton)."""

    __slots__ = ("key",)

    def __init__(self, key: Hashable) -> None:
        self.key = key


def _aligned(
    predicted: Mapping[Key, Hashable],
    truth: EvalSet | Mapping[Key, Hashable],
    exclude_translations: bool,
    exclude: Collection[Key],
) -> tuple[dict[Hashable, Hashable], dict[Hashable, Hashable]]:
    """Both clusterings over the same keys (entry ids for an EvalSet), None -> singleton."""
    dropped: set[Hashable] = set(exclude)
    if isinstance(truth, EvalSet):
        ids = [e.id for e in truth.entries]
        labels: dict[Hashable, Hashable] = {k: v for k, v in truth.truth().items()}
        if exclude_translations:
            dropped |= truth.translation_ids
        # keys may be entry ids or indices into evalset.entries
        pred: dict[Hashable, Hashable] = {}
        for key, label in predicted.items():
            if isinstance(key, int) and not isinstance(key, bool):
                if not 0 <= key < len(ids):
                    raise ValueError(f"entry index {key} is out of range")
                key_id: Hashable = ids[key]
            else:
                key_id = key
            if key_id in pred:
                raise ValueError(f"entry {key_id!r} is given twice (as id and as index)")
            pred[key_id] = label
        dropped = {ids[k] if isinstance(k, int) and 0 <= k < len(ids) else k for k in dropped}
    else:
        if exclude_translations:
            raise ValueError("exclude_translations needs the EvalSet as truth (or use exclude=)")
        labels = {k: v for k, v in truth.items()}
        pred = {k: v for k, v in predicted.items()}
    keys = set(labels) - dropped
    missing = keys - set(pred)
    extra = set(pred) - set(labels) - dropped
    if missing or extra:
        raise ValueError(
            f"predicted and true clusterings cover different entries: "
            f"missing {sorted(map(str, missing))[:5]}, unknown {sorted(map(str, extra))[:5]}"
        )
    pred_out = {k: _Alone(k) if pred[k] is None else pred[k] for k in keys}
    true_out = {k: labels[k] for k in keys}
    return pred_out, true_out


def pairwise_scores(
    predicted: Mapping[Key, Hashable],
    truth: EvalSet | Mapping[Key, Hashable],
    *,
    exclude_translations: bool = False,
    exclude: Collection[Key] = (),
) -> Scores:
    """Pairwise precision/recall/F1 of `predicted` (key -> cluster label) against `truth`.

    `truth` is the EvalSet (keys are entry ids, or indices into `entries`) or any
    mapping key -> true label. Both must cover the same keys, apart from `exclude`d
    ones and, with `exclude_translations=True`, the translated entries of the EvalSet,
    which are left out of both sides. A predicted label of None is a cluster of its own.
    """
    pred, true = _aligned(predicted, truth, exclude_translations, exclude)
    cells = Counter((pred[k], true[k]) for k in pred)
    true_pos = sum(_pairs(n) for n in cells.values())
    predicted_pairs = sum(_pairs(n) for n in Counter(pred.values()).values())
    true_pairs = sum(_pairs(n) for n in Counter(true.values()).values())
    precision = true_pos / predicted_pairs if predicted_pairs else 1.0
    recall = true_pos / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        precision=precision,
        recall=recall,
        f1=f1,
        true_pos=true_pos,
        false_pos=predicted_pairs - true_pos,
        false_neg=true_pairs - true_pos,
        pairs=_pairs(len(pred)),
        entries=len(pred),
    )


def _groups(labels: Mapping[Hashable, Hashable]) -> Iterable[list[Hashable]]:
    members: dict[Hashable, list[Hashable]] = defaultdict(list)
    for key, label in labels.items():
        members[label].append(key)
    return members.values()


def pair_errors(
    predicted: Mapping[Key, Hashable],
    truth: EvalSet | Mapping[Key, Hashable],
    *,
    exclude_translations: bool = False,
    exclude: Collection[Key] = (),
) -> PairErrors:
    """The false merges and missed pairs behind `pairwise_scores` (same arguments).

    Enumerates pairs inside clusters only, so it stays cheap unless a clustering
    lumps most entries together.
    """
    pred, true = _aligned(predicted, truth, exclude_translations, exclude)
    false_merges = [
        pair
        for group in _groups(pred)
        for pair in combinations(sorted(group, key=str), 2)
        if true[pair[0]] != true[pair[1]]
    ]
    missed = [
        pair
        for group in _groups(true)
        for pair in combinations(sorted(group, key=str), 2)
        if pred[pair[0]] != pred[pair[1]]
    ]
    return PairErrors(
        false_merges=tuple(sorted(false_merges, key=str)), missed=tuple(sorted(missed, key=str))
    )
