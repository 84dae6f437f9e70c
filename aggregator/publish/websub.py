"""WebSub (W3C Recommendation, §5): tell the hub which feeds changed.

After a publish that rewrote subscription documents, the hub named by
`websub_hub` gets one `POST hub.mode=publish&hub.url=<feed URL>` per changed
feed (form-encoded), so it fetches them and pushes to subscribers. A hub that
cannot be reached or answers with an error is logged; it never fails the publish
(the files are already in place, and readers that poll still see them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import requests

from aggregator.fetch import user_agent

PING_TIMEOUT = 10.0  # seconds; a hub that takes longer is treated as down this time

log = logging.getLogger("aggregator")


def ping(hub: str, urls: Iterable[str], contact_url: str | None) -> list[str]:
    """Notify `hub` that each URL changed; returns the URLs the hub accepted (2xx)."""
    accepted = []
    headers = {"User-Agent": user_agent(contact_url)}
    with requests.Session() as session:
        for url in urls:
            try:
                response = session.post(
                    hub,
                    data={"hub.mode": "publish", "hub.url": url},
                    headers=headers,
                    timeout=PING_TIMEOUT,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                log.warning("websub: hub %s not reached for %s: %s", hub, url, exc)
                continue
            if 200 <= response.status_code < 300:
                accepted.append(url)
                log.info("websub: hub %s notified of %s", hub, url)
            else:
                log.warning(
                    "websub: hub %s answered HTTP %d for %s", hub, response.status_code, url
                )
    return accepted
