"""Serve the output folder over HTTP, for `aggregator serve`.

Purpose: a small static server that sends the published files with the headers
feed readers, browsers and partner sites rely on, so `output/` can be previewed, or
served as it is behind a reverse proxy. Input: a folder, a host and a port.
Output: HTTP/1.1 responses until SIGTERM or SIGINT. Failure: `OSError` when the
address cannot be bound (the CLI reports it); a request that fails is answered with
its status and logged, never ends the server.

The rules, the same as contrib/nginx/aggregator.conf and contrib/caddy/Caddyfile
(tests/test_serve.py reads those files and checks that they agree with this one):

- Content-Type by name, first match wins (`content_type`): `*atom.xml` →
  application/atom+xml, `*rss.xml` → application/rss+xml, `*feed.json` →
  application/feed+json, other `*.json` → application/json, `*.opml` → text/x-opml,
  `*.html` → text/html, `*.js` → text/javascript; text types with `charset=utf-8`
  (every output is UTF-8), JSON without (RFC 8259 §11 defines no charset).
- `Cache-Control: public, max-age=300` on every file: outputs change at most once a
  pass, and five minutes bounds how stale a cached copy can be.
- a strong ETag from the SHA-256 of the file's bytes (`"…-gz"` for the gzip
  representation, RFC 9110 §8.8.3.3) and Last-Modified from its mtime;
  If-None-Match (weak comparison, either representation) or else If-Modified-Since
  gives 304 with the same caching headers.
- gzip when the client accepts it, for text, XML, JSON and JavaScript of at least
  `GZIP_MIN_BYTES`; `Vary: Accept-Encoding` on every compressible type.
- `Access-Control-Allow-Origin: *` (and `Access-Control-Expose-Headers: ETag`) on
  `*.json` and `*.js`, so partner pages can fetch the digest and load the widget.
- `X-Content-Type-Options: nosniff` on everything.
- GET and HEAD only (405 otherwise). A folder is served by its index.html (a path
  without the trailing slash is redirected to it); there is no directory listing.
  `..` segments (also percent-encoded), encoded slashes and NUL bytes are refused
  with 400; names starting with "." (the temporary files of atomic writes) and
  anything resolving outside the folder (symlinks included) are 404.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import signal
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import cast
from urllib.parse import unquote, urlsplit

from aggregator import __version__

log = logging.getLogger("aggregator")

CACHE_CONTROL = "public, max-age=300"
CORS_SUFFIXES = (".json", ".js")
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "ETag"),
)
GZIP_MIN_BYTES = 256  # below this gzip's header costs more than it saves
CACHE_BYTES = 64 * 1024**2  # file bytes kept in memory, keyed by inode, size and mtime
REQUEST_TIMEOUT = 30.0  # seconds a client may take to send a request

_UTF8 = "; charset=utf-8"
# First match wins; names are compared in lower case.
CONTENT_TYPES: tuple[tuple[str, str], ...] = (
    ("atom.xml", "application/atom+xml" + _UTF8),
    ("rss.xml", "application/rss+xml" + _UTF8),
    ("feed.json", "application/feed+json"),
    (".json", "application/json"),
    (".opml", "text/x-opml" + _UTF8),
    (".html", "text/html" + _UTF8),
    (".htm", "text/html" + _UTF8),
    (".js", "text/javascript" + _UTF8),
    (".mjs", "text/javascript" + _UTF8),
    (".css", "text/css" + _UTF8),
    (".xml", "application/xml" + _UTF8),
    (".xsl", "application/xslt+xml" + _UTF8),
    (".txt", "text/plain" + _UTF8),
    (".svg", "image/svg+xml"),
    (".png", "image/png"),
    (".jpg", "image/jpeg"),
    (".jpeg", "image/jpeg"),
    (".gif", "image/gif"),
    (".webp", "image/webp"),
    (".ico", "image/vnd.microsoft.icon"),
    (".woff2", "font/woff2"),
)
DEFAULT_TYPE = "application/octet-stream"


def content_type(name: str) -> str:
    """The Content-Type of a served file, by its name (see the module docstring)."""
    lower = name.lower()
    return next((t for suffix, t in CONTENT_TYPES if lower.endswith(suffix)), DEFAULT_TYPE)


def compressible(ctype: str) -> bool:
    media = ctype.split(";", 1)[0]
    return media.startswith("text/") or media.endswith(("xml", "json", "javascript"))


def cors(name: str) -> bool:
    return name.lower().endswith(CORS_SUFFIXES)


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding value allows gzip (RFC 9110 §12.5.3: q=0 refuses)."""
    if not header:
        return False
    weights: dict[str, float] = {}
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[coding.strip().lower()] = q
    for name in ("gzip", "x-gzip"):
        if name in weights:
            return weights[name] > 0
    return weights.get("*", 0) > 0


def etag_matches(header: str, tags: tuple[str, ...]) -> bool:
    """If-None-Match against our tags, by weak comparison (RFC 9110 §13.1.2)."""
    if header.strip() == "*":
        return True
    wanted = {t.strip().removeprefix("W/") for t in header.split(",")}
    return any(tag in wanted for tag in tags)


@dataclass(frozen=True, slots=True)
class _File:
    data: bytes
    etag: str
    mtime: int  # whole seconds, as Last-Modified carries them
    gzipped: bytes | None = None


