"""`aggregator serve` on the wire, and the nginx/Caddy examples that must agree with it (#7).

The server runs as a real subprocess on 127.0.0.1 (port 0: the port it prints), over
an output folder made by a real `aggregator run`; requests go through http.client,
so every header is seen as a client sees it. It is stopped by its PID.
"""

from __future__ import annotations

import gzip
import http.client
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import pytest

from aggregator import serve as serve_mod

from .conftest import REPO, LocalServer, Response, rss, run_cli, write_config

SECRET = "feeds.toml-secret-marker"
OUTPUTS = {  # path -> media type
    "/atom.xml": "application/atom+xml; charset=utf-8",
    "/rss.xml": "application/rss+xml; charset=utf-8",
    "/feed.json": "application/feed+json",
    "/digest.json": "application/json",
    "/status.json": "application/json",
    "/sources.opml": "text/x-opml; charset=utf-8",
    "/feeds.opml": "text/x-opml; charset=utf-8",
    "/index.html": "text/html; charset=utf-8",
    "/": "text/html; charset=utf-8",
    "/embed.js": "text/javascript; charset=utf-8",
    "/tags/un-agencies/atom.xml": "application/atom+xml; charset=utf-8",
    "/tags/un-agencies/rss.xml": "application/rss+xml; charset=utf-8",
    "/tags/un-agencies/feed.json": "application/feed+json",
}
CORS = {"/feed.json", "/digest.json", "/status.json", "/embed.js", "/tags/un-agencies/feed.json"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Served:
    port: int
    root: Path
    proc: subprocess.Popen[str]

    def request(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        finally:
            conn.close()

    def file(self, path: str) -> bytes:
        relative = path.lstrip("/") or "index.html"
        return (self.root / relative).read_bytes()


def start_serve(
    cwd: Path, *args: str, options: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[str], int]:
    """Start `aggregator ARGS serve --port 0 OPTIONS`; return it and the port it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", *args, "serve", "--port", "0", *options],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline() if ready else ""
    match = re.search(r"at http://127\.0\.0\.1:(\d+)/", line)
    if match is None:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"serve did not start: {line!r} {err}")
    return proc, int(match.group(1))


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def _publish(folder: Path) -> None:
    partner = LocalServer()
    try:
        partner.routes["/un.rss"] = Response(
            rss(
                [
                    ("u1", "https://un.example/n/1", "UN agency report on forced labour"),
                    ("u2", "https://un.example/n/2", "Forced labour in fishing: new data"),
                ]
            )
        )
        write_config(
            folder,
            [{"id": "un", "url": partner.url("/un.rss"), "tags": ["UN agencies"]}],
            extra=f"# {SECRET}",
        )
        result = run_cli("run", cwd=folder)
        assert result.returncode == 0, result.stderr
    finally:
        partner.close()
    out = folder / "output"
    # The page and the widget come from other renderers; stand-ins when they are absent.
    for name, text in (
        ("index.html", "<!doctype html><title>Timeline</title>" + "<p>item</p>" * 50),
        ("embed.js", "(function(){var items=[];" + "/* widget */" * 50 + "})();"),
    ):
        if not (out / name).exists():
            (out / name).write_text(text, encoding="utf-8")
    (out / ".atom.xml.1234.tmp").write_text("half-written", encoding="utf-8")
    (out / "escape.toml").symlink_to(folder / "feeds.toml")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("serve")
    _publish(folder)
    proc, port = start_serve(folder)
    try:
        yield Served(port, folder / "output", proc)
    finally:
        code, err = stop(proc)
        assert code == 0, err


@pytest.mark.parametrize(("path", "media_type"), sorted(OUTPUTS.items()))
def test_each_output_has_its_content_type_and_caching_headers(
    served: Served, path: str, media_type: str
) -> None:
    reply = served.request(path)
    assert reply.status == 200
    assert reply.headers["content-type"] == media_type
    assert reply.body == served.file(path)
    assert reply.headers["content-length"] == str(len(reply.body))
    assert reply.headers["cache-control"] == "public, max-age=300"
    assert reply.headers["x-content-type-options"] == "nosniff"
    etag = reply.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), etag  # strong: no W/
    modified = parsedate_to_datetime(reply.headers["last-modified"])
    assert int(modified.timestamp()) == int(
        (served.root / (path.lstrip("/") or "index.html")).stat().st_mtime
    )
    assert reply.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize("path", sorted(OUTPUTS))
def test_cors_only_on_json_and_the_widget(served: Served, path: str) -> None:
    headers = served.request(path).headers
    if path in CORS:
        assert headers["access-control-allow-origin"] == "*"
        assert headers["access-control-expose-headers"] == "ETag"
    else:
        assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize("path", ["/atom.xml", "/feed.json", "/", "/embed.js", "/sources.opml"])
def test_conditional_get_answers_304(served: Served, path: str) -> None:
    first = served.request(path)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},  # weak comparison, a list
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
        {"If-Modified-Since": formatdate(usegmt=True)},  # later than the file
    ):
        reply = served.request(path, headers)
        assert reply.status == 304, headers
        assert reply.body == b""
        assert reply.headers["etag"] == etag
        assert reply.headers["last-modified"] == modified
        assert reply.headers["cache-control"] == "public, max-age=300"
        assert ("access-control-allow-origin" in reply.headers) == (path in CORS)
    earlier = formatdate(parsedate_to_datetime(modified).timestamp() - 60, usegmt=True)
    for headers in (
        {"If-None-Match": '"something-else"'},
        {"If-Modified-Since": earlier},
        # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
        {"If-None-Match": '"something-else"', "If-Modified-Since": modified},
        {"If-Modified-Since": "not a date"},
    ):
        reply = served.request(path, headers)
        assert reply.status == 200, headers
        assert reply.body == served.file(path)


@pytest.mark.parametrize("path", ["/atom.xml", "/rss.xml", "/feed.json", "/", "/feeds.opml"])
def test_gzip_when_accepted(served: Served, path: str) -> None:
    plain = served.request(path)
    zipped = served.request(path, {"Accept-Encoding": "br, gzip;q=0.8"})
    assert zipped.status == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.headers["content-type"] == plain.headers["content-type"]
    assert gzip.decompress(zipped.body) == served.file(path) == plain.body
    assert int(zipped.headers["content-length"]) == len(zipped.body) < len(plain.body)
    # A different representation has a different strong ETag; either one revalidates.
    assert zipped.headers["etag"] != plain.headers["etag"]
    for etag in (zipped.headers["etag"], plain.headers["etag"]):
        again = served.request(path, {"Accept-Encoding": "gzip", "If-None-Match": etag})
        assert again.status == 304
        assert again.headers["etag"] == zipped.headers["etag"]
    for refused in ("gzip;q=0", "identity", "br", "*;q=0"):
        reply = served.request(path, {"Accept-Encoding": refused})
        assert "content-encoding" not in reply.headers, refused
        assert reply.body == served.file(path)
    assert "content-encoding" in served.request(path, {"Accept-Encoding": "*"}).headers


@pytest.mark.parametrize("path", ["/atom.xml", "/digest.json", "/", "/embed.js"])
def test_head_sends_the_headers_of_get_without_a_body(served: Served, path: str) -> None:
    for headers in ({}, {"Accept-Encoding": "gzip"}):
        get = served.request(path, headers)
        head = served.request(path, headers, method="HEAD")
        assert head.status == 200 and head.body == b""
        drop = {"date"}
        assert {k: v for k, v in head.headers.items() if k not in drop} == {
            k: v for k, v in get.headers.items() if k not in drop
        }


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/../feeds.toml", 400),
        ("/%2e%2e/feeds.toml", 400),
        ("/%2E%2E/feeds.toml", 400),
        ("/.%2e/feeds.toml", 400),
        ("/tags/../../feeds.toml", 400),
        ("/tags/%2e%2e/%2e%2e/feeds.toml", 400),
        ("//../feeds.toml", 400),
        ("/..%2ffeeds.toml", 400),  # an encoded slash cannot join segments
        ("/%2e%2e%2ffeeds.toml", 400),
        ("/..%5cfeeds.toml", 400),
        ("/..\\feeds.toml", 400),
        ("/%00/feeds.toml", 400),
        ("/escape.toml", 404),  # a symlink out of the folder
        ("/.atom.xml.1234.tmp", 404),  # an atomic write in progress
        ("/%2eatom.xml.1234.tmp", 404),
        ("/feeds.toml", 404),
    ],
)
def test_nothing_outside_the_folder_is_served(served: Served, path: str, status: int) -> None:
    reply = served.request(path)
    assert reply.status == status, (path, reply.status)
    assert SECRET.encode() not in reply.body
    assert b"half-written" not in reply.body
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.headers["cache-control"] == "no-store"


def test_folders_are_served_by_their_index_and_never_listed(served: Served) -> None:
    tag = served.root / "tags" / "un-agencies"
    if not (tag / "index.html").exists():
        (tag / "index.html").write_text("<!doctype html><title>UN agencies</title>")
    redirect = served.request("/tags/un-agencies?x=1")
    assert redirect.status == 301
    assert redirect.headers["location"] == "/tags/un-agencies/?x=1"
    page = served.request("/tags/un-agencies/")
    assert page.status == 200 and page.body == (tag / "index.html").read_bytes()
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    # A folder without index.html is not listed.
    bare = served.root / "bare"
    bare.mkdir(exist_ok=True)
    (bare / "secret-name.json").write_text("{}")
    assert served.request("/bare/").status == 404
    assert b"secret-name" not in served.request("/bare/").body
    assert served.request("/no-such-file.xml").status == 404


def test_only_get_and_head(served: Served) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        reply = served.request("/feed.json", method=method)
        assert reply.status == 405, method
        assert reply.headers["allow"] == "GET, HEAD"


def test_a_rewritten_file_gets_a_new_etag(served: Served) -> None:
    extra = served.root / "extra.json"
    extra.write_text('{"v": 1}')
    first = served.request("/extra.json")
    tmp = served.root / ".extra.json.tmp"
    tmp.write_text('{"v": 2}')
    tmp.replace(extra)  # as publish writes: a new file renamed over the old one
    second = served.request("/extra.json", {"If-None-Match": first.headers["etag"]})
    assert second.status == 200 and second.body == b'{"v": 2}'
    assert second.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_server_with_exit_0(tmp_path: Path, sig: int) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "feed.json").write_text("{}")
    proc, port = start_serve(tmp_path, "-v", "--config", "none.toml", options=("--dir", "site"))
    # --dir: the configuration is not needed (none.toml does not exist).
    reply = Served(port, tmp_path / "site", proc).request("/feed.json")
    assert reply.status == 200
    code, err = stop(proc, sig)
    assert code == 0, err
    assert f"received {signal.Signals(sig).name}" in err and "server stopped" in err
    assert '"GET /feed.json HTTP/1.1" 200' in err  # -v logs every request


def test_serve_refuses_a_missing_folder_and_a_taken_port(tmp_path: Path) -> None:
    write_config(tmp_path, [])
    missing = run_cli("serve", "--port", "0", cwd=tmp_path)
    assert missing.returncode == 1
    assert "is not a folder" in missing.stderr and "aggregator publish" in missing.stderr
    (tmp_path / "output").mkdir()
    proc, port = start_serve(tmp_path)
    try:
        taken = run_cli("serve", "--port", str(port), cwd=tmp_path)
        assert taken.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr
    finally:
        assert stop(proc)[0] == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "feeds.toml").write_text("[aggregator]\n")
    assert run_cli("serve", cwd=bad).returncode == 2


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=1.0, *;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("x-gzip", True),
        ("*", True),
        ("*;q=0", False),
        ("br, *;q=0.1", True),
        ("identity", False),
        ("gzip;q=oops", False),
    ],
)
def test_accept_encoding(header: str | None, accepted: bool) -> None:
    assert serve_mod.accepts_gzip(header) is accepted


# --- the nginx and Caddy examples declare what `serve` does ---

NAMES = [
    "/atom.xml",
    "/tags/un-agencies/atom.xml",
    "/rss.xml",
    "/feed.json",
    "/tags/un-agencies/feed.json",
    "/digest.json",
    "/status.json",
    "/sources.opml",
    "/feeds.opml",
    "/index.html",
    "/",
    "/embed.js",
]


def _expected(path: str) -> tuple[str, bool]:
    name = "index.html" if path.endswith("/") else path.rsplit("/", 1)[-1]
    return serve_mod.content_type(name), serve_mod.cors(name)


def _blocks(text: str, keyword: str) -> list[tuple[str, str]]:
    """(header, body) of each `keyword … { … }` block, with nested braces."""
    found = []
    for match in re.finditer(rf"(?m)^\s*{keyword}\b([^{{\n]*)\{{", text):
        depth, index = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        found.append((match.group(1).strip(), text[match.end() : index - 1]))
    return found


def _strip_comments(text: str) -> str:
    return re.sub(r"(?m)#.*$", "", text)


def test_nginx_example_sends_the_same_headers() -> None:
    text = _strip_comments((REPO / "contrib" / "nginx" / "aggregator.conf").read_text())
    (server_block,) = [body for _, body in _blocks(text, "server")]
    locations = _blocks(server_block, "location")
    outside = server_block
    for _, body in locations:
        outside = outside.replace(body, "")

    def directive(name: str, where: str = outside) -> list[str]:
        return [" ".join(m.split()) for m in re.findall(rf"(?m)^\s*{name}\s+([^;]+);", where)]

    assert directive("autoindex") == ["off"]
    assert directive("index") == ["index.html"]
    assert directive("charset") == ["utf-8"]
    assert directive("gzip") == ["on"] and directive("gzip_vary") == ["on"]
    charset_types = set(directive("charset_types")[0].split()) | {"text/html"}
    gzip_types = set(directive("gzip_types")[0].split()) | {"text/html"}  # always
    headers = dict(h.split(None, 1) for h in directive("add_header"))
    assert headers["Cache-Control"].strip('"') == serve_mod.CACHE_CONTROL
    assert headers["X-Content-Type-Options"].strip('"') == "nosniff"
    for _, body in locations:  # an add_header inside would drop the inherited ones
        assert "add_header" not in body
    assert any(args == "~ /\\." and "return 404" in body for args, body in locations)
    maps = {args.split()[1]: body for args, body in _blocks(text, "map")}

    def mapped(variable: str, uri: str) -> str:
        default = ""
        for line in maps[variable].strip().splitlines():
            key, value = line.split(None, 1)
            value = value.rstrip(";").strip().strip('"')
            if key == "default":
                default = value
            elif re.search(key.removeprefix("~*"), uri, re.IGNORECASE):
                return value
        return default

    cors_variable = headers["Access-Control-Allow-Origin"]
    expose_variable = headers["Access-Control-Expose-Headers"]
    for path in NAMES:
        ctype, cors = _expected(path)
        uri = path + "index.html" if path.endswith("/") else path  # the index directive
        chosen = None
        for args, body in locations:  # the first matching regex location wins
            modifier, _, pattern = args.partition(" ")
            if modifier in ("~", "~*") and re.search(
                pattern, uri, re.IGNORECASE if modifier == "~*" else 0
            ):
                chosen = body
                break
        assert chosen is not None, path
        (default_type,) = directive("default_type", chosen)
        assert "types { }" in " ".join(chosen.split()), path
        media, _, params = ctype.partition(";")
        assert default_type == media, path
        assert (media in charset_types) == ("charset=utf-8" in params), path
        if serve_mod.compressible(ctype):
            assert media in gzip_types, path
        assert (mapped(cors_variable, uri) == "*") == cors, path
        assert (mapped(expose_variable, uri) == "ETag") == cors, path


def _caddy_matches(patterns: list[str], path: str) -> bool:
    lower = path.lower()
    for pattern in (p.lower() for p in patterns):
        if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
            hit = pattern[1:-1] in lower
        elif pattern.startswith("*"):
            hit = lower.endswith(pattern[1:])
        elif pattern.endswith("*"):
            hit = lower.startswith(pattern[:-1])
        else:
            hit = lower == pattern
        if hit:
            return True
    return False


def test_caddy_example_sends_the_same_headers() -> None:
    text = _strip_comments((REPO / "contrib" / "caddy" / "Caddyfile").read_text())
    (site,) = [body for _, body in _blocks(text, r"news\.example\.org")]
    matchers: dict[str, tuple[list[str], list[str]]] = {}
    for name, inline in re.findall(r"(?m)^\s*@(\w+) path (.+)$", site):
        matchers[name] = (inline.split(), [])
    for match in re.finditer(r"(?m)^\s*@(\w+) \{([^}]*)\}", site):
        lines = [line.split() for line in match.group(2).strip().splitlines()]
        include = [p for line in lines if line[0] == "path" for p in line[1:]]
        exclude = [p for line in lines if line[:2] == ["not", "path"] for p in line[2:]]
        matchers[match.group(1)] = (include, exclude)
    headers: list[tuple[str | None, str, str]] = []
    for matcher, field, value in re.findall(r'(?m)^\s*header (?:@(\w+) )?([\w-]+) "([^"]*)"', site):
        headers.append((matcher or None, field, value))
    (encode,) = [body for _, body in _blocks(site, "encode")]
    assert "gzip" in encode
    encode_types = re.findall(r"header Content-Type (\S+)", encode)
    (file_server,) = [body for _, body in _blocks(site, "file_server")]
    assert "hide .*" in file_server and "browse" not in site

    def applies(matcher: str | None, path: str) -> bool:
        if matcher is None:
            return True
        include, exclude = matchers[matcher]
        return _caddy_matches(include, path) and not _caddy_matches(exclude, path)

    for path in NAMES:
        ctype, cors = _expected(path)
        sent = [(f, v) for m, f, v in headers if applies(m, path)]
        types = [v for f, v in sent if f == "Content-Type"]
        assert types == [ctype], (path, types)  # exactly one rule, so order cannot matter
        got = dict(sent)
        assert got["Cache-Control"] == serve_mod.CACHE_CONTROL
        assert got["X-Content-Type-Options"] == "nosniff"
        assert (got.get("Access-Control-Allow-Origin") == "*") == cors, path
        assert (got.get("Access-Control-Expose-Headers") == "ETag") == cors, path
        if serve_mod.compressible(ctype):
            media = ctype.split(";")[0]
            assert any(_caddy_matches([t], media) for t in encode_types), path
