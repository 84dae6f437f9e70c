"""The bundled sample partner network, served on 127.0.0.1 for `aggregator demo`.

Every organisation and text under `site/` is fictional and written for this
project. The server replaces the placeholder `{base}` in every file (and in the
demo's feeds.toml) with its own address, answers conditional requests with 304,
and answers 404 for anything that is not a file, like a partner that moved away.
"""

from __future__ import annotations

import hashlib
import threading
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from types import TracebackType

SITE = Path(str(files("aggregator.demo") / "site"))
CONFIG_TEMPLATE = Path(str(files("aggregator.demo") / "feeds.toml"))

CONTENT_TYPES = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
}


def _handler(root: Path, base: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "demo-partner/1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # the demo prints its own summary

        def do_GET(self) -> None:
            relative = self.path.split("?", 1)[0].lstrip("/")
            target = (root / relative).resolve()
            if not target.is_file() or root.resolve() not in target.parents:
                self.send_error(404, "Not Found")
                return
            body = target.read_bytes().replace(b"{base}", base[0].encode())
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            mtime = int(target.stat().st_mtime)
            if self._not_modified(etag, mtime):
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPES.get(target.suffix, "text/plain"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", formatdate(mtime, usegmt=True))
            self.end_headers()
            self.wfile.write(body)

        def _not_modified(self, etag: str, mtime: int) -> bool:
            if_none_match = self.headers.get("If-None-Match")
            if if_none_match is not None:
                return etag in [t.strip() for t in if_none_match.split(",")]
            since = self.headers.get("If-Modified-Since")
            if since:
                try:
                    return int(parsedate_to_datetime(since).timestamp()) >= mtime
                except (TypeError, ValueError):
                    return False
            return False

    return Handler


class DemoNetwork:
    """`with DemoNetwork() as net:` serves the sample partners at `net.base`."""

    def __init__(self, root: Path = SITE, port: int = 0) -> None:
        self._base: list[str] = [""]
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(root, self._base))
        self.server.daemon_threads = True
        host, bound_port = self.server.server_address[:2]
        self._base[0] = f"http://{host!s}:{bound_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return self._base[0]

    def config_text(self, template: Path = CONFIG_TEMPLATE) -> str:
        return template.read_text(encoding="utf-8").replace("{base}", self.base)

    def __enter__(self) -> DemoNetwork:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
