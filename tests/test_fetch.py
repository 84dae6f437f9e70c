"""HTTP politeness, on the wire, against a real server on 127.0.0.1 (fetch.py's MUST rules)."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator import __version__
from aggregator.config import Settings, Source
from aggregator.fetch import Fetcher
from aggregator.models import Failed, FailureKind, Fetched, NotModified, Validators

from .conftest import LocalServer, Request, Response, rss

SETTINGS = Settings(
    title="t",
    public_url="https://news.test.example/",
    output_dir=Path("/nonexistent"),
    database="sqlite:///:memory:",
    contact_url="https://news.test.example/contact",
    workers=4,
)
BODY = rss([("g1", "https://partner.example/a", "Forced labour report")])


def source(url: str, **kw: object) -> Source:
    values: dict[str, object] = {
        "id": "p",
        "name": "Partner",
        "url": url,
        "timeout": timedelta(seconds=1),
    }
    values.update(kw)
    return Source(**values)  # type: ignore[arg-type]


def test_user_agent_names_program_version_and_contact(server: LocalServer) -> None:
    server.routes["/feed"] = Response(BODY)
    result = Fetcher(SETTINGS).fetch(source(server.url("/feed")), Validators())
    assert isinstance(result, Fetched)
    agent = server.requests[0].headers["user-agent"]
    assert f"aggregator/{__version__}" in agent
    assert "https://news.test.example/contact" in agent
    assert "rss+xml" in server.requests[0].headers["accept"]


def test_validators_are_stored_verbatim_and_sent_back(server: LocalServer) -> None:
    last_modified = "Wed, 02 Dec 2026 10:00:00 GMT"
    server.routes["/feed"] = Response(BODY, headers={"Last-Modified": last_modified})
    fetcher = Fetcher(SETTINGS)
    first = fetcher.fetch(source(server.url("/feed")), Validators())
    assert isinstance(first, Fetched)
    assert first.validators.last_modified == last_modified
    assert first.validators.etag and first.validators.etag.startswith('"')
    second = fetcher.fetch(source(server.url("/feed")), first.validators)
    assert isinstance(second, NotModified)
    assert second.status == 304
    sent = server.requests[1].headers
    assert sent["if-none-match"] == first.validators.etag
    assert sent["if-modified-since"] == last_modified
    # 304 keeps the validators we had (the server may omit them).
    assert second.validators.last_modified == last_modified


def test_first_request_is_unconditional(server: LocalServer) -> None:
    server.routes["/feed"] = Response(BODY)
    Fetcher(SETTINGS).fetch(source(server.url("/feed")), Validators())
    assert "if-none-match" not in server.requests[0].headers
    assert "if-modified-since" not in server.requests[0].headers


@pytest.mark.parametrize(
    ("status", "phrase", "kind"),
    [
        (404, "Not Found", FailureKind.HTTP),
        (500, "Internal Server Error", FailureKind.HTTP),
        (410, "Gone", FailureKind.GONE),
    ],
)
def test_http_errors_are_failures_with_the_status(
    server: LocalServer, status: int, phrase: str, kind: FailureKind
) -> None:
    server.routes["/feed"] = Response(b"oops", status=status, content_type="text/plain")
    result = Fetcher(SETTINGS).fetch(source(server.url("/feed")), Validators())
    assert isinstance(result, Failed)
    assert result.kind is kind
    assert result.http_status == status
    assert f"HTTP {status} {phrase}" in result.detail


def test_body_over_cap_with_content_length_is_refused(server: LocalServer) -> None:
    server.routes["/big"] = Response(b"x" * 5000)
    result = Fetcher(SETTINGS).fetch(source(server.url("/big"), max_bytes=1000), Validators())
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.TOO_LARGE
    assert "max_bytes" in result.detail


def test_body_over_cap_without_content_length_is_cut_while_streaming(server: LocalServer) -> None:
    server.routes["/big"] = Response(b"x" * 300_000, content_length=False)
    result = Fetcher(SETTINGS).fetch(source(server.url("/big"), max_bytes=100_000), Validators())
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.TOO_LARGE


def test_gzip_body_cap_applies_to_decoded_size(server: LocalServer) -> None:
    # 2 MB of zeros compresses to a few KB: the cap must count what it expands to.
    server.routes["/bomb"] = Response(b"\0" * 2_000_000, gzip=True)
    result = Fetcher(SETTINGS).fetch(source(server.url("/bomb"), max_bytes=200_000), Validators())
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.TOO_LARGE


def test_gzip_body_is_decoded(server: LocalServer) -> None:
    server.routes["/feed"] = Response(BODY, gzip=True)
    result = Fetcher(SETTINGS).fetch(source(server.url("/feed")), Validators())
    assert isinstance(result, Fetched)
    assert result.body == BODY


def test_server_that_never_answers_times_out(server: LocalServer) -> None:
    server.routes["/slow"] = Response(BODY, delay=10)
    result = Fetcher(SETTINGS).fetch(source(server.url("/slow")), Validators())
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.TIMEOUT
    assert "1s" in result.detail


def test_dripping_server_is_cut_at_the_total_limit(server: LocalServer) -> None:
    # One byte every 0.2 s never trips the 1 s read timeout; the total limit (3 s) must.
    server.routes["/drip"] = Response(BODY, drip=0.2)
    result = Fetcher(SETTINGS).fetch(source(server.url("/drip")), Validators())
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.TIMEOUT
    assert "too slow" in result.detail


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connection_refused_is_a_failure(closed_port: int) -> None:
    result = Fetcher(SETTINGS).fetch(source(f"http://127.0.0.1:{closed_port}/feed"), Validators())
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.CONNECTION
    assert "connection failed" in result.detail


def test_redirect_is_followed_and_final_url_reported(server: LocalServer) -> None:
    server.routes["/old"] = Response(b"", status=302, headers={"Location": server.url("/new")})
    server.routes["/new"] = Response(BODY)
    result = Fetcher(SETTINGS).fetch(source(server.url("/old")), Validators())
    assert isinstance(result, Fetched)
    assert result.final_url == server.url("/new")


def test_fetch_all_runs_in_parallel_and_one_failure_does_not_stop_others(
    server: LocalServer, closed_port: int
) -> None:
    # The four requests only get an answer once all four are in flight at the same
    # time: a sequential fetcher would break the barrier and get 500s.
    barrier = threading.Barrier(4, timeout=5)

    def together(_request: Request) -> Response:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return Response(b"not concurrent", status=500)
        return Response(BODY)

    for n in range(4):
        server.routes[f"/f{n}"] = together
    sources = [source(server.url(f"/f{n}"), id=f"s{n}") for n in range(4)]
    sources.append(source(f"http://127.0.0.1:{closed_port}/x", id="down"))
    results = {r.source_id: r for r in Fetcher(SETTINGS).fetch_all(sources, {})}
    assert set(results) == {"s0", "s1", "s2", "s3", "down"}
    assert isinstance(results["down"], Failed)
    assert all(isinstance(results[f"s{n}"], Fetched) for n in range(4)), results
