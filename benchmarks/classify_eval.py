"""Classification quality on the labelled set (tests/data/classify/eval.json).

Run: `python -m benchmarks.classify_eval` (add `--errors` to list every mistake).
Every item goes through `aggregator.classify.classify` with the built-in lexicon, a
`filter = "topic"` source and the item's declared language, exactly as the pipeline
will call it. Prints, per language (the item's true language) and overall:

- relevance precision, recall and F1, with the targets of issue #6 (precision
  >= 0.95 and recall >= 0.90 in each language) marked PASS or FAIL;
- kind accuracy, language accuracy, and countries: exact set match and micro
  precision/recall/F1 over codes; themes micro F1 on the items labelled relevant.

`--file tests/data/classify/holdout.json` scores the held-out set instead: 60 items
written after the lexicon was tuned, never used to tune it.

Exit status 1 when a relevance target fails, so CI or a script can use it.
tests/data/classify/README.md says how the items were labelled.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aggregator.classify import Classification, classify

EVAL_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "classify" / "eval.json"
LANGUAGES = ("en", "fr", "es")
PRECISION_TARGET = 0.95
RECALL_TARGET = 0.90


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    language: str
    declared_language: str | None
    title: str
    summary: str
    relevant: bool
    themes: frozenset[str]
    kind: str
    countries: frozenset[str]
    case: str | None


def load_items(path: Path = EVAL_FILE) -> list[Item]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        Item(
            id=raw["id"],
            language=raw["language"],
            declared_language=raw["declared_language"],
            title=raw["title"],
            summary=raw["summary"],
            relevant=raw["relevant"],
            themes=frozenset(raw["themes"]),
            kind=raw["kind"],
            countries=frozenset(raw["countries"]),
            case=raw.get("case"),
        )
        for raw in data["items"]
    ]


def run(item: Item) -> Classification:
    return classify(
        item.title,
        item.summary,
        source_filter="topic",
        declared_language=item.declared_language,
    )


@dataclass(slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: Iterable[str], true: Iterable[str]) -> None:
        p, t = set(predicted), set(true)
        self.tp += len(p & t)
        self.fp += len(p - t)
        self.fn += len(t - p)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(slots=True)
class Scores:
    items: int = 0
    relevance: Counts = field(default_factory=Counts)
    kind: int = 0
    language: int = 0
    countries_exact: int = 0
    countries: Counts = field(default_factory=Counts)
    themes: Counts = field(default_factory=Counts)

    @property
    def passes(self) -> bool:
        r = self.relevance
        return r.precision >= PRECISION_TARGET and r.recall >= RECALL_TARGET


def score(items: Sequence[Item], results: Sequence[Classification]) -> dict[str, Scores]:
    """Scores per true language and "all"."""
    table = {name: Scores() for name in (*LANGUAGES, "all")}
    for item, result in zip(items, results, strict=True):
        for name in (item.language, "all"):
            s = table.setdefault(name, Scores())
            s.items += 1
            s.relevance.add(["x"] if result.relevant else [], ["x"] if item.relevant else [])
            s.kind += result.kind == item.kind
            s.language += result.language == item.language
            s.countries_exact += frozenset(result.countries) == item.countries
            s.countries.add(result.countries, item.countries)
            if item.relevant:
                s.themes.add(result.themes, item.themes)
    return table


def errors(items: Sequence[Item], results: Sequence[Classification]) -> list[str]:
    lines = []
    for item, r in zip(items, results, strict=True):
        problems = []
        if r.relevant != item.relevant:
            why = ", ".join(f"{m.term}@{m.field}={m.weight:g}" for m in (*r.matches, *r.negatives))
            problems.append(f"relevant={r.relevant} (score {r.score:g}: {why or 'no match'})")
        if r.kind != item.kind:
            problems.append(f"kind {r.kind} != {item.kind}")
        if r.language != item.language:
            problems.append(f"language {r.language} != {item.language}")
        if frozenset(r.countries) != item.countries:
            problems.append(f"countries {sorted(r.countries)} != {sorted(item.countries)}")
        if problems:
            lines.append(
                f"{item.id} [{item.case or '-'}] {item.title[:70]!r}: {'; '.join(problems)}"
            )
    return lines


def report(table: dict[str, Scores]) -> str:
    head = (
        f"{'':4} {'items':>5} {'prec':>6} {'recall':>6} {'F1':>6} {'target':>6}"
        f" {'kind':>6} {'lang':>6} {'ctry=':>6} {'ctryF1':>6} {'themF1':>6}"
    )
    rows = [head]
    for name, s in table.items():
        r = s.relevance
        verdict = "PASS" if s.passes else "FAIL"
        rows.append(
            f"{name:4} {s.items:5d} {r.precision:6.3f} {r.recall:6.3f} {r.f1:6.3f} {verdict:>6}"
            f" {s.kind / s.items:6.3f} {s.language / s.items:6.3f}"
            f" {s.countries_exact / s.items:6.3f} {s.countries.f1:6.3f} {s.themes.f1:6.3f}"
        )
    rows.append(
        f"targets: relevance precision >= {PRECISION_TARGET}, recall >= {RECALL_TARGET}"
        " in each language (issue #6)"
    )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list every wrong item")
    parser.add_argument(
        "--file", type=Path, default=EVAL_FILE, help="another labelled file, e.g. holdout.json"
    )
    args = parser.parse_args(argv)
    items = load_items(args.file)
    results = [run(item) for item in items]
    table = score(items, results)
    print(report(table))
    if args.errors:
        print()
        print("\n".join(errors(items, results)))
    return 0 if all(table[name].passes for name in LANGUAGES) else 1


if __name__ == "__main__":
    sys.exit(main())
