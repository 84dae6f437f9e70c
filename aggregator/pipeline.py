"""One pass: due sources -> fetch -> parse -> normalize -> store -> merge -> publish.

Purpose: the shared core of `run`, `schedule` and `demo`. Input: a Config, an open
Store and the current time. Output: a RunReport. Failure: a source's failure is a
SourceOutcome, never an exception; only a store or publish error stops the pass.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import chain

import pycountry

from aggregator.classify import Classification, Match, classify_entry
from aggregator.config import Config, LexiconSettings, Settings, Source
from aggregator.errors import ParseError, PublishError
from aggregator.fetch import Fetcher, origin
from aggregator.health import MOVE_CONFIRMATIONS, fetch_url, is_gone
from aggregator.lexicon import Lexicon
from aggregator.merge import (
    WINDOW,
    build_item,
    build_items,
    item_from_json,
    item_json,
    plan_assignments,
)
from aggregator.models import (
    Deferred,
    Entry,
    Failed,
    FailureKind,
    Fetched,
    FetchResult,
    Item,
    PublishReport,
    RunReport,
    SourceOutcome,
    SourceState,
    StoredEntry,
    Validators,
)
from aggregator.normalize import normalize_entry
from aggregator.parse import parse
from aggregator.publish import Snapshot, current_archive, publish
from aggregator.publish.common import Timeline, tag_slug
from aggregator.store import FetchFacts, Store

log = logging.getLogger("aggregator")

Clock = Callable[[], datetime]
Progress = Callable[[SourceOutcome], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


JITTER = 0.1  # up to 10 % added to each wait, so sources drift apart instead of bunching


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
    hint: timedelta | None = None,
    skip_hours: frozenset[int] = frozenset(),
    rng: random.Random | None = None,
) -> datetime:
    """When to check a source again, from `now`.

    Success: the source's interval, or longer when the feed says how long it stays
    fresh (`hint`: Cache-Control max-age, Expires, RSS <ttl>), never shorter.
    Failure number n: interval × 2^(n-1) (exponential backoff). A server's
    Retry-After lengthens the wait, never shortens it. Jitter adds up to 10 %;
    nothing waits longer than max_interval. A time inside the feed's RSS
    <skipHours> (UTC) moves to the next hour that is not skipped, within
    max_interval.
    """
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    wait = source.interval
    if failures > 1:
        wait = source.interval * 2 ** min(failures - 1, 32)
    for longer in (retry_after, hint):
        if longer is not None:
            wait = max(wait, longer)
    wait = min(wait, source.max_interval)
    wait = min(wait * (1 + rng.uniform(0, JITTER)), source.max_interval)
    when = now + wait
    latest = now + source.max_interval
    while skip_hours and when.astimezone(UTC).hour in skip_hours:
        following = when.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if following > latest:
            break
        when = following
    return when


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


def _moved(
    source: Source, fetched: str, moved_to: str | None, state: SourceState | None
) -> FetchFacts:
    """Where the configured URL now permanently leads, and for how many passes."""
    observed = moved_to or (fetched if fetched != source.url else None)
    if observed is None:
        return FetchFacts()
    seen = 1
    if state is not None and state.url == source.url and state.moved_to == observed:
        seen = state.moved_seen + 1
    if seen == MOVE_CONFIRMATIONS:
        log.warning(
            "source=%s moved permanently to %s (confirmed on %d passes); fetching the new URL"
            " from now on — update its url in feeds.toml",
            source.id,
            observed,
            seen,
        )
    elif seen == 1:
        log.info("source=%s redirects permanently to %s", source.id, observed)
    return FetchFacts(moved_to=observed, moved_seen=seen)


def _process(
    store: Store,
    source: Source,
    fetched: str,
    result: FetchResult,
    now: datetime,
    state: SourceState | None,
    settings: Settings,
    lexicon: Lexicon,
) -> SourceOutcome:
    """Parse, normalise and store one fetch result; returns what happened.

    `source` is the configured source; `fetched` the URL actually fetched (its
    confirmed new location, if it moved); `state` what the store knew before.
    """
    failures = state.consecutive_failures if state and state.url == source.url else 0
    if isinstance(result, Deferred):
        store.record_deferred(source.id, source.url, now + result.wait)
        return SourceOutcome(source.id, "deferred", detail=result.detail)
    if isinstance(result, Fetched):
        try:
            parsed = parse(result.body, result.content_type, result.final_url, source)
        except ParseError as exc:
            result = Failed(
                source.id,
                fetched,
                FailureKind(exc.kind),
                exc.detail,
                http_status=result.status,
                elapsed=result.elapsed,
            )
        else:
            entries = [normalize_entry(raw, source.id, result.final_url) for raw in parsed.entries]
            entries, blocked = _drop_blocked(entries, source, settings)
            entries, filtered = _classified(entries, source, lexicon, parsed.language)
            if state is not None and state.identity == "link":
                entries = [_by_link(e) for e in entries]
            hints = [h for h in (result.cache_for, parsed.ttl) if h is not None]
            facts = replace(
                _moved(source, fetched, result.moved_to, state), duration=result.elapsed
            )
            new, updated, rekeyed = store.record_entries(
                source.id,
                source.url,
                result.validators,
                result.status,
                entries,
                parsed.warnings,
                now,
                next_check(
                    source, now, hint=max(hints, default=None), skip_hours=parsed.skip_hours
                ),
                facts,
            )
            if rekeyed and (state is None or state.identity != "link"):
                log.warning(
                    "source=%s %d entries came back under new ids with the same link;"
                    " its entries are identified by link from now on",
                    source.id,
                    rekeyed,
                )
            return SourceOutcome(
                source.id,
                "ok",
                http_status=result.status,
                new=new,
                updated=updated,
                warnings=parsed.warnings,
                duration=result.elapsed,
                blocked=blocked,
                filtered=filtered,
            )
    if isinstance(result, Failed):
        retry_at = next_check(source, now, failures=failures + 1, retry_after=result.retry_after)
        if result.retry_after is not None:
            store.hold_host(origin(fetched), now + result.retry_after, result.detail)
        gone = result.kind == FailureKind.GONE
        store.record_failure(result, source.url, now, None if gone else retry_at)
        return SourceOutcome(
            source.id,
            "failed",
            http_status=result.http_status,
            kind=result.kind,
            detail=result.detail,
            duration=result.elapsed,
        )
    # The last skipHours we saw is not kept across a 304; the cache hint is.
    facts = replace(_moved(source, fetched, result.moved_to, state), duration=result.elapsed)
    check_at = next_check(source, now, hint=result.cache_for)
    store.record_not_modified(source.id, source.url, result.validators, now, check_at, facts)
    return SourceOutcome(source.id, "not_modified", http_status=304, duration=result.elapsed)


@lru_cache(maxsize=8)
def _lexicon(settings: LexiconSettings) -> Lexicon:
    return Lexicon.load(overrides=settings)


def lexicon_for(config: Config) -> Lexicon:
    """The classification lexicon of this configuration, loaded once per process."""
    return _lexicon(config.lexicon)


def _classified(
    entries: list[Entry], source: Source, lexicon: Lexicon, feed_language: str | None
) -> tuple[list[Entry], int]:
    """Classify each entry; drop the off-topic ones of a `filter = "topic"` source.

    Returns (kept entries with their labels, language and why; how many dropped).
    """
    kept = []
    for entry in entries:
        found = classify_entry(entry, source, lexicon, feed_language=feed_language)
        if not found.relevant:
            continue
        kept.append(
            replace(entry, labels=labels_of(found), language=found.language, why=why_json(found))
        )
    return kept, len(entries) - len(kept)


def labels_of(found: Classification) -> tuple[str, ...]:
    """Our tag slugs for a classified entry: themes, kind, language, country-xx."""
    labels = [*found.themes, found.kind]
    if found.language:
        labels.append(found.language)
    labels.extend(f"country-{code.lower()}" for code in found.countries)
    return tuple(dict.fromkeys(labels))


def why_json(found: Classification) -> str:
    """Why an entry was kept, as stored and published (digest.json, `explain`)."""

    def matches(items: tuple[Match, ...]) -> list[dict[str, object]]:
        return [
            {"term": m.term, "themes": list(m.themes), "field": m.field, "weight": m.weight}
            for m in items
        ]

    return json.dumps(
        {
            "score": round(found.score, 3),
            "relevant": found.relevant,
            "matches": matches(found.matches),
            "negatives": matches(found.negatives),
            "themes": list(found.themes),
            "kind": found.kind,
            "countries": list(found.countries),
            "language": found.language,
        },
        ensure_ascii=False,
    )


def _by_link(entry: Entry) -> Entry:
    """Re-key an entry by its canonical link (a source whose GUIDs churn)."""
    if entry.canonical_url and entry.key.startswith("guid:"):
        return replace(entry, key=f"link:{entry.canonical_url}")
    return entry


@lru_cache(maxsize=256)
def _block_rule(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive regex for a list of patterns (validated by config)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None


def _drop_blocked(
    entries: list[Entry], source: Source, settings: Settings
) -> tuple[list[Entry], int]:
    """Drop entries matching a block rule (global or the source's): (kept, dropped)."""
    titles = _block_rule(settings.block_titles + source.block_titles)
    urls = _block_rule(settings.block_urls + source.block_urls)
    if titles is None and urls is None:
        return entries, 0
    kept = [
        e
        for e in entries
        if not (titles and titles.search(e.title))
        and not (urls and any(urls.search(u) for u in (e.link, e.canonical_url) if u))
    ]
    return kept, len(entries) - len(kept)


def prune(store: Store, config: Config, now: datetime) -> int:
    """Retention: tombstone stories older than `retention` that no partner lists any more.

    Their published form is kept as a snapshot (for archives); returns how many.
    """
    stories = store.prunable_stories(now - config.settings.retention)
    if not stories:
        return 0
    sources = {s.id: s for s in config.sources}
    snapshots = {}
    for members in stories:
        known = {
            m.source_id: sources.get(m.source_id) or Source(m.source_id, m.source_id, "")
            for m in members
        }
        item = build_item(members, known)
        snapshots[item.id] = json.dumps(item_json(item), ensure_ascii=False)
    store.prune(snapshots, now)
    log.info(
        "retention: %d stories older than %s left the working set",
        len(snapshots),
        config.settings.retention,
    )
    return len(snapshots)


def merge(store: Store, config: Config, now: datetime) -> int:
    """Attach new entries to stories; returns how many stories were created."""
    unassigned = store.unassigned_entries()
    if not unassigned:
        return 0
    known = store.story_index(e.canonical_url for e in unassigned if e.canonical_url)
    # Only stories near the new entries in time can take them: load those, one
    # query per run of dates (a cold pass over years of history stays bounded).
    neighbours: list[StoredEntry] = []
    for start, end in _spans(sorted(e.published_at for e in unassigned), WINDOW):
        neighbours.extend(store.entries_between(start, end))
    plan = plan_assignments(unassigned, known, config.settings.tag_authority, neighbours)
    return store.assign_stories(plan, now)


def _spans(dates: list[datetime], margin: timedelta) -> list[tuple[datetime, datetime]]:
    """Sorted dates -> the fewest [start, end] ranges covering each date ± margin."""
    spans: list[tuple[datetime, datetime]] = []
    for when in dates:
        if spans and when - margin <= spans[-1][1]:
            spans[-1] = (spans[-1][0], when + margin)
        else:
            spans.append((when - margin, when + margin))
    return spans


def current_items(store: Store, config: Config) -> list[Item]:
    sources = {s.id: s for s in config.sources}
    stories = store.latest_stories(list(sources), config.settings.max_items)
    return build_items(stories, sources)


def tag_timelines(store: Store, config: Config) -> list[Timeline]:
    """One timeline per tag, in slug order: the classification tags of published
    entries (themes, kind, language, country-xx) and the sources' feeds.toml tags,
    as `tag_feeds` and `tag_feed_min_items` allow."""
    sources = {s.id: s for s in config.sources}
    by_tag: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for source in config.sources:
        for tag in source.tags:
            if tag_slug(tag):
                by_tag.setdefault(tag_slug(tag), []).append(source.id)
                names.setdefault(tag_slug(tag), tag)
    slugs = set(by_tag) | store.labels_in_use(list(sources))
    wanted = config.settings.tag_feeds
    if wanted is not None:
        slugs &= set(wanted)
    timelines = []
    for slug in sorted(slugs):
        stories = store.latest_stories(
            list(sources),
            config.settings.max_items,
            label=slug,
            label_sources=by_tag.get(slug, ()),
        )
        items = build_items(stories, sources)
        if len(items) >= config.settings.tag_feed_min_items:
            timelines.append(
                Timeline(items=items, slug=slug, label=names.get(slug) or label_name(slug))
            )
    return timelines


def label_name(slug: str) -> str:
    """A human name for a classification slug: "child-labour" -> "Child labour",
    "country-br" -> "Brazil", "fr" -> "Français", "event" -> "Events"."""
    if slug.startswith("country-"):
        country = pycountry.countries.get(alpha_2=slug.removeprefix("country-").upper())
        return str(getattr(country, "common_name", None) or country.name) if country else slug
    special = {
        "news": "News",
        "event": "Events",
        "publication": "Publications",
        "en": "English",
        "fr": "Français",
        "es": "Español",
    }
    return special.get(slug) or slug.replace("-", " ").capitalize()


def archive_items(store: Store, config: Config) -> list[Item]:
    """Every story ever published and not hidden, for the archives (two queries).

    Stories in the working set are built as the live feed builds them; pruned ones
    come from their snapshots (their published form when they were pruned). Both
    are limited to stories carried by a configured source.
    """
    sources = {s.id: s for s in config.sources}
    items = build_items(store.published_stories(list(sources)), sources)
    for snapshot_json in store.pruned_snapshots():
        item = item_from_json(json.loads(snapshot_json))
        if any(p.source_id in sources for p in item.sources):
            items.append(item)
    return items


def snapshot(store: Store, config: Config, now: datetime, *, changed: bool = True) -> Snapshot:
    """Everything publish needs. `changed=False` (a pass that stored nothing new) skips
    the archives when the current month's are already written: they are still right."""
    keep = not changed and current_archive(config.settings.output_dir, now) is not None
    return Snapshot(
        settings=config.settings,
        sources=config.sources,
        main=Timeline(items=current_items(store, config)),
        tags=tuple(tag_timelines(store, config)),
        states=store.source_states(),
        holds=store.host_holds(now),
        now=now,
        history=None if keep else tuple(archive_items(store, config)),
    )


def publish_from_store(
    store: Store, config: Config, now: datetime | None = None, *, changed: bool = True
) -> PublishReport:
    return publish(snapshot(store, config, now or utcnow(), changed=changed))


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
    lexicon = lexicon_for(config)
    # A source whose URL changed in feeds.toml must not send the old URL's validators.
    validators = {
        s.id: states[s.id].validators for s in due if s.id in states and states[s.id].url == s.url
    }
    by_id = {s.id: s for s in due}
    # What to fetch: a confirmed move's new URL instead of the configured one.
    targets = {s.id: fetch_url(s, states.get(s.id)) for s in due}
    outcomes: list[SourceOutcome] = []
    for result in _fetch_due(fetcher, due, targets, validators, store.host_holds(started), started):
        source = by_id[result.source_id]
        outcome = _process(
            store,
            source,
            targets[source.id],
            result,
            clock(),
            states.get(source.id),
            config.settings,
            lexicon,
        )
        _log_outcome(outcome)
        outcomes.append(outcome)
        if progress:
            progress(outcome)
    created = merge(store, config, clock())
    pruned = prune(store, config, clock())
    t0 = time.monotonic()
    report: PublishReport | None = None
    publish_error = None
    try:
        changed = created or pruned or any(o.new or o.updated for o in outcomes)
        report = publish_from_store(store, config, clock(), changed=bool(changed))
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


def _fetch_due(
    fetcher: Fetcher,
    due: Iterable[Source],
    targets: dict[str, str],
    validators: dict[str, Validators],
    holds: dict[str, tuple[datetime, str]],
    now: datetime,
) -> Iterator[FetchResult]:
    """Fetch the due sources, except those whose host still asks us to wait."""
    waiting: list[FetchResult] = []
    fetch: list[Source] = []
    for source in due:
        target = targets[source.id]
        hold = holds.get(origin(target))
        if hold is not None:
            until, reason = hold
            detail = f"{origin(target)} asked to wait until {until:%Y-%m-%d %H:%M} UTC ({reason})"
            waiting.append(Deferred(source.id, target, until - now, detail))
        else:
            fetch.append(source if target == source.url else replace(source, url=target))
    return chain(waiting, fetcher.fetch_all(fetch, validators))


def _log_outcome(outcome: SourceOutcome) -> None:
    if outcome.status == "deferred":
        log.info("source=%s status=deferred detail=%s", outcome.source_id, outcome.detail)
        return
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
