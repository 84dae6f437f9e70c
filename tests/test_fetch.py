"""HTTP politeness, on the wire, against a real server on 127.0.0.1 (fetch.py's MUST rules)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest

from aggregator import __version__
from aggregator.config import Settings, Source
from aggregator.fetch import Fetcher, address_refusal, cache_lifetime
from aggregator.models import Failed, FailureKind, Fetched, NotModified, Validators

from .conftest import LocalServer, Request, Response, rss

SETTINGS = Settings(
    title="t",
    public_url="https://news.test.example/",
    output_dir=Path("/nonexistent"),
    database="sqlite:///:memory:",
    contact_url="https://news.test.example/contact",
    workers=4,
    allow_networks=(ip_network("127.0.0.1"),),
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
    fetcher = Fetcher(replace(SETTINGS, per_host=4))
    results = {r.source_id: r for r in fetcher.fetch_all(sources, {})}
    assert set(results) == {"s0", "s1", "s2", "s3", "down"}
    assert isinstance(results["down"], Failed)
    assert all(isinstance(results[f"s{n}"], Fetched) for n in range(4)), results


def test_per_host_limit_is_never_exceeded(server: LocalServer) -> None:
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]

    def slow(_request: Request) -> Response:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.15)
        with lock:
            in_flight[0] -= 1
        return Response(BODY)

    for n in range(8):
        server.routes[f"/f{n}"] = slow
    sources = [source(server.url(f"/f{n}"), id=f"s{n}") for n in range(8)]
    fetcher = Fetcher(replace(SETTINGS, workers=8, per_host=2))
    results = list(fetcher.fetch_all(sources, {}))
    assert len(results) == 8
    assert all(isinstance(r, Fetched) for r in results)
    assert peak[0] == 2  # polite, but still parallel


def test_other_hosts_are_not_held_up_by_a_busy_host(server: LocalServer) -> None:
    # Six sources on one origin and one on another: with per_host=1 the lone
    # source must not wait behind the queue (round-robin across origins).
    other = LocalServer()
    try:
        order: list[str] = []

        def slow(request: Request) -> Response:
            time.sleep(0.1)
            order.append(request.path)
            return Response(BODY)

        for n in range(6):
            server.routes[f"/f{n}"] = slow
        other.routes["/lone"] = lambda request: (order.append("/lone"), Response(BODY))[1]
        sources = [source(server.url(f"/f{n}"), id=f"s{n}") for n in range(6)]
        sources.append(source(other.url("/lone"), id="lone"))
        list(Fetcher(replace(SETTINGS, workers=2, per_host=1)).fetch_all(sources, {}))
        assert order.index("/lone") <= 1
    finally:
        other.close()


def test_permanent_redirect_chain_reports_moved_to(server: LocalServer) -> None:
    server.routes["/a"] = Response(b"", status=301, headers={"Location": "/b"})
    server.routes["/b"] = Response(b"", status=308, headers={"Location": server.url("/c")})
    server.routes["/c"] = Response(BODY)
    result = Fetcher(SETTINGS).fetch(source(server.url("/a")), Validators())
    assert isinstance(result, Fetched)
    assert result.moved_to == server.url("/c")
    assert result.final_url == server.url("/c")


@pytest.mark.parametrize("temporary", [302, 307])
def test_a_temporary_hop_means_the_move_is_not_remembered(
    server: LocalServer, temporary: int
) -> None:
    server.routes["/a"] = Response(b"", status=301, headers={"Location": "/b"})
    server.routes["/b"] = Response(b"", status=temporary, headers={"Location": "/c"})
    server.routes["/c"] = Response(BODY)
    result = Fetcher(SETTINGS).fetch(source(server.url("/a")), Validators())
    assert isinstance(result, Fetched)
    assert result.moved_to is None
    assert result.final_url == server.url("/c")


def test_redirect_loop_is_a_clear_error(server: LocalServer) -> None:
    server.routes["/a"] = Response(b"", status=301, headers={"Location": "/b"})
    server.routes["/b"] = Response(b"", status=302, headers={"Location": "/a"})
    result = Fetcher(SETTINGS).fetch(source(server.url("/a")), Validators())
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.REDIRECT
    assert "redirect loop" in result.detail
    assert len(server.requests) == 2


def test_more_than_five_redirects_is_a_clear_error(server: LocalServer) -> None:
    for n in range(10):
        server.routes[f"/r{n}"] = Response(b"", status=302, headers={"Location": f"/r{n + 1}"})
    result = Fetcher(SETTINGS).fetch(source(server.url("/r0")), Validators())
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.REDIRECT
    assert "more than 5 redirects" in result.detail
    assert len(server.requests) == 6  # the original request and five hops


def test_five_redirects_are_followed(server: LocalServer) -> None:
    for n in range(5):
        server.routes[f"/r{n}"] = Response(b"", status=302, headers={"Location": f"/r{n + 1}"})
    server.routes["/r5"] = Response(BODY)
    result = Fetcher(SETTINGS).fetch(source(server.url("/r0")), Validators())
    assert isinstance(result, Fetched), result


def test_redirect_to_a_non_http_scheme_is_refused(server: LocalServer) -> None:
    server.routes["/a"] = Response(b"", status=302, headers={"Location": "file:///etc/passwd"})
    result = Fetcher(SETTINGS).fetch(source(server.url("/a")), Validators())
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.REDIRECT
    assert "only http and https" in result.detail


def test_loopback_is_refused_unless_allowed(server: LocalServer) -> None:
    server.routes["/feed"] = Response(BODY)
    strict = replace(SETTINGS, allow_networks=())
    result = Fetcher(strict).fetch(source(server.url("/feed")), Validators())
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.BLOCKED
    assert "127.0.0.1" in result.detail and "allow_networks" in result.detail
    assert server.requests == []  # refused before a single byte was sent


def test_address_check_applies_after_a_redirect(server: LocalServer) -> None:
    # The first hop is allowed (127.0.0.1); the redirect goes to 127.0.0.2, which
    # is not: the guard must refuse the second connection.
    target = LocalServer()
    try:
        target.routes["/feed"] = Response(BODY)
        settings = replace(SETTINGS, allow_networks=(ip_network("127.0.0.1/32"),))
        server.routes["/b"] = Response(
            b"", status=302, headers={"Location": f"http://127.0.0.2:{target.port}/feed"}
        )
        result = Fetcher(settings).fetch(source(server.url("/b")), Validators())
        assert isinstance(result, Failed)
        assert result.kind is FailureKind.BLOCKED
        assert "127.0.0.2" in result.detail
        assert target.requests == []
    finally:
        target.close()


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("10.1.2.3", True),
        ("192.168.0.10", True),
        ("172.16.5.4", True),
        ("169.254.169.254", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:10.0.0.1", True),
        ("0.0.0.0", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_address_refusal_ranges(address: str, refused: bool) -> None:
    assert (address_refusal(address, ()) is not None) is refused


def test_allow_networks_admits_a_private_range() -> None:
    assert address_refusal("10.1.2.3", (ip_network("10.0.0.0/8"),)) is None
    assert address_refusal("10.1.2.3", (ip_network("192.168.0.0/16"),)) is not None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": "max-age=3600"}, timedelta(hours=1)),
        ({"Cache-Control": "public, s-maxage=600, max-age=60"}, timedelta(minutes=10)),
        ({"Cache-Control": "no-cache"}, None),
        ({"Cache-Control": "no-store, max-age=3600"}, None),
        (
            {"Expires": "Thu, 03 Dec 2026 12:00:00 GMT", "Date": "Thu, 03 Dec 2026 10:00:00 GMT"},
            timedelta(hours=2),
        ),
        ({"Cache-Control": "max-age=60", "Expires": "Thu, 03 Dec 2026 12:00:00 GMT"}, None),
        ({"Expires": "0"}, None),
        ({}, None),
    ],
)
def test_cache_lifetime(headers: dict[str, str], expected: timedelta | None) -> None:
    if headers.get("Cache-Control") == "max-age=60":
        expected = timedelta(minutes=1)  # max-age wins over Expires
    assert cache_lifetime(headers) == expected


def test_cache_lifetime_is_reported_with_the_result(server: LocalServer) -> None:
    server.routes["/feed"] = Response(BODY, headers={"Cache-Control": "max-age=7200"})
    result = Fetcher(SETTINGS).fetch(source(server.url("/feed")), Validators())
    assert isinstance(result, Fetched)
    assert result.cache_for == timedelta(hours=2)
