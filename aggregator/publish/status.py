"""status.json: every configured source's health, for operators and monitoring.

The format is documented in docs/CLI.md ("Output formats") and versioned by its
`version` key. It holds no wall-clock "generated" time: `updated` is the latest
check of any source, so the file is rewritten only when something changed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aggregator.config import Settings, Source
from aggregator.health import STATES, assess
from aggregator.models import SourceState
from aggregator.publish.common import rfc3339, text

STATUS_NAME = "status.json"
STATUS_VERSION = "1"


def _time(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def render_status(
    settings: Settings,
    sources: Sequence[Source],
    states: dict[str, SourceState],
    holds: dict[str, tuple[datetime, str]],
    now: datetime,
) -> bytes:
    rows: list[dict[str, Any]] = []
    for source in sources:
        state = states.get(source.id)
        health = assess(source, state, now)
        row: dict[str, Any] = {
            "id": source.id,
            "name": text(source.name) or source.id,
            "url": source.url,
            "home_page_url": source.home_page,
            "type": source.type,
            "state": health.state,
            "reason": text(health.reason),
            "stale": health.stale,
        }
        if state is not None and state.url == source.url:
            row.update(
                moved_to=state.moved_to,
                entries=state.entries,
                last_checked=_time(state.last_checked_at),
                last_success=_time(state.last_success_at),
                last_new_entry=_time(state.last_new_at),
                last_error_at=_time(state.last_error_at),
                last_error_kind=state.last_error_kind,
                last_error=text(state.last_error) or None,
                last_http_status=state.last_http_status,
                last_duration_s=(
                    round(state.last_duration, 3) if state.last_duration is not None else None
                ),
                consecutive_failures=state.consecutive_failures,
                next_check=_time(state.next_check_at),
                warning=text(state.last_warning) or None,
            )
        rows.append(row)
    counts = Counter(row["state"] for row in rows)
    checked = [s.last_checked_at for s in states.values() if s.last_checked_at is not None]
    doc = {
        "version": STATUS_VERSION,
        "title": text(settings.title),
        "updated": _time(max(checked, default=None)),
        "summary": {
            "sources": len(rows),
            **{state: counts.get(state, 0) for state in STATES},
            "stale": sum(1 for row in rows if row["stale"]),
        },
        "hosts_waiting": [
            {"origin": origin, "until": rfc3339(until), "reason": reason}
            for origin, (until, reason) in sorted(holds.items())
        ],
        "sources": rows,
    }
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
