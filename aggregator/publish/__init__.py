"""Render every output from a snapshot of the store and write what changed.

Purpose: the published timeline. Input: a `Snapshot` — the whole timeline, one
timeline per tag, the configured sources and their health. Output: files in
`output_dir`, each written atomically and only when its bytes changed.
Failure: `PublishError` naming the file; earlier outputs stay in place.

Each output module contributes a renderer: `Snapshot -> [(path, bytes)]`, path
relative to `output_dir`. All renderers run before anything is written, so a
render bug writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from aggregator.config import Settings, Source
from aggregator.models import PublishReport, SourceState
from aggregator.publish.common import Timeline, feed_info
from aggregator.publish.feeds import ATOM_NAME, RSS_NAME, render_atom, render_rss
from aggregator.publish.jsonfeed import DIGEST_NAME, JSONFEED_NAME, render_digest, render_jsonfeed
from aggregator.publish.opml import render_opml
from aggregator.publish.status import STATUS_NAME, render_status
from aggregator.publish.write import write_if_changed


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the outputs are rendered from, read from the store in one go."""

    settings: Settings
    sources: tuple[Source, ...]
    main: Timeline
    tags: tuple[Timeline, ...] = ()
    states: dict[str, SourceState] = field(default_factory=dict)
    holds: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    now: datetime | None = None


Renderer = Callable[[Snapshot], Iterable[tuple[str, bytes]]]


def _feeds(snapshot: Snapshot) -> Iterable[tuple[str, bytes]]:
    """Atom, RSS and JSON Feed for the whole timeline and for every tag."""
    for timeline in (snapshot.main, *snapshot.tags):
        info = feed_info(snapshot.settings, timeline.items, timeline)
        yield timeline.path + ATOM_NAME, render_atom(info, timeline.items)
        yield timeline.path + RSS_NAME, render_rss(info, timeline.items)
        yield timeline.path + JSONFEED_NAME, render_jsonfeed(info, timeline.items)


def _digest(snapshot: Snapshot) -> Iterable[tuple[str, bytes]]:
    info = feed_info(snapshot.settings, snapshot.main.items)
    yield DIGEST_NAME, render_digest(info, snapshot.main.items)


def _status(snapshot: Snapshot) -> Iterable[tuple[str, bytes]]:
    now = snapshot.now or feed_info(snapshot.settings, snapshot.main.items).updated
    yield (
        STATUS_NAME,
        render_status(snapshot.settings, snapshot.sources, snapshot.states, snapshot.holds, now),
    )


RENDERERS: tuple[Renderer, ...] = (_feeds, _digest, _status, render_opml)


def publish(snapshot: Snapshot) -> PublishReport:
    """Render everything, then write each file that changed."""
    rendered = [output for render in RENDERERS for output in render(snapshot)]
    written, unchanged = [], []
    for name, data in rendered:
        if write_if_changed(snapshot.settings.output_dir / name, data):
            written.append(name)
        else:
            unchanged.append(name)
    return PublishReport(
        items=len(snapshot.main.items), written=tuple(written), unchanged=tuple(unchanged)
    )
