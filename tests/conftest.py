"""Shared test fixtures: a real HTTP server on 127.0.0.1 and config helpers.

The server is a `ThreadingHTTPServer` on an ephemeral port. Each test registers
routes (path -> Response or callable) and can read back every request it got
(headers included), so HTTP politeness is asserted on the wire.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
FEEDS = DATA / "feeds"
REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO.parent / "shared" / "schemas"


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    content_type: str | None = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True  # answer If-None-Match with 304
    delay: float = 0.0  # seconds before sending anything
    drip: float = 0.0  # seconds between body bytes
    gzip: bool = False
    content_length: bool = True


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: bytes = b""


Handler = Callable[[Request], Response]


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[str, Response | Handler] = {}
        self.requests: list[Request] = []
        self._stop = threading.Event()
        owner = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()})
                owner.requests.append(request)
                route = owner.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                response = route(request) if callable(route) else route
                owner._send(self, request, response)

            def do_POST(self) -> None:  # a WebSub hub, for publish pings
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    method="POST",
                    body=self.rfile.read(length),
                )
                owner.requests.append(request)
                route = owner.routes.get(self.path.split("?", 1)[0])
                response = Response(status=404) if route is None else route
                response = response(request) if callable(response) else response
                owner._send(self, request, response)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def _send(self, handler: BaseHTTPRequestHandler, request: Request, response: Response) -> None:
        if response.delay:
            self._stop.wait(response.delay)
        body = response.body
        etag = '"' + hashlib.sha256(body).hexdigest()[:12] + '"'
        if (
            response.etag
            and response.status == 200
            and request.headers.get("if-none-match") == etag
        ):
            handler.send_response(304)
            handler.send_header("ETag", etag)
            # RFC 9110 §15.4.5: a 304 carries the caching headers a 200 would.
            for name, value in response.headers.items():
                if name.lower() in ("cache-control", "expires", "date", "last-modified"):
                    handler.send_header(name, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if response.gzip:
            body = gzip.compress(body)
        handler.send_response(response.status)
        if response.content_type:
            handler.send_header("Content-Type", response.content_type)
        if response.etag and response.status == 200:
            handler.send_header("ETag", etag)
        if response.gzip:
            handler.send_header("Content-Encoding", "gzip")
        for name, value in response.headers.items():
            handler.send_header(name, value)
        if response.content_length:
            handler.send_header("Content-Length", str(len(body)))
        else:
            handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            if response.drip:
                for index in range(len(body)):
                    if self._stop.wait(response.drip):
                        return
                    handler.wfile.write(body[index : index + 1])
                    handler.wfile.flush()
            else:
                handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    try:
        yield srv
    finally:
        srv.close()


def feed_bytes(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def rss(items: list[tuple[str, str, str]], title: str = "Partner news") -> bytes:
    """A small RSS 2.0 document from (guid, link, title) tuples."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{g}</guid><link>{link}</link><title>{t}</title>"
        f"<description>&lt;p&gt;About forced labour: {t}&lt;/p&gt;</description>"
        f"<pubDate>Mon, 0{n % 9 + 1} Nov 2026 10:00:00 +0000</pubDate></item>"
        for n, (g, link, t) in enumerate(items)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{title}</title><link>https://partner.example/</link>"
        f"<description>d</description>{body}</channel></rss>"
    ).encode()


def write_config(
    directory: Path,
    sources: list[dict[str, object]],
    *,
    extra: str = "",
    defaults: str = 'timeout = "2s"',
) -> Path:
    """Write a feeds.toml into `directory` with the given [[sources]]."""
    lines = [
        "[aggregator]",
        'title = "Test timeline"',
        'public_url = "https://news.test.example/fl/"',
        'contact_url = "https://news.test.example/about"',
        'output_dir = "output"',
        'database = "sqlite:///data/store.sqlite"',
        'allow_networks = ["127.0.0.1"]',
        extra,
        "",
        "[defaults]",
        defaults,
        # Most tests are about something other than relevance: keep every entry
        # unless the test asks for the topic filter.
        "" if "filter" in defaults else 'filter = "all"',
    ]
    for source in sources:
        lines.append("\n[[sources]]")
        for key, value in source.items():
            lines.append(f"{key} = {_toml(value)}")
    path = directory / "feeds.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def run_cli(
    *args: str, cwd: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m aggregator ARGS` as a user would, in `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll `predicate` until true or `timeout` (bounded, for subprocess tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        threading.Event().wait(0.05)
    return predicate()
