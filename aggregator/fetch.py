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
6. Redirects are followed by hand, at most 5 hops, only to http/https; a loop is an
   error. A chain made only of 301/308 is reported as `moved_to`; 302/303/307 are
   followed without being remembered.
7. Every connection, including each redirect hop, is checked after connecting: a
   peer address outside the public Internet (private, loopback, link-local,
   reserved) is refused unless `allow_networks` includes it. The check is made on the
   connected socket, so DNS rebinding cannot slip past it.
8. At most `per_host` fetches run at once against one origin (scheme, host, port),
   and the global pool has `workers` threads.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

from aggregator import __version__
from aggregator.config import IPNetwork, Settings, Source
from aggregator.models import (
    Deferred,
    Failed,
    FailureKind,
    Fetched,
    FetchResult,
    NotModified,
    Validators,
)

_CHUNK = 64 * 1024
TOTAL_TIME_FACTOR = 3
MAX_REDIRECTS = 5
_PERMANENT = frozenset({301, 308})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

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


class BlockedAddressError(OSError):
    """The connected peer is outside the public Internet and not in allow_networks."""

    def __init__(self, host: str, address: str, why: str) -> None:
        super().__init__(f"{host} resolved to {address}, a {why} address")
        self.host, self.address, self.why = host, address, why


