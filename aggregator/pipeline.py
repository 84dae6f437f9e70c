"""One pass: due sources -> fetch -> parse -> normalize -> store -> merge -> publish.

Purpose: the shared core of `run`, `schedule` and `demo`. Input: a Config, an open
Store and the current time. Output: a RunReport. Failure: a source's failure is a
SourceOutcome, never an exception; only a store or publish error stops the pass.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

from aggregator.config import Config, Source
from aggregator.errors import ParseError, PublishError
from aggregator.fetch import Fetcher
from aggregator.merge import build_items, plan_assignments
from aggregator.models import (
    Failed,
    FailureKind,
    Fetched,
    FetchResult,
    Item,
    PublishReport,
    RunReport,
    SourceOutcome,
    SourceState,
)
from aggregator.normalize import normalize_entry
from aggregator.parse import parse
from aggregator.publish import publish
from aggregator.store import Store

log = logging.getLogger("aggregator")

Clock = Callable[[], datetime]
Progress = Callable[[SourceOutcome], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


JITTER = 0.1  # up to 10 % added to each wait, so sources drift apart instead of bunching


def is_gone(source: Source, state: SourceState | None) -> bool:
    """The configured URL answered 410 Gone; it is not polled again until it changes."""
    return state is not None and state.url == source.url and state.last_error_kind == "gone"


def is_due(source: Source, state: SourceState | None, now: datetime) -> bool:
    """Due when never checked, its URL changed, or next_check passed; never when gone."""
    if not source.enabled or is_gone(source, state):
        return False
    if state is None or state.next_check_at is None or state.url != source.url:
        return True
    return state.next_check_at <= now


def next_check(
    source: Source,
    now: datetime,
    *,
    failures: int = 0,
    retry_after: timedelta | None = None,
    rng: random.Random | None = None,
) -> datetime:
    """When to check a source again, from `now`.

    Success: the source's interval. Failure number n: interval × 2^(n-1)
    (exponential backoff). A server's Retry-After lengthens the wait, never
    shortens it (up to max_interval). Jitter adds up to 10 %; nothing waits
    longer than max_interval.
    """
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    wait = source.interval
    if failures > 1:
        wait = source.interval * 2 ** min(failures - 1, 32)
    if retry_after is not None:
        wait = max(wait, retry_after)
    wait = min(wait, source.max_interval)
    wait = min(wait * (1 + rng.uniform(0, JITTER)), source.max_interval)
    return now + wait


def due_sources(
    config: Config,
    states: dict[str, SourceState],
    now: datetime,
    *,
    force: bool = False,
    only: Collection[str] = (),
) -> list[Source]:
    chosen = [s for s in config.sources if not only or s.id in only]
    if force:
        # --force ignores schedules; a gone source is retried only when named.
        return [s for s in chosen if s.enabled and (only or not is_gone(s, states.get(s.id)))]
    return [s for s in chosen if is_due(s, states.get(s.id), now)]


def _process(
    store: Store, source: Source, result: FetchResult, now: datetime, failures: int
) -> SourceOutcome:
    """Parse, normalise and store one fetch result; returns what happened.

    `failures` is the source's consecutive failures before this pass.
    """
    check_at = next_check(source, now)
    if isinstance(result, Fetched):
        try:
            parsed = parse(result.body, result.content_type, result.final_url, source)
        except ParseError as exc:
            result = Failed(
                source.id,
                source.url,
                FailureKind(exc.kind),
                exc.detail,
                http_status=result.status,
                elapsed=result.elapsed,
            )
        else:
            entries = [normalize_entry(raw, source.id, result.final_url) for raw in parsed.entries]
            new, updated = store.record_entries(
                source.id,
                source.url,
                result.validators,
                result.status,
                entries,
                parsed.warnings,
                now,
                check_at,
            )
            return SourceOutcome(
                source.id,
                "ok",
                http_status=result.status,
                new=new,
                updated=updated,
                warnings=parsed.warnings,
                duration=result.elapsed,
            )
    if isinstance(result, Failed):
        retry_at = next_check(source, now, failures=failures + 1, retry_after=result.retry_after)
        store.record_failure(result, now, None if result.kind == FailureKind.GONE else retry_at)
        return SourceOutcome(
            source.id,
            "failed",
            http_status=result.http_status,
            kind=result.kind,
            detail=result.detail,
            duration=result.elapsed,
        )
    store.record_not_modified(source.id, source.url, result.validators, now, check_at)
    return SourceOutcome(source.id, "not_modified", http_status=304, duration=result.elapsed)


def merge(store: Store, config: Config, now: datetime) -> int:
    """Attach new entries to stories; returns how many stories were created."""
    unassigned = store.unassigned_entries()
    if not unassigned:
        return 0
    known = store.story_index(e.canonical_url for e in unassigned if e.canonical_url)
    plan = plan_assignments(unassigned, known, config.settings.tag_authority)
    return store.assign_stories(plan, now)


def current_items(store: Store, config: Config) -> list[Item]:
    sources = {s.id: s for s in config.sources}
    stories = store.latest_stories(list(sources), config.settings.max_items)
    return build_items(stories, sources)


def publish_from_store(store: Store, config: Config) -> PublishReport:
    return publish(current_items(store, config), config.settings)


def run_pass(
    config: Config,
    store: Store,
    *,
    clock: Clock = utcnow,
    force: bool = False,
    only: Collection[str] = (),
    progress: Progress | None = None,
    fetcher: Fetcher | None = None,
) -> RunReport:
    """Fetch the due sources, store what they give, merge, and publish."""
    started = clock()
    states = store.source_states()
    due = due_sources(config, states, started, force=force, only=only)
    fetcher = fetcher or Fetcher(config.settings)
    # A source whose URL changed in feeds.toml must not send the old URL's validators.
    validators = {
        s.id: states[s.id].validators for s in due if s.id in states and states[s.id].url == s.url
    }
    by_id = {s.id: s for s in due}
    outcomes: list[SourceOutcome] = []
    for result in fetcher.fetch_all(due, validators):
        source = by_id[result.source_id]
        state = states.get(source.id)
        failures = state.consecutive_failures if state and state.url == source.url else 0
        outcome = _process(store, source, result, clock(), failures)
        _log_outcome(outcome)
        outcomes.append(outcome)
        if progress:
            progress(outcome)
    merge(store, config, clock())
    t0 = time.monotonic()
    report: PublishReport | None = None
    publish_error = None
    try:
        report = publish_from_store(store, config)
    except PublishError as exc:
        publish_error = str(exc)
        log.error("publish failed: %s", exc)
    else:
        log.info(
            "published %d items: %d files written, %d unchanged (%.2fs)",
            report.items,
            len(report.written),
            len(report.unchanged),
            time.monotonic() - t0,
        )
    order = {s.id: n for n, s in enumerate(config.sources)}
    outcomes.sort(key=lambda o: order.get(o.source_id, 0))
    return RunReport(
        started=started,
        finished=clock(),
        outcomes=tuple(outcomes),
        publish=report,
        publish_error=publish_error,
        skipped=tuple(
            s.id for s in config.sources if s.id not in by_id and (not only or s.id in only)
        ),
    )


def _log_outcome(outcome: SourceOutcome) -> None:
    if outcome.status == "failed":
        log.warning(
            "source=%s status=failed kind=%s http=%s duration=%.2fs detail=%s",
            outcome.source_id,
            outcome.kind,
            outcome.http_status,
            outcome.duration,
            outcome.detail,
        )
        return
    log.info(
        "source=%s status=%s http=%s new=%d updated=%d duration=%.2fs%s",
        outcome.source_id,
        outcome.status,
        outcome.http_status,
        outcome.new,
        outcome.updated,
        outcome.duration,
        f" warning={'; '.join(outcome.warnings)}" if outcome.warnings else "",
    )
