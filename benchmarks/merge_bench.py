"""Merge at scale: an incremental pass of 1,000 new entries into stores of 10k-100k.

Run: `python -m benchmarks.merge_bench` (or `make bench-merge`). For each store size
it builds a real SQLite store of synthetic partner entries already clustered into
stories (written by this script: forced-labour headlines from a word list, spread
over the years like real partners' output), adds 1,000 new entries (half of them
re-publications of recent stories by other partners, half new stories), and times,
each in a fresh subprocess:

- ours: `pipeline.merge` — the store's window query plus `merge.plan_assignments`
  (inverted word index over stories near in time) and the story writes;
- naive: every new title against every stored title with rapidfuzz's C++
  `extractOne` (token_set_ratio), the all-pairs comparison a simple dedupe would do.

It prints wall time and peak RSS per case and the speed-up. Targets (issue #5): ours
grows near-linearly with the store, and is at least 50x faster than naive at 100k.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ENTRIES_PER_DAY = 90  # about what 60 partners publish together
NEW = 1000
SOURCES = [f"partner-{n:02d}" for n in range(60)]
NOW = datetime(2026, 12, 1, tzinfo=UTC)

_SUBJECTS = [
    "forced labour",
    "child labour",
    "human trafficking",
    "debt bondage",
    "modern slavery",
    "domestic work",
    "migrant workers",
    "supply chains",
    "recruitment fees",
    "bonded labour",
    "labour inspection",
]
_PLACES = [
    "Brazil",
    "India",
    "Nepal",
    "Qatar",
    "Malaysia",
    "Thailand",
    "Ghana",
    "Peru",
    "Bolivia",
    "Niger",
    "Mali",
    "Uzbekistan",
    "Pakistan",
    "Bangladesh",
    "Mexico",
    "Guatemala",
    "Kenya",
    "Ethiopia",
    "Cambodia",
    "Myanmar",
    "Chile",
    "Argentina",
]
_VERBS = [
    "launches",
    "ratifies",
    "publishes",
    "adopts",
    "reports on",
    "strengthens",
    "reviews",
    "funds",
    "announces",
    "calls for action on",
    "investigates",
    "tackles",
    "maps",
]
_OBJECTS = [
    "a national action plan",
    "new survey results",
    "the Protocol of 2014",
    "a due diligence law",
    "an inspection campaign",
    "victim support services",
    "a research brief",
    "a training programme",
    "a fair recruitment initiative",
    "a regional dialogue",
    "an awareness week",
]
_ACTORS = [
    "ILO",
    "Alliance 8.7",
    "Walk Free",
    "Anti-Slavery Network",
    "Fair Harvest Union",
    "Migrant Rights Watch",
    "Global Business Coalition",
    "Child Labour Platform",
    "Ministry of Labour",
    "UNODC",
]


def headline(rng: random.Random) -> str:
    return (
        f"{rng.choice(_ACTORS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
        f" on {rng.choice(_SUBJECTS)} in {rng.choice(_PLACES)}"
    )


def variant(title: str, rng: random.Random) -> str:
    """How another partner re-publishes a title."""
    choice = rng.randrange(4)
    if choice == 0:
        return "News: " + title
    if choice == 1:
        return title.replace(" on ", " to tackle ", 1)
    if choice == 2:
        return title.lower()
    return title + " | " + rng.choice(_ACTORS)


def build_store(path: Path, size: int, seed: int) -> None:
    """A store of `size` entries in stories, then NEW unassigned entries."""
    from sqlalchemy import insert

    from aggregator.merge import story_uri
    from aggregator.store import Store
    from aggregator.store.schema import entries, stories

    rng = random.Random(seed)
    store = Store.open(f"sqlite:///{path}")
    days = max(1, size // ENTRIES_PER_DAY)
    rows, story_rows = [], []
    recent: list[tuple[str, str, datetime]] = []  # (title, source, date) of recent stories
    pk = 0
    while len(rows) < size:
        pk += 1
        published = NOW - timedelta(days=rng.uniform(1, days))
        title = f"{headline(rng)} ({pk})"  # unique: the stored stories are all distinct
        uri = story_uri(f"seed-{pk}", "bench.example,2026")
        story_rows.append({"pk": pk, "uri": uri, "seed": f"seed-{pk}", "created_at": published})
        carriers = rng.sample(SOURCES, k=min(len(SOURCES), 1 + int(rng.expovariate(1.5))))
        for source in carriers:
            rows.append(_entry(source, f"guid:{len(rows)}", title, published, pk))
        if published > NOW - timedelta(days=5):
            recent.append((title, carriers[0], published))
    new = []
    for n in range(NEW):
        if n % 2 and recent:
            title, source, published = rng.choice(recent)
            other = rng.choice([s for s in SOURCES if s != source])
            new.append(_entry(other, f"guid:new-{n}", variant(title, rng), published, None))
        else:
            published = NOW - timedelta(hours=rng.uniform(0, 48))
            new.append(_entry(rng.choice(SOURCES), f"guid:new-{n}", headline(rng), published, None))
    with store.engine.begin() as conn:
        conn.execute(insert(stories), story_rows)
        for start in range(0, len(rows), 5000):
            conn.execute(insert(entries), rows[start : start + 5000])
        conn.execute(insert(entries), new)
    store.close()


def _entry(source: str, key: str, title: str, published: datetime, story: int | None) -> dict:  # type: ignore[type-arg]
    return {
        "source_id": source,
        "key": key,
        "guid": key,
        "link": None,
        "canonical_url": None,
        "title": title,
        "summary_html": "",
        "content_html": "",
        "tags": "[]",
        "published_at": published,
        "first_seen_at": published,
        "last_seen_at": published,
        "content_hash": key,
        "story_pk": story,
    }


def run_case(path: Path, method: str) -> dict[str, float]:
    """In this (fresh) process: merge the unassigned entries the chosen way."""
    from aggregator.config import Config, Settings, Source
    from aggregator.pipeline import merge
    from aggregator.store import Store

    store = Store.open(f"sqlite:///{path}")
    started = time.perf_counter()
    if method == "ours":
        settings = Settings(
            title="bench",
            public_url="https://bench.example/",
            output_dir=path.parent,
            database=f"sqlite:///{path}",
            tag_authority="bench.example,2026",
        )
        config = Config(
            path, settings, tuple(Source(s, s, f"https://{s}.example/") for s in SOURCES)
        )
        merge(store, config, NOW)
        from sqlalchemy import func, select

        from aggregator.store.schema import entries, stories

        with store.engine.connect() as conn:
            joined = conn.execute(
                select(func.count())
                .select_from(entries.join(stories, stories.c.pk == entries.c.story_pk))
                .where(entries.c.key.like("guid:new-%"), stories.c.seed.like("seed-%"))
            ).scalar()
        matched = float(joined or 0)
    else:
        from rapidfuzz import fuzz, process
        from sqlalchemy import select

        from aggregator.store.schema import entries

        with store.engine.connect() as conn:
            stored = [
                r[0]
                for r in conn.execute(
                    select(entries.c.title).where(entries.c.story_pk.is_not(None))
                )
            ]
            fresh = [
                r[0]
                for r in conn.execute(select(entries.c.title).where(entries.c.story_pk.is_(None)))
            ]
        matches = 0
        for title in fresh:  # extractOne scans the whole list in C++
            if process.extractOne(title, stored, scorer=fuzz.token_set_ratio, score_cutoff=90):
                matches += 1
        matched = float(matches)
    elapsed = time.perf_counter() - started
    store.close()
    rss = _peak_rss_mb()
    return {"seconds": elapsed, "peak_rss_mb": rss, "matched": matched}


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited through fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--only", default="ours,naive")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--case", nargs=2, metavar=("DB", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(Path(args.case[0]), args.case[1])))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = args.only.split(",")
    results: dict[tuple[int, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="merge-bench-") as tmp:
        for size in sizes:
            db = Path(tmp) / f"store-{size}.sqlite"
            build_store(db, size, args.seed)
            for method in methods:
                copy = Path(tmp) / f"case-{size}-{method}.sqlite"
                copy.write_bytes(db.read_bytes())
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.merge_bench", "--case", str(copy), method],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if out.returncode:
                    sys.exit(f"{method} at {size} failed:\n{out.stderr}")
                results[(size, method)] = json.loads(out.stdout)
    print(f"incremental merge of {NEW} new entries (python {sys.version.split()[0]})")
    print(
        f"{'store':>8}  {'method':<6}  {'seconds':>8}  {'peak RSS MB':>11}  {'speed-up':>8}"
        f"  {'joined existing stories':>23}"
    )
    for size in sizes:
        for method in methods:
            row = results[(size, method)]
            speed = ""
            if method == "ours" and (size, "naive") in results:
                speed = f"{results[(size, 'naive')]['seconds'] / row['seconds']:.0f}x"
            print(
                f"{size:>8}  {method:<6}  {row['seconds']:>8.3f}  {row['peak_rss_mb']:>11.0f}"
                f"  {speed:>8}  {row['matched']:>10.0f} of {NEW // 2} re-publications"
            )
    if "ours" in methods and len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        growth = results[(last, "ours")]["seconds"] / results[(first, "ours")]["seconds"]
        print(f"ours: store x{last / first:.0f} -> time x{growth:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
