"""Monthly archive documents (RFC 5005 §4) for Atom, RSS and JSON Feed.

Purpose: let a subscriber walk back from the live feed to the first story ever
published. Input: every published story (`Snapshot.history`: hidden ones are not
in it; stories pruned by retention come from their snapshots) and the time.
Output: `archive/YYYY-MM/atom.xml`, `rss.xml` and `feed.json` for every month
from the first story's to the current one, months without stories included, so
the chain has no gaps and its links depend on nothing but the calendar.

Each month's document links `current` (the subscription document), `prev-archive`
(the month before, except for the first) and `next-archive` (the month after,
which always exists: the current month is always published). A closed month
carries `fh:archive` and its bytes depend only on its own stories, so it is
rewritten only when one of them changes. The current month's document is the live
part of the history: it has no `fh:archive` (clients must not cache it as final)
and becomes an archive at the first publish after the month ends. The main feed's
`prev-archive` points to it, so no story falls between the live feed's
`max_items` window and the archives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aggregator.config import Settings
from aggregator.models import Item
from aggregator.publish.common import FeedInfo, feed_info, month_of, text
from aggregator.publish.feeds import ATOM_NAME, RSS_NAME, render_atom, render_rss
from aggregator.publish.jsonfeed import JSONFEED_NAME, render_jsonfeed

ARCHIVE_DIR = "archive/"


@dataclass(frozen=True, slots=True)
class Month:
    """One month of the history: its stories, newest first."""

    key: str  # "2026-11"
    items: list[Item]
    closed: bool

    @property
    def path(self) -> str:
        return f"{ARCHIVE_DIR}{self.key}/"

    @property
    def start(self) -> datetime:
        year, month = (int(part) for part in self.key.split("-"))
        return datetime(year, month, 1, tzinfo=UTC)


def _next(key: str) -> str:
    year, month = (int(part) for part in key.split("-"))
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def months(history: Sequence[Item], now: datetime | None) -> list[Month]:
    """Every month from the first story's to the current one, oldest first."""
    if not history:
        return []
    by_month: dict[str, list[Item]] = {}
    for item in history:
        by_month.setdefault(month_of(item.published), []).append(item)
    current = max(by_month)
    if now is not None:
        current = max(current, month_of(now))
    out = []
    key = min(by_month)
    while True:
        items = sorted(by_month.get(key, []), key=lambda i: (i.published, i.id), reverse=True)
        out.append(Month(key, items, closed=key != current))
        if key == current:
            return out
        key = _next(key)


def newest_path(history: Sequence[Item], now: datetime | None) -> str | None:
    """The folder of the newest month's document, for the main feed's prev-archive."""
    found = months(history, now)
    return found[-1].path if found else None


def month_info(settings: Settings, chain: list[Month], index: int) -> FeedInfo:
    month = chain[index]
    info = feed_info(settings, month.items)
    updated = max((i.updated for i in month.items), default=month.start)
    return replace(
        info,
        title=text(f"{settings.title} — {month.key}"),
        updated=updated,
        path=month.path,
        hub=None,
        ttl=None if month.closed else info.ttl,
        current="",
        prev_archive=chain[index - 1].path if index > 0 else None,
        next_archive=chain[index + 1].path if index + 1 < len(chain) else None,
        archived=month.closed,
        month=month.key,
    )


def render_archives(
    settings: Settings, history: Sequence[Item], now: datetime | None
) -> Iterable[tuple[str, bytes]]:
    chain = months(history, now)
    for index, month in enumerate(chain):
        info = month_info(settings, chain, index)
        yield month.path + ATOM_NAME, render_atom(info, month.items)
        yield month.path + RSS_NAME, render_rss(info, month.items)
        yield month.path + JSONFEED_NAME, render_jsonfeed(info, month.items)