class _FileCache:
    """Bytes, hash and gzip of recently served files; an atomic rewrite changes the key."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit = limit
        self.size = 0
        self.entries: OrderedDict[tuple[str, int, int, int], _File] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, int, int, int]) -> _File | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
            return entry

    def put(self, key: tuple[str, int, int, int], entry: _File) -> None:
        cost = len(entry.data) + len(entry.gzipped or b"")
        if cost > self.limit:
            return
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.size -= len(old.data) + len(old.gzipped or b"")
            self.entries[key] = entry
            self.size += cost
            while self.size > self.limit:
                _, dropped = self.entries.popitem(last=False)
                self.size -= len(dropped.data) + len(dropped.gzipped or b"")


class BadPath(Exception):
    """A request path that is refused outright (400)."""


def resolve(root: Path, target: str) -> tuple[Path | None, str | None]:
    """(file to serve or None for 404, redirect location or None). Raises BadPath.

    `root` must be resolved. The path is split on "/" before percent-decoding, so an
    encoded slash cannot join segments, and each decoded segment is checked.
    """
    parts = urlsplit(target)
    path = parts.path
    if not path.startswith("/"):
        raise BadPath("the request target must be an absolute path")
    segments = []
    for raw in path.split("/")[1:]:
        segment = unquote(raw, errors="replace")
        if segment == ".." or raw == "..":
            raise BadPath("'..' is not allowed in paths")
        if "/" in segment or "\\" in segment or "\0" in segment:
            raise BadPath("encoded slashes, backslashes and NUL are not allowed in paths")
        if segment.startswith("."):
            return None, None  # ".", hidden files, the temporary files of atomic writes
        if segment:
            segments.append(segment)
    candidate = root.joinpath(*segments)
    real = Path(os.path.realpath(candidate))
    if real != root and root not in real.parents:
        return None, None  # a symlink pointing out of the folder
    if real.is_dir():
        if not path.endswith("/"):
            return None, path + "/" + (f"?{parts.query}" if parts.query else "")
        real = real / "index.html"
    return (real if real.is_file() else None), None


class StaticServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], root: Path) -> None:
        self.root = root.resolve()
        self.cache = _FileCache()
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        log.warning("serve: error while answering %s", client_address, exc_info=True)


class StaticServer6(StaticServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server_version = f"aggregator/{__version__}"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def log_message(self, format: str, *args: object) -> None:
        log.info("serve: %s %s", self.address_string(), format % args)

    @property
    def _server(self) -> StaticServer:
        return cast(StaticServer, self.server)

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _not_allowed(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD", [("Allow", "GET, HEAD")])

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found by the base class (bad request line, …) as plain text too."""
        self._error(HTTPStatus(code), message or HTTPStatus(code).phrase)

    def _error(
        self, status: HTTPStatus, message: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        body = f"{status.value} {status.phrase}: {message}\n".encode()
        self.send_response(status.value)
        self.send_header("Content-Type", "text/plain" + _UTF8)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in headers or ():
            self.send_header(name, value)
        if status.value >= 400 and status != HTTPStatus.NOT_FOUND:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self._write(body)

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def _load(self, path: Path) -> _File:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
            cached = self._server.cache.get(key)
            if cached is not None:
                return cached
            data = handle.read()
        gzipped = None
        if compressible(content_type(path.name)) and len(data) >= GZIP_MIN_BYTES:
            gzipped = gzip.compress(data, compresslevel=6, mtime=0)
        entry = _File(
            data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"', int(stat.st_mtime), gzipped
        )
        self._server.cache.put(key, entry)
        return entry

    def _serve(self, *, send_body: bool) -> None:
        try:
            path, redirect = resolve(self._server.root, self.path)
        except BadPath as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        if redirect is not None:
            self._error(HTTPStatus.MOVED_PERMANENTLY, redirect, [("Location", redirect)])
            return
        if path is None:
            self._error(HTTPStatus.NOT_FOUND, "no such file")
            return
        try:
            entry = self._load(path)
        except OSError as exc:
            log.warning("serve: cannot read %s: %s", path, exc)
            self._error(HTTPStatus.NOT_FOUND, "no such file")
            return
        ctype = content_type(path.name)
        gzip_etag = entry.etag[:-1] + '-gz"'
        use_gzip = entry.gzipped is not None and accepts_gzip(self.headers.get("Accept-Encoding"))
        headers = [
            ("ETag", gzip_etag if use_gzip else entry.etag),
            ("Last-Modified", formatdate(entry.mtime, usegmt=True)),
            ("Cache-Control", CACHE_CONTROL),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if compressible(ctype):
            headers.append(("Vary", "Accept-Encoding"))
        if cors(path.name):
            headers += CORS_HEADERS
        if self._not_modified(entry, (entry.etag, gzip_etag)):
            self.send_response(HTTPStatus.NOT_MODIFIED.value)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            return
        body = entry.gzipped if use_gzip and entry.gzipped is not None else entry.data
        self.send_response(HTTPStatus.OK.value)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if use_gzip:
            self.send_header("Content-Encoding", "gzip")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self._write(body)

    def _not_modified(self, entry: _File, tags: tuple[str, str]) -> bool:
        """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            return etag_matches(if_none_match, tags)
        since = self.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            return False
        return entry.mtime <= int(when.timestamp())


def make_server(directory: Path, host: str, port: int) -> StaticServer:
    """Bind the server (raises OSError when the address is taken or invalid)."""
    server_class = StaticServer6 if ":" in host else StaticServer
    return server_class((host, port), directory)


def serve_until_signalled(server: StaticServer, stop: threading.Event) -> None:
    """Answer requests until SIGTERM or SIGINT (or `stop`), then close cleanly."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="serve", daemon=True
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping the server", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    thread.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("server stopped")
