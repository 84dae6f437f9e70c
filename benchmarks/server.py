"""A local HTTP/1.1 feed server for benchmarks: many loopback origins, latency, 304s.

One asyncio event loop in a background thread serves every origin (one listening
socket per 127.0.0.x address, all on the same port). Each request waits `latency`
seconds with `asyncio.sleep` before its answer, so hundreds of slow requests overlap
as they would against real partners. Answers carry ETag and Last-Modified; a
conditional request that matches gets `304 Not Modified`. gzip is served when asked
for (bodies are compressed once, up front). The server counts every request by status
and records the most requests in flight at once, overall and on one origin, so a run
can show what concurrency each contender really used.

Only loopback addresses are accepted, and `close()` stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import ipaddress
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from benchmarks.feeds import Feed

_MAX_HEAD = 16 * 1024
_BIND_TRIES = 10


@dataclass(frozen=True, slots=True)
class _Doc:
    body: bytes
    gzipped: bytes
    etag: str
    etag_gzip: str
    content_type: str
    last_modified: datetime
    last_modified_text: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Requests answered so far, by status, and the peaks of requests in flight."""

    statuses: dict[int, int] = field(default_factory=dict)
    peak_in_flight: int = 0
    peak_per_origin: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def since(self, earlier: Snapshot) -> Snapshot:
        """Counts between `earlier` and this one (peaks are this one's, see reset_peaks)."""
        statuses = {s: n - earlier.statuses.get(s, 0) for s, n in self.statuses.items()}
        return Snapshot(
            {s: n for s, n in statuses.items() if n},
            self.peak_in_flight,
            self.peak_per_origin,
        )


class FeedServer:
    """Serves `Feed`s on their origins. Use as a context manager, or start() and close()."""

    def __init__(self, hosts: list[str], *, latency: float = 0.0) -> None:
        for host in hosts:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError(f"{host} is not a loopback address; benchmarks stay local")
        self.hosts = list(dict.fromkeys(hosts))
        self.latency = latency  # seconds before each answer; may change between passes
        self.port = 0
        self._docs: dict[tuple[str, str], _Doc] = {}
        self._lock = threading.Lock()
        self._statuses: Counter[int] = Counter()
        self._in_flight = 0
        self._per_origin: Counter[str] = Counter()
        self._peak = 0
        self._peak_origin = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[object]] = set()

    # --- control, from the calling thread ---

    def start(self) -> int:
        """Bind every origin on one free port; returns the port."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._bind(), self._loop)
        self.port = future.result(timeout=30)
        return self.port

    def load(self, feeds: list[Feed]) -> None:
        docs = {}
        for feed in feeds:
            digest = hashlib.sha256(feed.body).hexdigest()[:16]
            docs[(feed.host, feed.path)] = _Doc(
                body=feed.body,
                gzipped=gzip.compress(feed.body, compresslevel=6, mtime=0),
                etag=f'"{digest}"',
                etag_gzip=f'"{digest}-gzip"',  # another representation, another tag
                content_type=feed.content_type,
                last_modified=feed.last_modified,
                last_modified_text=format_datetime(feed.last_modified.astimezone(UTC), True),
            )
        self._docs = docs

    def url(self, feed: Feed) -> str:
        return f"http://{feed.host}:{self.port}{feed.path}"

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(dict(self._statuses), self._peak, self._peak_origin)

    def reset_peaks(self) -> None:
        with self._lock:
            self._peak = self._in_flight
            self._peak_origin = max(self._per_origin.values(), default=0)

    def close(self) -> None:
        if self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            with contextlib.suppress(Exception):
                future.result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> FeedServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- inside the event loop ---

    async def _bind(self) -> int:
        last_error: OSError | None = None
        for _ in range(_BIND_TRIES):
            port = 0
            try:
                for host in self.hosts:
                    server = await asyncio.start_server(
                        self._serve, host, port, backlog=1024, limit=_MAX_HEAD
                    )
                    self._servers.append(server)
                    port = server.sockets[0].getsockname()[1]
                return port
            except OSError as exc:  # the port was taken on a later address: try another
                last_error = exc
                await self._close_servers()
        raise RuntimeError(f"could not bind {len(self.hosts)} loopback origins: {last_error}")

    async def _close_servers(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_servers()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        origin = str(writer.get_extra_info("sockname")[0])
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                method, path, version, headers = _parse_head(head)
                status, counted = 500, False  # a 500 if the answer never got made
                self._begin(origin)
                try:
                    if self.latency:
                        await asyncio.sleep(self.latency)
                    status, response = self._respond(origin, method, path, headers)
                    # Counted before the bytes leave: a client holding its answer has
                    # always been counted when it reports the pass as done.
                    self._end(origin, status)
                    counted = True
                    writer.write(response)
                    await writer.drain()
                finally:
                    if not counted:
                        self._end(origin, status)
                connection = headers.get("connection", "").lower()
                if connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive"):
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._tasks.discard(task)
            writer.close()

    def _begin(self, origin: str) -> None:
        with self._lock:
            self._in_flight += 1
            self._per_origin[origin] += 1
            self._peak = max(self._peak, self._in_flight)
            self._peak_origin = max(self._peak_origin, self._per_origin[origin])

    def _end(self, origin: str, status: int) -> None:
        with self._lock:
            self._in_flight -= 1
            self._per_origin[origin] -= 1
            self._statuses[status] += 1

    def _respond(
        self, origin: str, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        doc = self._docs.get((origin, path.split("?", 1)[0]))
        if method not in ("GET", "HEAD"):
            return 405, _head(405, "Method Not Allowed", {"Content-Length": "0", "Allow": "GET"})
        if doc is None:
            return 404, _head(404, "Not Found", {"Content-Length": "9"}) + b"not found"
        use_gzip = "gzip" in headers.get("accept-encoding", "").lower()
        etag = doc.etag_gzip if use_gzip else doc.etag
        common = {"ETag": etag, "Last-Modified": doc.last_modified_text, "Vary": "Accept-Encoding"}
        if _not_modified(headers, etag, doc.last_modified):
            return 304, _head(304, "Not Modified", common)
        body = doc.gzipped if use_gzip else doc.body
        fields = {**common, "Content-Type": doc.content_type, "Content-Length": str(len(body))}
        if use_gzip:
            fields["Content-Encoding"] = "gzip"
        return 200, _head(200, "OK", fields) + (b"" if method == "HEAD" else body)


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    method, path, version = [*parts, "", "", ""][:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, path, version, headers


def _not_modified(headers: dict[str, str], etag: str, last_modified: datetime) -> bool:
    """RFC 9110 §13.1: If-None-Match wins; If-Modified-Since counts only without it."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return last_modified <= since
    return False


def _head(status: int, reason: str, fields: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {format_datetime(datetime.now(UTC), True)}"]
    lines.append("Server: aggregator-bench")
    lines.extend(f"{name}: {value}" for name, value in fields.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
