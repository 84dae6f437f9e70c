"""Fetch sources over HTTP, politely, and turn every outcome into a value.

MUST rules (each is tested on the wire in tests/test_fetch.py):

1. Send a User-Agent naming the program, its version and the operator's contact URL.
2. Send stored validators back: If-None-Match (ETag) and If-Modified-Since
   (Last-Modified), verbatim. A 304 is a normal, successful outcome.
3. Connect and read time-outs come from the source's `timeout`; the whole fetch,
   body included, is also bounded (3 × timeout) so a server that drips bytes cannot
   hold a worker.
4. The body is read as a stream and abandoned as soon as it passes `max_bytes`
   (measured after content decoding, so a compressed body cannot expand past it).
5. Fetches run in a thread pool; one failing source never stops the others.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import requests
import urllib3

from aggregator import __version__
from aggregator.config import Settings, Source
from aggregator.models import Failed, FailureKind, Fetched, FetchResult, NotModified, Validators

_CHUNK = 64 * 1024
TOTAL_TIME_FACTOR = 3

FEED_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, application/rdf+xml;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


def user_agent(contact_url: str | None) -> str:
    contact = f"; +{contact_url}" if contact_url else ""
    return f"aggregator/{__version__} (forced-labour news aggregator{contact})"


def _describe_status(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _format_size(size: int) -> str:
    if size >= 1024**2:
        return f"{size / 1024**2:.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"


class Fetcher:
    """Fetches sources with one `requests.Session` per worker thread."""

    def __init__(self, settings: Settings) -> None:
        self.workers = settings.workers
        self.headers = {"User-Agent": user_agent(settings.contact_url)}
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self.headers)
            self._local.session = session
        return session

    def fetch_all(
        self, sources: Iterable[Source], validators: dict[str, Validators]
    ) -> Iterator[FetchResult]:
        """Fetch every source concurrently; yield results as they complete."""
        todo = list(sources)
        if not todo:
            return
        with ThreadPoolExecutor(
            max_workers=min(self.workers, len(todo)), thread_name_prefix="fetch"
        ) as pool:
            futures = [
                pool.submit(self.fetch, source, validators.get(source.id, Validators()))
                for source in todo
            ]
            for future in as_completed(futures):
                yield future.result()

    def fetch(self, source: Source, validators: Validators) -> FetchResult:
        """Fetch one source. Never raises: every failure is a `Failed` value."""
        started = time.monotonic()
        try:
            return self._fetch(source, validators, started)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            kind, detail = _classify(exc, source)
            return Failed(source.id, source.url, kind, detail, elapsed=time.monotonic() - started)
        except Exception as exc:  # a bug must not stop the other sources
            return Failed(
                source.id,
                source.url,
                FailureKind.INTERNAL,
                f"unexpected error while fetching: {type(exc).__name__}: {exc}",
                elapsed=time.monotonic() - started,
            )

    def _fetch(self, source: Source, validators: Validators, started: float) -> FetchResult:
        timeout = source.timeout.total_seconds()
        deadline = started + timeout * TOTAL_TIME_FACTOR
        headers = {"Accept": HTML_ACCEPT if source.type == "html" else FEED_ACCEPT}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        with self._session().get(
            source.url, headers=headers, timeout=(timeout, timeout), stream=True
        ) as response:
            new_validators = Validators(
                etag=response.headers.get("ETag") or validators.etag,
                last_modified=response.headers.get("Last-Modified") or validators.last_modified,
            )
            if response.status_code == 304:
                return NotModified(
                    source.id, source.url, new_validators, elapsed=time.monotonic() - started
                )
            if not 200 <= response.status_code < 300:
                return _http_failure(source, response, time.monotonic() - started)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > source.max_bytes:
                return self._too_large(source, int(declared), response.status_code, started)
            # read1 returns as soon as any bytes arrive, so the deadline is checked
            # even when a server drips one byte at a time under the read timeout.
            body = bytearray()
            while chunk := response.raw.read1(_CHUNK, decode_content=True):
                body += chunk
                if len(body) > source.max_bytes:
                    return self._too_large(source, None, response.status_code, started)
                if time.monotonic() > deadline:
                    return Failed(
                        source.id,
                        source.url,
                        FailureKind.TIMEOUT,
                        f"body not complete after {timeout * TOTAL_TIME_FACTOR:g}s"
                        f" ({_format_size(len(body))} received); the server is too slow",
                        http_status=response.status_code,
                        elapsed=time.monotonic() - started,
                    )
            return Fetched(
                source_id=source.id,
                url=source.url,
                final_url=response.url,
                status=response.status_code,
                body=bytes(body),
                content_type=response.headers.get("Content-Type"),
                validators=new_validators,
                elapsed=time.monotonic() - started,
            )

    @staticmethod
    def _too_large(source: Source, declared: int | None, status: int, started: float) -> Failed:
        size = f" (Content-Length {_format_size(declared)})" if declared else ""
        return Failed(
            source.id,
            source.url,
            FailureKind.TOO_LARGE,
            f"body is larger than max_bytes = {_format_size(source.max_bytes)}{size};"
            " raise max_bytes for this source if the feed is really that big",
            http_status=status,
            elapsed=time.monotonic() - started,
        )


def _http_failure(source: Source, response: requests.Response, elapsed: float) -> Failed:
    """410 stops polling; 429 (and 503 with Retry-After) waits as the server asks."""
    status = response.status_code
    described = f"{_describe_status(status)} from {response.url}"
    retry_after = retry_after_delay(response.headers.get("Retry-After"), response.headers)
    if status == 410:
        kind, detail = FailureKind.GONE, f"{described}: the partner removed this feed;"
        detail += " polling stopped — update or remove the source in feeds.toml"
    elif status == 429 or (status == 503 and retry_after is not None):
        kind = FailureKind.RATE_LIMITED
        wait = f"asked to wait {_format_delay(retry_after)}" if retry_after else "no Retry-After"
        detail = f"{described} ({wait})"
    else:
        kind, detail = FailureKind.HTTP, described
    return Failed(
        source.id,
        source.url,
        kind,
        detail,
        http_status=status,
        elapsed=elapsed,
        retry_after=retry_after,
    )


def retry_after_delay(value: str | None, headers: Mapping[str, str]) -> timedelta | None:
    """Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), as a delay.

    An HTTP date is measured against the response's own Date header when present,
    so a server whose clock is off still gets the wait it meant.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = datetime.now(UTC)
    if date := headers.get("Date"):
        with contextlib.suppress(TypeError, ValueError, IndexError):
            reference = parsedate_to_datetime(date)
            if reference.tzinfo is None:
                reference = reference.replace(tzinfo=UTC)
    return max(when - reference, timedelta(0))


