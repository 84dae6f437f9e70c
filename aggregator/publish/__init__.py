"""Render every output from a snapshot of the store and write what changed.

Purpose: the published timeline. Input: a `Snapshot` — the whole timeline, one
timeline per tag, the configured sources and their health. Output: files in
`output_dir`, each written atomically and only when its bytes changed.
Failure: `PublishError` naming the file; earlier outputs stay in place.

Each output module contributes a renderer: `Snapshot -> [(path, bytes)]`, path
relative to `output_dir`. All renderers run before anything is written, so a
render bug writes nothing. Files this program produced before and no longer
produces are removed (only those its manifest lists: manifest.py); then the
WebSub hub, if configured, hears about every subscription feed that changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from aggregator.config import Settings, Source
from aggregator.models import Item, PublishReport, SourceState
from aggregator.publish.archive import ARCHIVE_DIR, newest_path, render_archives
from aggregator.publish.common import Timeline, feed_info, month_of
from aggregator.publish.feeds import ATOM_NAME, RSS_NAME, render_atom, render_rss
from aggregator.publish.html import render_embed, render_pages
from aggregator.publish.jsonfeed import DIGEST_NAME, JSONFEED_NAME, render_digest, render_jsonfeed
from aggregator.publish.manifest import read_manifest, remove_stale, write_manifest
from aggregator.publish.opml import render_opml
from aggregator.publish.status import STATUS_NAME, render_status
from aggregator.publish.websub import ping
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
    # Every story ever published and not hidden (pruned ones from their snapshots),
    # for the monthly archives; empty: no archives.
    # Every published story, for the archives; None when nothing was stored since the
    # last publish: the archive files on disk are then still right and are kept.
    history: tuple[Item, ...] | None = ()


Renderer = Callable[[Snapshot], Iterable[tuple[str, bytes]]]


def _feeds(snapshot: Snapshot) -> Iterable[tuple[str, bytes]]:
    """Atom, RSS and JSON Feed for the whole timeline and for every tag."""
    for timeline in (snapshot.main, *snapshot.tags):
        info = feed_info(snapshot.settings, timeline.items, timeline)
        if timeline is snapshot.main:
            newest = (
                newest_path(snapshot.history, snapshot.now)
                if snapshot.history is not None
                else current_archive(snapshot.settings.output_dir, snapshot.now)
            )
            info = replace(info, prev_archive=newest)
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


def _archives(snapshot: Snapshot) -> Iterable[tuple[str, bytes]]:
    """RFC 5005 monthly archives of the whole timeline (archive.py)."""
    if snapshot.history is None:
        return ()
    return render_archives(snapshot.settings, snapshot.history, snapshot.now)


RENDERERS: tuple[Renderer, ...] = (
    _feeds,
    _digest,
    _status,
    _archives,
    render_pages,
    render_embed,
    render_opml,
)
FEED_NAMES = (ATOM_NAME, RSS_NAME, JSONFEED_NAME)


def publish(snapshot: Snapshot) -> PublishReport:
    """Render everything, write each file that changed, remove the stale ones, ping."""
    rendered = dict(output for render in RENDERERS for output in render(snapshot))
    output_dir = snapshot.settings.output_dir
    before = read_manifest(output_dir)
    if snapshot.history is None:  # the archives were not rendered: they stay as they are
        rendered.update(
            {name: (output_dir / name).read_bytes() for name in before if _archived(name)}
        )
    # First claim every file we are about to write (see manifest.py: crash safety).
    write_manifest(output_dir, before | set(rendered))
    written, unchanged = [], []
    for name, data in rendered.items():
        if write_if_changed(output_dir / name, data):
            written.append(name)
        else:
            unchanged.append(name)
    removed = remove_stale(output_dir, before - set(rendered))
    write_manifest(output_dir, rendered)
    pinged: list[str] = []
    hub = snapshot.settings.websub_hub
    changed = [name for name in written if _is_subscription_feed(name)]
    if hub and changed:
        urls = [snapshot.settings.public_url + name for name in changed]
        pinged = ping(hub, urls, snapshot.settings.contact_url)
    return PublishReport(
        items=len(snapshot.main.items),
        written=tuple(written),
        unchanged=tuple(unchanged),
        removed=tuple(removed),
        pinged=tuple(pinged),
    )


def _archived(name: str) -> bool:
    return name.startswith(ARCHIVE_DIR)


def current_archive(output_dir: Path, now: datetime | None) -> str | None:
    """The folder of the current month's archive if the last publish wrote it."""
    if now is None:
        return None
    folder = f"{ARCHIVE_DIR}{month_of(now)}/"
    written = read_manifest(output_dir)
    return folder if any(name.startswith(folder) for name in written) else None


def _is_subscription_feed(name: str) -> bool:
    """The main and per-tag feeds (the documents that name the hub), not archives."""
    return name.rsplit("/", 1)[-1] in FEED_NAMES and not name.startswith(ARCHIVE_DIR)
