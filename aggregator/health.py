"""Source health: one state per source, with its reason, for `sources` and status.json.

Purpose: tell the operator which partner needs attention and why. Input: a
configured `Source`, what the store knows about it (`SourceState`) and the time.
Output: a `Health` value. No I/O.

States, first match wins:

- disabled: `enabled = false` in feeds.toml; not polled.
- new: never checked (or its URL changed in feeds.toml since the last check).
- gone: the URL answered 410 Gone; not polled until the URL changes or
  `run --force --source ID`.
- failing: the last fetch failed (consecutive failures >= 1).
- moved: the URL redirects permanently (301/308); after MOVE_CONFIRMATIONS
  consecutive passes the new URL is fetched instead, and feeds.toml should be
  updated.
- slow: the last fetch took more than half the source's timeout.
- ok.

`stale` is a separate flag: the source is reachable but has brought no new entry
for `stale_after` (counted from when the store first saw it, if it never did).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aggregator.config import Source
from aggregator.models import SourceState

MOVE_CONFIRMATIONS = 2  # consecutive passes that must see the same permanent redirect
SLOW_FRACTION = 0.5  # a fetch longer than this fraction of the timeout is "slow"

STATES = ("ok", "slow", "failing", "moved", "gone", "disabled", "new")


@dataclass(frozen=True, slots=True)
class Health:
    state: str
    reason: str
    stale: bool = False


def move_confirmed(source: Source, state: SourceState | None) -> bool:
    return (
        state is not None
        and state.url == source.url
        and state.moved_to is not None
        and state.moved_seen >= MOVE_CONFIRMATIONS
    )


def fetch_url(source: Source, state: SourceState | None) -> str:
    """The URL to fetch: the configured one, or where it moved once the move is confirmed."""
    if state is not None and state.moved_to is not None and move_confirmed(source, state):
        return state.moved_to
    return source.url


def is_gone(source: Source, state: SourceState | None) -> bool:
    """The configured URL answered 410 Gone; it is not polled again until it changes."""
    return state is not None and state.url == source.url and state.last_error_kind == "gone"


def assess(source: Source, state: SourceState | None, now: datetime) -> Health:
    if not source.enabled:
        return Health("disabled", "enabled = false in feeds.toml")
    if state is None or state.url != source.url or state.last_checked_at is None:
        return Health("new", "not checked yet")
    if is_gone(source, state):
        return Health("gone", f"{state.last_error}; remove the source or give it a new url")
    if state.consecutive_failures:
        times = "once" if state.consecutive_failures == 1 else f"{state.consecutive_failures}×"
        return Health("failing", f"failed {times}: {state.last_error_kind}: {state.last_error}")
    stale = _stale(source, state, now)
    if state.moved_to is not None:
        if move_confirmed(source, state):
            reason = (
                f"moved permanently to {state.moved_to}; fetching the new URL —"
                " update url in feeds.toml"
            )
        else:
            reason = (
                f"redirects permanently to {state.moved_to}"
                f" (seen {state.moved_seen} of {MOVE_CONFIRMATIONS} passes needed to follow it)"
            )
        return Health("moved", reason, stale)
    timeout = source.timeout.total_seconds()
    if state.last_duration is not None and state.last_duration > timeout * SLOW_FRACTION:
        took = f"last fetch took {state.last_duration:.1f}s (timeout {timeout:g}s)"
        return Health("slow", took, stale)
    if stale:
        since = state.last_new_at or state.added_at
        when = f" since {since:%Y-%m-%d}" if since else ""
        return Health("ok", f"nothing new{when}", stale)
    return Health("ok", "")


def _stale(source: Source, state: SourceState, now: datetime) -> bool:
    since = state.last_new_at or state.added_at
    return since is not None and now - since > source.stale_after