def _format_delay(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _classify(
    exc: requests.exceptions.RequestException | urllib3.exceptions.HTTPError, source: Source
) -> tuple[FailureKind, str]:
    """Translate requests' and urllib3's errors (read1 raises the latter) into a kind."""
    timeout = f"{source.timeout.total_seconds():g}s"
    if isinstance(exc, urllib3.exceptions.DecodeError):
        return FailureKind.MALFORMED, "the compressed body could not be decoded"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return FailureKind.TIMEOUT, f"could not connect within {timeout}"
    if isinstance(exc, requests.exceptions.ReadTimeout) or "timed out" in str(exc).lower():
        return FailureKind.TIMEOUT, f"no data from the server for {timeout} (read time-out)"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return FailureKind.HTTP, "too many redirects"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return FailureKind.INVALID_URL, f"invalid URL: {exc}"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return FailureKind.MALFORMED, "the compressed body could not be decoded"
    if isinstance(exc, requests.exceptions.SSLError):
        return FailureKind.CONNECTION, f"TLS error: {_root_cause(exc)}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return FailureKind.CONNECTION, f"connection failed: {_root_cause(exc)}"
    return FailureKind.CONNECTION, f"request failed: {_root_cause(exc)}"


def _root_cause(exc: BaseException) -> str:
    """The innermost reason, without urllib3's repetition of the whole pool state."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    text = str(exc)
    if "] " in text and text.startswith("<"):
        text = text.split("] ", 1)[-1]
    return text[:300] or type(exc).__name__
