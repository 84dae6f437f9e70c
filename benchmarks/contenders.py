"""One contender of the fetch benchmark, run in a fresh interpreter by fetch_bench.

Usage: python benchmarks/contenders.py SPEC.json

SPEC names the contender (ours, reader or naive), the feed URLs, the worker count,
the passes and a private work folder for the contender's store. The child talks to
its parent over stdout/stdin so the parent can read the server's request counters
exactly at each pass's edges:

    child -> "BENCH {"event": "ready", "pass": "cold"}"   (set-up done, not timed)
    parent -> "go"                                        (counters read)
    child -> "BENCH {"event": "done", "pass": "cold", "wall": …, "peak_rss_kb": …, …}"

Peak RSS is the process's VmHWM, reset before each pass (clear_refs 5), so a warm
pass's peak does not inherit the cold pass's; it includes the interpreter and imports.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

Pass = Callable[[str], dict[str, Any]]
_HWM = re.compile(r"VmHWM:\s+(\d+)\s+kB")


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_kb() -> int:
    try:
        match = _HWM.search(Path("/proc/self/status").read_text())
    except OSError:
        match = None
    if match:
        return int(match.group(1))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write("BENCH " + json.dumps(event) + "\n")
    sys.stdout.flush()


# --- ours: the real CLI, `aggregator --quiet run --force`, in this interpreter ---


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def setup_ours(spec: dict[str, Any], workdir: Path) -> Pass:
    from aggregator.cli import main

    lines = [
        "[aggregator]",
        'title = "Fetch benchmark"',
        'public_url = "https://bench.example.org/forced-labour/"',
        'output_dir = "output"',
        'database = "sqlite:///store.sqlite"',
        f"workers = {int(spec['workers'])}",
        'allow_networks = ["127.0.0.0/8"]',
        "",
        "[defaults]",
        'timeout = "30s"',
    ]
    for number, url in enumerate(spec["urls"]):
        lines += ["", "[[sources]]", f'id = "s{number:05d}"', f"url = {_toml_string(url)}"]
    config = workdir / "feeds.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def one_pass(_name: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            # --force makes every source due, as a fresh store or an operator would.
            main(["--quiet", "--config", str(config), "run", "--force"], standalone_mode=False)
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise RuntimeError(f"aggregator run exited {exc.code}") from exc
        measured = {"wall": time.perf_counter() - started, "peak_rss_kb": peak_rss_kb()}
        return {**measured, **_ours_detail(workdir)}

    return one_pass


def _ours_detail(workdir: Path) -> dict[str, Any]:
    from aggregator.store import Store

    store = Store.open(f"sqlite:///{workdir / 'store.sqlite'}")
    try:
        states = store.source_states().values()
    finally:
        store.close()
    return {
        "entries": sum(s.entries for s in states),
        "failed": sum(1 for s in states if s.consecutive_failures),
        "statuses": dict(Counter(str(s.last_http_status) for s in states)),
    }


# --- reader: lemon24/reader's update_feeds over the same feeds ---


def setup_reader(spec: dict[str, Any], workdir: Path) -> Pass:
    from reader import make_reader

    database = str(workdir / "reader.sqlite")
    reader = make_reader(database)
    for url in spec["urls"]:
        reader.add_feed(url)
    reader.close()
    workers = int(spec["workers"])

    def one_pass(_name: str) -> dict[str, Any]:
        started = time.perf_counter()
        reader = make_reader(database)
        # scheduled=False updates every feed, like `run --force`; by default reader
        # skips feeds updated within the last hour, i.e. the whole warm pass.
        reader.update_feeds(workers=workers, scheduled=False)
        reader.close()
        measured = {"wall": time.perf_counter() - started, "peak_rss_kb": peak_rss_kb()}
        reader = make_reader(database)
        try:
            feeds = list(reader.get_feeds())
            detail = {
                "entries": reader.get_entry_counts().total,
                "failed": sum(1 for f in feeds if f.last_exception is not None),
            }
        finally:
            reader.close()
        return {**measured, **detail}

    return one_pass


# --- naive: one request after another, feedparser on each body ---


def setup_naive(spec: dict[str, Any], _workdir: Path) -> Pass:
    import feedparser
    import requests

    urls: list[str] = spec["urls"]
    validators: dict[str, tuple[str | None, str | None]] = {}

    def one_pass(name: str) -> dict[str, Any]:
        entries = failed = 0
        started = time.perf_counter()
        for url in urls:
            headers = {}
            etag, modified = validators.get(url, (None, None)) if name != "cold" else (None, None)
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
            try:
                response = requests.get(url, headers=headers, timeout=30)
            except requests.RequestException:
                failed += 1
                continue
            if response.status_code == 304:
                continue
            if response.status_code != 200:
                failed += 1
                continue
            parsed = feedparser.parse(response.content)
            entries += len(parsed.entries)
            validators[url] = (response.headers.get("ETag"), response.headers.get("Last-Modified"))
        wall = time.perf_counter() - started
        return {"wall": wall, "peak_rss_kb": peak_rss_kb(), "entries": entries, "failed": failed}

    return one_pass


def _profiled(one_pass: Pass, name: str, stem: Path) -> dict[str, Any]:
    """Run a pass under pyinstrument (statistical, low overhead) or, without it, cProfile."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile

        profile = cProfile.Profile()
        result = profile.runcall(one_pass, name)
        profile.dump_stats(stem.with_suffix(".pstats"))
        return result
    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        return one_pass(name)
    finally:
        profiler.stop()
        stem.with_suffix(".txt").write_text(profiler.output_text(unicode=True), encoding="utf-8")
        stem.with_suffix(".html").write_text(profiler.output_html(), encoding="utf-8")


SETUPS: dict[str, Callable[[dict[str, Any], Path], Pass]] = {
    "ours": setup_ours,
    "reader": setup_reader,
    "naive": setup_naive,
}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    workdir = Path(spec["workdir"])
    one_pass = SETUPS[spec["contender"]](spec, workdir)
    for name in spec["passes"]:
        emit({"event": "ready", "pass": name})
        if sys.stdin.readline().strip() != "go":
            return 1  # the parent went away
        reset = reset_peak_rss()
        if spec.get("profile"):
            result = _profiled(one_pass, name, Path(spec["profile"]) / f"{spec['label']}-{name}")
        else:
            result = one_pass(name)
        emit({"event": "done", "pass": name, "peak_reset": reset, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
