"""The long-running service: APScheduler 3.x runs the pass on an interval.

Purpose: `aggregator schedule`. One job, `max_instances=1` and `coalesce=True`, so
passes never overlap and missed runs collapse into one; each pass also takes the
store's lock, so a cron `run` on the same store is never overlapped either (the
pass is skipped and logged instead). SIGTERM/SIGINT stop the scheduler after the
current pass finishes; a pass is bounded by the sources' time limits.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("aggregator")


def run_service(job: Callable[[], None], interval: timedelta, stop: threading.Event) -> None:
    """Run `job` now and then every `interval` until `stop` is set (by a signal)."""
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        job,
        IntervalTrigger(seconds=int(interval.total_seconds()), timezone=UTC),
        id="pass",
        name="fetch, merge and publish",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=int(interval.total_seconds()),
        next_run_time=datetime.now(UTC),
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the current pass", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    # Silence APScheduler's "maximum number of running instances reached" chatter at INFO.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler.start()
    log.info("service started: a pass every %s", interval)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("service stopped")
