"""Fetch benchmark (#4): our pipeline against lemon24/reader and a naive loop.

A local server (benchmarks/server.py) serves 1,000 synthetic partner feeds spread over
150 loopback origins, with a fixed latency before every answer. Each contender runs in
its own fresh interpreter with its own temporary store and makes two passes: cold
(empty store, every feed is a 200) and warm (same store, every feed answers 304).

- ours: `aggregator --quiet run --force` (the real CLI: config, fetch, parse,
  normalize, store, merge, publish), `workers` from --workers, per_host at its default.
- reader: `Reader.update_feeds(workers=N, scheduled=False)` over the same feeds.
- naive: `requests.get` then `feedparser.parse`, one feed after another; the warm pass
  sends the validators the cold pass saw. Sequential by definition: --workers does not
  apply.

Requests are counted by the server between the pass's edges; wall time and peak RSS
(VmHWM, reset before each pass) are measured in the child. Targets (issue #4), at
200 ms latency: ours warm ≥ 3× faster than reader, ours cold at least as fast as reader.

    python -m benchmarks.fetch_bench                      # 1,000 sources, 0 and 200 ms
    python benchmarks/fetch_bench.py --sources 50 --latency 200 --only ours,reader
    python -m benchmarks.fetch_bench --check              # exit 1 when a target is missed
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.feeds import generate, origin_host, origin_sizes
from benchmarks.server import FeedServer, Snapshot

CONTENDERS = ("ours", "reader", "naive")
PASSES = ("cold", "warm")
CHILD = Path(__file__).resolve().with_name("contenders.py")
TARGET_LATENCY_MS = 200
WARM_TARGET = 3.0  # ours warm ≥ 3× faster than reader
COLD_TARGET = 1.0  # ours cold at least as fast as reader


class BenchError(Exception):
    """A contender crashed or ran out of time; the message says which and why."""


@dataclass(slots=True)
class Row:
    contender: str
    latency_ms: int
    pass_name: str
    wall_s: float
    requests: int
    statuses: dict[str, int]
    peak_rss_mb: float
    peak_in_flight: int
    peak_per_origin: int
    entries: int
    failed: int
    speed_vs_reader: float | None = None  # reader's wall time / this wall time

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(slots=True)
class Target:
    name: str
    status: str  # PASS, FAIL or SKIP
    detail: str


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fetch_bench",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Results on the project's machine: benchmarks/RESULTS.md.",
    )
    parser.add_argument("--sources", type=int, default=1000, help="feeds to serve (1000)")
    parser.add_argument(
        "--entries", type=int, default=None, help="entries per feed (default: 20–50, varied)"
    )
    parser.add_argument(
        "--latency",
        action="append",
        metavar="MS",
        help="server latency in ms, repeatable or a list: --latency 0,200 (default 0 and 200)",
    )
    parser.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help="contenders to run, comma-separated: ours,reader,naive (default all)",
    )
    parser.add_argument(
        "--workers", type=int, default=8, help="concurrent fetches for ours and reader (8)"
    )
    parser.add_argument("--seed", type=int, default=4, help="seed of the synthetic feeds (4)")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds one contender may take (900)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile each pass (pyinstrument, else cProfile) into DIR; slows the runs",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a target is missed or not measured"
    )
    args = parser.parse_args(argv)
    try:
        raw = args.latency or ["0,200"]
        args.latencies = sorted({int(v) for item in raw for v in item.split(",") if v.strip()})
    except ValueError:
        parser.error("--latency takes whole milliseconds, e.g. --latency 0,200")
    if any(v < 0 for v in args.latencies):
        parser.error("--latency must not be negative")
    args.contenders = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(args.contenders) - set(CONTENDERS))
    if unknown or not args.contenders:
        parser.error(f"--only takes {', '.join(CONTENDERS)}; got {args.only!r}")
    args.contenders = [c for c in CONTENDERS if c in args.contenders]
    if args.sources <= 0 or args.workers <= 0 or (args.entries is not None and args.entries <= 0):
        parser.error("--sources, --entries and --workers must be positive")
    return args


def run_contender(
    server: FeedServer,
    contender: str,
    urls: list[str],
    *,
    latency_ms: int,
    workers: int,
    timeout: float,
    profile: Path | None = None,
) -> list[Row]:
    """Run one contender's cold and warm passes in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{contender}-") as tmp:
        workdir = Path(tmp)
        spec = workdir / "spec.json"
        spec.write_text(
            json.dumps(
                {
                    "contender": contender,
                    "urls": urls,
                    "workers": workers,
                    "passes": list(PASSES),
                    "workdir": str(workdir),
                    "profile": str(profile.resolve()) if profile else None,
                    "label": f"{contender}-{latency_ms}ms",
                }
            ),
            encoding="utf-8",
        )
        log_path = workdir / "stderr.log"
        with log_path.open("w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                [sys.executable, str(CHILD), str(spec)],
                cwd=workdir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            timed_out = threading.Event()

            def expire() -> None:
                timed_out.set()
                proc.kill()  # our own child, by its handle

            watchdog = threading.Timer(timeout, expire)
            watchdog.start()
            try:
                rows = _drive(server, proc, contender, latency_ms)
                returncode = proc.wait(timeout=60)
            finally:
                watchdog.cancel()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
        if timed_out.is_set():
            raise BenchError(f"{contender} did not finish within {timeout:g}s")
        if returncode != 0 or len(rows) != len(PASSES):
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise BenchError(f"{contender} exited {returncode}:\n{tail}")
        return rows


def _drive(
    server: FeedServer, proc: subprocess.Popen[str], contender: str, latency_ms: int
) -> list[Row]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    rows: list[Row] = []
    before = Snapshot()
    for line in proc.stdout:
        if not line.startswith("BENCH "):
            continue
        event = json.loads(line[len("BENCH ") :])
        if event["event"] == "ready":
            server.reset_peaks()
            before = server.snapshot()
            proc.stdin.write("go\n")
            proc.stdin.flush()
        elif event["event"] == "done":
            counted = server.snapshot().since(before)
            rows.append(
                Row(
                    contender=contender,
                    latency_ms=latency_ms,
                    pass_name=event["pass"],
                    wall_s=event["wall"],
                    requests=counted.requests,
                    statuses={str(k): v for k, v in sorted(counted.statuses.items())},
                    peak_rss_mb=event["peak_rss_kb"] / 1024,
                    peak_in_flight=counted.peak_in_flight,
                    peak_per_origin=counted.peak_per_origin,
                    entries=event.get("entries", 0),
                    failed=event.get("failed", 0),
                )
            )
            print(
                f"  {contender:<6} {latency_ms:>4} ms {event['pass']}: {event['wall']:.2f} s,"
                f" {counted.requests} requests",
                file=sys.stderr,
                flush=True,
            )
    proc.stdin.close()
    return rows


def add_ratios(rows: list[Row]) -> None:
    reader = {(r.latency_ms, r.pass_name): r.wall_s for r in rows if r.contender == "reader"}
    for row in rows:
        base = reader.get((row.latency_ms, row.pass_name))
        row.speed_vs_reader = base / row.wall_s if base and row.wall_s > 0 else None


def check_targets(rows: list[Row]) -> list[Target]:
    by_key = {(r.contender, r.latency_ms, r.pass_name): r for r in rows}
    targets = []
    for pass_name, wanted, words in (
        ("warm", WARM_TARGET, f"ours warm pass ≥ {WARM_TARGET:g}× faster than reader"),
        ("cold", COLD_TARGET, "ours cold pass at least as fast as reader"),
    ):
        name = f"{words} at {TARGET_LATENCY_MS} ms"
        ours = by_key.get(("ours", TARGET_LATENCY_MS, pass_name))
        reader = by_key.get(("reader", TARGET_LATENCY_MS, pass_name))
        if ours is None or reader is None or ours.speed_vs_reader is None:
            targets.append(Target(name, "SKIP", f"needs ours and reader at {TARGET_LATENCY_MS} ms"))
            continue
        ratio = ours.speed_vs_reader
        detail = f"ours {ours.wall_s:.2f} s, reader {reader.wall_s:.2f} s: {ratio:.2f}×"
        targets.append(Target(name, "PASS" if ratio >= wanted else "FAIL", detail))
    return targets


def sanity_notes(rows: list[Row], sources: int) -> list[str]:
    """Numbers only mean something if every feed was fetched, and warm passes were 304s."""
    notes = []
    for row in rows:
        label = f"{row.contender} {row.latency_ms} ms {row.pass_name}"
        expected = "304" if row.pass_name == "warm" else "200"
        if row.statuses.get(expected, 0) != sources or row.requests != sources:
            notes.append(f"{label}: expected {sources} × {expected}, server saw {row.statuses}")
        if row.failed:
            notes.append(f"{label}: {row.failed} feeds reported as failed")
    return notes


def format_table(rows: list[Row]) -> str:
    header = (
        "contender",
        "latency",
        "pass",
        "wall s",
        "req/s",
        "peak RSS MB",
        "in flight (max/origin)",
        "requests (status×n)",
        "vs reader",
    )
    body = []
    for r in rows:
        statuses = " ".join(f"{s}×{n}" for s, n in r.statuses.items()) or "-"
        ratio = f"{r.speed_vs_reader:.2f}×" if r.speed_vs_reader is not None else "-"
        body.append(
            (
                r.contender,
                f"{r.latency_ms} ms",
                r.pass_name,
                f"{r.wall_s:.2f}",
                f"{r.requests_per_s:.1f}",
                f"{r.peak_rss_mb:.1f}",
                f"{r.peak_in_flight}/{r.peak_per_origin}",
                statuses,
                ratio,
            )
        )
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: Sequence[str]) -> str:
        cells = [
            cell.ljust(width) if index < 3 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "| " + " | ".join(cells) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i >= 3 else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([fmt(header), rule, *(fmt(line) for line in body)])


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def describe(
    args: argparse.Namespace, feeds_count: int, origins: int, entries: int, size: int
) -> str:
    return "\n".join(
        [
            f"python {platform.python_version()} on {platform.system()} {platform.machine()},"
            f" {os.cpu_count()} cores; aggregator {_version('aggregator')},"
            f" reader {_version('reader')}, feedparser {_version('feedparser')},"
            f" requests {_version('requests')}",
            f"{feeds_count} sources on {origins} origins (127.0.0.x, one port), {entries} entries,"
            f" {size / 1024**2:.1f} MiB uncompressed; workers {args.workers}"
            " (ours and reader; naive is sequential); ours per_host default",
            f"load average at start {_load()} (other work on the machine skews the numbers)",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if "reader" in args.contenders and importlib.util.find_spec("reader") is None:
        print(
            "reader is not installed: pip install -e '.[bench]' (or make bench),"
            " or leave it out with --only ours,naive",
            file=sys.stderr,
        )
        return 2
    hosts = [origin_host(i) for i in range(len(origin_sizes(args.sources)))]
    rows: list[Row] = []
    with FeedServer(hosts) as server:
        feeds = generate(args.sources, entries=args.entries, port=server.port, seed=args.seed)
        server.load(feeds)
        urls = [server.url(feed) for feed in feeds]
        facts = describe(
            args,
            len(feeds),
            len(hosts),
            sum(f.entries for f in feeds),
            sum(len(f.body) for f in feeds),
        )
        print(facts, file=sys.stderr, flush=True)
        try:
            for latency_ms in args.latencies:
                server.latency = latency_ms / 1000
                for contender in args.contenders:
                    rows += run_contender(
                        server,
                        contender,
                        urls,
                        latency_ms=latency_ms,
                        workers=args.workers,
                        timeout=args.timeout,
                        profile=args.profile,
                    )
        except BenchError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
    add_ratios(rows)
    targets = check_targets(rows)
    notes = sanity_notes(rows, len(feeds))
    print(facts)
    print()
    print(format_table(rows))
    print()
    for target in targets:
        print(f"{target.status}  {target.name}: {target.detail}")
    for note in notes:
        print(f"NOTE  {note}")
    print(f"load average at end {_load()}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "facts": facts,
                    "rows": [asdict(r) | {"requests_per_s": r.requests_per_s} for r in rows],
                    "targets": [asdict(t) for t in targets],
                    "notes": notes,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    if args.check and (notes or any(t.status != "PASS" for t in targets)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