def address_refusal(address: str, allowed: tuple[IPNetwork, ...]) -> str | None:
    """Why `address` may not be fetched (e.g. "private"), or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return None
    for why in ("loopback", "private", "link_local", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{why}"):
            return why.replace("_", "-")
    return None if ip.is_global else "non-public"


def _guarded_adapter(allowed: tuple[IPNetwork, ...]) -> HTTPAdapter:
    """An adapter whose connections check the address before connecting to it.

    The host name is resolved here, every address is checked, and the connection
    goes to the first allowed one by its literal address, so a DNS answer cannot
    change between the check and the connect (DNS rebinding). Redirect hops open
    new connections, so they are checked too.
    """

    def checked_address(connection: HTTPConnection) -> str:
        host = connection._dns_host  # what urllib3 would resolve
        try:
            infos = socket.getaddrinfo(host, connection.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(connection.host, connection, exc) from exc
        refusals = []
        for info in infos:
            address = str(info[4][0])
            why = address_refusal(address, allowed)
            if why is None:
                return address
            refusals.append((address, why))
        address, why = refusals[0]
        raise BlockedAddressError(connection.host, address, why)

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            self._dns_host = checked_address(self)
            return super()._new_conn()

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            self._dns_host = checked_address(self)
            return super()._new_conn()

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": GuardedHTTPPool,
                "https": GuardedHTTPSPool,
            }

    return GuardedAdapter()


def origin(url: str) -> str:
    """scheme://host:port — the unit of politeness (per-host limits, Retry-After)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class Fetcher:
    """Fetches sources with one `requests.Session` per worker thread."""

    def __init__(self, settings: Settings) -> None:
        self.workers = settings.workers
        self.per_host = settings.per_host
        self.allowed = settings.allow_networks
        self.headers = {"User-Agent": user_agent(settings.contact_url)}
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self.headers)
            adapter = _guarded_adapter(self.allowed)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def fetch_all(
        self, sources: Iterable[Source], validators: dict[str, Validators]
    ) -> Iterator[FetchResult]:
        """Fetch every source concurrently; yield results as they complete.

        At most `workers` fetches run at once, and at most `per_host` against one
        origin; sources are taken round-robin across origins so that one big host
        does not starve the others. A redirect to another host is not counted
        against that host (it is rare, and bounded by the hop limit). When a host
        answers with Retry-After (429, 503), its sources still queued are not
        fetched: they come back as `Deferred` until the time it asked for.
        """
        queues: dict[str, deque[Source]] = {}
        for source in sources:
            queues.setdefault(origin(source.url), deque()).append(source)
        if not queues:
            return
        running: dict[Future[FetchResult], str] = {}
        busy: dict[str, int] = dict.fromkeys(queues, 0)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fetch") as pool:
            while queues or running:
                # Fill every free worker, one source per origin per round, so the
                # origins take turns and none waits behind a big one.
                submitted = True
                while submitted and len(running) < self.workers:
                    submitted = False
                    for host in list(queues):
                        if len(running) >= self.workers:
                            break
                        if busy[host] >= self.per_host:
                            continue
                        source = queues[host].popleft()
                        if not queues[host]:
                            del queues[host]
                        busy[host] += 1
                        future = pool.submit(
                            self.fetch, source, validators.get(source.id, Validators())
                        )
                        running[future] = host
                        submitted = True
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    host = running.pop(future)
                    busy[host] -= 1
                    result = future.result()
                    yield result
                    if isinstance(result, Failed) and result.retry_after is not None:
                        # The host asked us to wait: its other sources wait too.
                        delay = _format_delay(result.retry_after)
                        for waiting in queues.pop(host, ()):
                            yield Deferred(
                                waiting.id,
                                waiting.url,
                                result.retry_after,
                                f"{host} asked to wait {delay} ({result.detail})",
                            )

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
        url, chain, permanent = source.url, [source.url], True
        session = self._session()
        while True:
            response = session.get(
                url, headers=headers, timeout=(timeout, timeout), stream=True, allow_redirects=False
            )
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or not location:
                break
            response.close()
            target = urljoin(url, location.strip())
            problem = None
            if urlsplit(target).scheme not in ("http", "https"):
                problem = f"redirected to {target}: only http and https URLs are fetched"
            elif target in chain:
                problem = "redirect loop: " + " → ".join([*chain[chain.index(target) :], target])
            elif len(chain) > MAX_REDIRECTS:
                problem = f"more than {MAX_REDIRECTS} redirects: " + " → ".join([*chain, target])
            elif time.monotonic() > deadline:
                problem = f"redirects not resolved after {timeout * TOTAL_TIME_FACTOR:g}s"
            if problem:
                return Failed(
                    source.id,
                    source.url,
                    FailureKind.REDIRECT,
                    problem,
                    http_status=response.status_code,
                    elapsed=time.monotonic() - started,
                )
            permanent = permanent and response.status_code in _PERMANENT
            chain.append(target)
            url = target
        moved_to = url if permanent and url != source.url else None
        with response:
            new_validators = Validators(
                etag=response.headers.get("ETag") or validators.etag,
                last_modified=response.headers.get("Last-Modified") or validators.last_modified,
            )
            cache_for = cache_lifetime(response.headers)
            if response.status_code == 304:
                return NotModified(
                    source.id,
                    source.url,
                    new_validators,
                    elapsed=time.monotonic() - started,
                    moved_to=moved_to,
                    cache_for=cache_for,
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
                moved_to=moved_to,
                cache_for=cache_for,
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


def cache_lifetime(headers: Mapping[str, str]) -> timedelta | None:
    """How long the server says the answer stays fresh (RFC 9111 §4.2.1), if it says.

    Cache-Control max-age wins over Expires; no-cache, no-store and unparsable
    values give None (no hint). The scheduler clamps the hint to the source's
    interval and max_interval.
    """
    control = headers.get("Cache-Control", "")
    directives = {}
    for part in control.split(","):
        name, _, value = part.strip().partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if "no-cache" in directives or "no-store" in directives:
        return None
    for name in ("s-maxage", "max-age"):
        if directives.get(name, "").isdigit():
            return timedelta(seconds=int(directives[name]))
    expires = headers.get("Expires")
    if expires:
        return retry_after_delay(expires, headers) if not expires.strip().isdigit() else None
    return None


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
    blocked = _blocked_cause(exc)
    if blocked is not None:
        return FailureKind.BLOCKED, (
            f"refused to fetch: {blocked}; only public Internet addresses are fetched —"
            f' add it to allow_networks in feeds.toml (e.g. allow_networks = ["{blocked.address}"])'
            " if this partner really is on your network"
        )
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


def _blocked_cause(exc: BaseException) -> BlockedAddressError | None:
    """The BlockedAddressError in exc's chain of causes (urllib3 wraps it twice)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, BlockedAddressError):
            return current
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        current = (
            current.__cause__
            or current.__context__
            or (reason if isinstance(reason, BaseException) else None)
        )
    return None


def _root_cause(exc: BaseException) -> str:
    """The innermost reason, without urllib3's repetition of the whole pool state."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    text = str(exc)
    if "] " in text and text.startswith("<"):
        text = text.split("] ", 1)[-1]
    return text[:300] or type(exc).__name__
