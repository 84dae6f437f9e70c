"""Render every output from the store's items and write what changed.

Purpose: the published timeline. Input: items (newest first) and settings.
Output: files in `output_dir`, each written atomically and only when its bytes
changed. Failure: `PublishError` naming the file; earlier outputs stay in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aggregator.config import Settings
from aggregator.models import Item, PublishReport
from aggregator.publish.common import FeedInfo, feed_info
from aggregator.publish.feeds import ATOM_NAME, RSS_NAME, render_atom, render_rss
from aggregator.publish.jsonfeed import DIGEST_NAME, JSONFEED_NAME, render_digest, render_jsonfeed
from aggregator.publish.write import write_if_changed

Renderer = Callable[[FeedInfo, list[Item]], bytes]

OUTPUTS: tuple[tuple[str, Renderer], ...] = (
    (ATOM_NAME, render_atom),
    (RSS_NAME, render_rss),
    (JSONFEED_NAME, render_jsonfeed),
    (DIGEST_NAME, render_digest),
)


def publish(
    items: list[Item], settings: Settings, extra: Sequence[tuple[str, bytes]] = ()
) -> PublishReport:
    """Render all formats first, then write them, so a render bug writes nothing.

    `extra` are other files already rendered (status.json), written the same way.
    """
    info = feed_info(settings, items)
    rendered = [(name, render(info, items)) for name, render in OUTPUTS]
    rendered.extend(extra)
    written, unchanged = [], []
    for name, data in rendered:
        if write_if_changed(settings.output_dir / name, data):
            written.append(name)
        else:
            unchanged.append(name)
    return PublishReport(items=len(items), written=tuple(written), unchanged=tuple(unchanged))
