"""Hostile and broken input, through a real socket to `mockserver serve`.

Every case must get a clear 4xx (never a 5xx, never a hang), and the server must keep
serving afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.serving import _SharingServer
from tests.conftest import LiveServer

HUAWEI = "/V1.0/p1/events"
MODULE = "/iacm/api/modules/146/events"


def address(server: LiveServer) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def exchange(server: LiveServer, data: bytes, timeout: float = 15) -> bytes:
    """Send raw bytes, read until the server closes (or the response is complete)."""
    with socket.create_connection(address(server), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # it may answer and close before taking all
            sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            head, sep, body = received.partition(b"\r\n\r\n")
            if sep and b"content-length:" in head.lower():
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    break
    return received


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1."), response[:200]
    return int(response.split(b" ", 2)[1])


def body_of(response: bytes) -> bytes:
    return response.partition(b"\r\n\r\n")[2]


def post(path: str, body: bytes, content_type: str = "application/json", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nx-api-key: k\r\nConnection: close\r\n{extra}\r\n"
    ).encode() + body


@pytest.fixture(autouse=True)
def still_serving(live_server: LiveServer) -> Iterator[None]:
    yield
    assert requests.get(live_server.url + "/__mock/health", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("label", "body", "rule"),
    [
        ("invalid JSON", b'[{"event_name": ', "syntax"),
        ("not UTF-8", b'[{"event_name": "\xff\xfe"}]', "encoding"),
        ("nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, "depth"),
        ("huge number", b'[{"time": 1' + b"0" * 100_000 + b"}]", "syntax"),
        ("duplicate keys", b'[{"event_name": "a", "event_name": "b"}]', "syntax"),
        ("NaN", b'[{"time": NaN}]', "syntax"),
    ],
)
def test_unreadable_bodies_get_the_documented_400(
    live_server: LiveServer, label: str, body: bytes, rule: str
) -> None:
    response = exchange(live_server, post(HUAWEI, body))
    assert status_of(response) == 400, label
    message = json.loads(body_of(response))
    assert isinstance(message, str) and message.startswith("Request error: ")
    assert {
        "syntax": "not valid JSON",
        "encoding": "not valid UTF-8",
        "depth": "nested too deeply",
    }[rule] in message


def test_body_over_the_limit_is_refused_before_it_is_read(live_server: LiveServer) -> None:
    head = (
        f"POST {HUAWEI} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000000\r\n\r\n["
    ).encode()
    # Only the first byte of a 100 MB body is sent: the answer cannot wait for the rest.
    response = exchange(live_server, head)
    assert status_of(response) == 413
    assert b"application/problem+json" in response
    assert b"--max-body" in body_of(response)


@pytest.mark.parametrize(
    ("label", "content_type"), [("missing", None), ("wrong", "text/plain"), ("nonsense", "%%%/;;;")]
)
def test_wrong_or_missing_content_type(
    live_server: LiveServer, label: str, content_type: str | None
) -> None:
    body = b'{"account": "7", "eventType": "x", "org": "v", "project": "p"}'
    header = f"Content-Type: {content_type}\r\n" if content_type else ""
    request = (
        f"POST {MODULE} HTTP/1.1\r\nHost: t\r\n{header}Content-Length: {len(body)}\r\n"
        "x-api-key: k\r\nConnection: close\r\n\r\n"
    ).encode() + body
    response = exchange(live_server, request)
    assert status_of(response) == 400, label
    message = body_of(response).lower()
    assert b"content" in message and b"application/json" in message


@pytest.mark.parametrize(
    ("label", "request_bytes", "expected"),
    [
        (
            "64 KB header",
            b"GET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\nX-Big: "
            + b"a" * 65536
            + b"\r\nConnection: close\r\n\r\n",
            431,
        ),
        ("70,000-character path", b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (
            "ten thousand query parameters",
            b"GET /api/v1/events/query/?"
            + b"&".join(b"p%d=1" % i for i in range(10_000))
            + b" HTTP/1.1\r\nHost: t\r\n\r\n",
            414,
        ),
        (
            "NUL in a header",
            b"GET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n"
            b"Connection: close\r\n\r\n",
            400,
        ),
        ("not HTTP at all", b"\x16\x03\x01\x00\xffhello\r\n\r\n", 400),
        (
            "empty Transfer-Encoding",
            b"POST /internal/create-event HTTP/1.1\r\nHost: t\r\n"
            b"Transfer-Encoding: \r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "unknown Transfer-Encoding",
            b"POST /internal/create-event HTTP/1.1\r\nHost: t\r\n"
            b"Transfer-Encoding: zip\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "invalid UTF-8 in the path",
            b"GET /api/v1/events/query/%ff%fe/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            404,
        ),
        (
            "dot-dot segment",
            b"GET /api/v1/events/subscriptions/project/%2e%2e/ HTTP/1.1\r\n"
            b"Host: t\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "many query parameters that fit",
            b"GET /api/v1/events/query/?"
            + b"&".join(b"p%d=" % i for i in range(3000))
            + b" HTTP/1.1\r\nHost: t\r\n"
            b"Connection: close\r\n\r\n",
            200,
        ),
    ],
)
def test_odd_requests_get_a_clear_answer(
    live_server: LiveServer, label: str, request_bytes: bytes, expected: int
) -> None:
    assert status_of(exchange(live_server, request_bytes)) == expected, label


def test_nothing_from_the_request_is_reflected_into_headers(live_server: LiveServer) -> None:
    response = exchange(
        live_server,
        b"GET /nowhere%0d%0aSet-Cookie:%20x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    head = response.partition(b"\r\n\r\n")[0].lower()
    assert status_of(response) == 404
    assert b"set-cookie" not in head


# -- slow and silent clients --------------------------------------------------------------
@pytest.fixture(scope="module")
def strict_server() -> Iterator[LiveServer]:
    server = LiveServer("--workers", "1", "--threads", "4", "--request-timeout", "1")
    yield server
    assert server.stop() == 0


def test_silent_and_slow_clients_do_not_block_others(strict_server: LiveServer) -> None:
    host_port = address(strict_server)
    silent = [socket.create_connection(host_port, timeout=30) for _ in range(12)]
    slow = [socket.create_connection(host_port, timeout=30) for _ in range(2)]
    try:
        for sock in slow:
            sock.sendall(b"GET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\n")  # and stop
        # 12 silent connections: the event loop waits on all of them and serves others.
        answer = requests.get(strict_server.url + "/api/v1/events/query/", timeout=10)
        assert answer.status_code == 200
        # The server times the half-sent requests out and closes them.
        for sock in slow:
            assert sock.recv(100) == b""
    finally:
        for sock in silent + slow:
            sock.close()


def test_a_busy_keep_alive_client_does_not_starve_another() -> None:
    # One worker, one event loop. The busy client pipelines many requests at once; its
    # connection is served one request at a time, and another connection gets its turn.
    server = LiveServer("--workers", "1", "--threads", "1")
    pipelined = 3000
    request = b"GET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\n\r\n"
    answered = [0]
    busy = socket.create_connection(address(server), timeout=30)

    def send() -> None:
        with contextlib.suppress(OSError):
            busy.sendall(request * pipelined)

    def read() -> None:
        with contextlib.suppress(OSError):
            while answered[0] < pipelined:
                chunk = busy.recv(65536)
                if not chunk:
                    return
                answered[0] += chunk.count(b"HTTP/1.1 200 ")

    threads = [threading.Thread(target=send), threading.Thread(target=read)]
    try:
        for thread in threads:
            thread.start()
        with requests.Session() as session:
            for _ in range(3):
                assert session.get(server.url + "/api/v1/events/query/", timeout=60).ok
        # The other client was answered while the busy one still had requests queued.
        assert answered[0] < pipelined
    finally:
        busy.close()
        for thread in threads:
            thread.join(timeout=30)
        assert server.stop() == 0


def test_a_delayed_answer_holds_up_no_one() -> None:
    # One worker, one admin thread. Each X-Mock-Delay waits on the event loop, not on a
    # thread: a plain request sent after eight delayed ones is answered before any of them.
    server = LiveServer("--workers", "1", "--threads", "1")
    delayed = [socket.create_connection(address(server), timeout=30) for _ in range(8)]
    try:
        for sock in delayed:
            sock.sendall(
                b"GET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\nX-Mock-Delay: 3000\r\n\r\n"
            )
        answer = requests.get(server.url + "/api/v1/events/query/", timeout=30)
        assert answer.status_code == 200
        waiting, _, _ = select.select(delayed, [], [], 0)
        assert waiting == []  # no delayed answer has come yet
        for sock in delayed:  # and each comes in the end
            assert sock.recv(100).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in delayed:
            sock.close()
        assert server.stop() == 0


@pytest.mark.parametrize(
    ("request_bytes", "status", "kind"),
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "uri-too-long"),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
            431,
            "headers-too-large",
        ),
        (
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n",
            431,
            "headers-too-large",
        ),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", 400, "bad-request"),
    ],
)
def test_unreadable_heads_are_refused_as_problems(
    live_server: LiveServer, request_bytes: bytes, status: int, kind: str
) -> None:
    response = exchange(live_server, request_bytes)
    assert status_of(response) == status
    assert b"application/problem+json" in response.partition(b"\r\n\r\n")[0]
    assert json.loads(body_of(response))["type"] == f"urn:mockserver:problem:{kind}"


def test_an_endless_head_is_cut_off(live_server: LiveServer) -> None:
    # Each header is under the limit, but the head never ends: the server must stop
    # reading (and answer 431) long before 64 MB, whatever the socket buffers hold.
    cap = 64_000_000
    sent = 0
    with (
        socket.create_connection(address(live_server), timeout=30) as sock,
        contextlib.suppress(OSError),
    ):
        sock.sendall(b"GET / HTTP/1.1\r\n")
        while sent < cap:
            sock.sendall(b"X-A: " + b"a" * 1000 + b"\r\n")
            sent += 1007
    assert sent < cap


# -- fuzzing the HTTP surface ---------------------------------------------------------------
TOKENS = st.sampled_from(
    ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "QUERY", "BREW", "get", ""]
)
PATHS = st.sampled_from(
    [
        "/",
        "/api/v1/events/query/",
        HUAWEI,
        MODULE,
        "/event/x/events/list",
        "/__mock/requests",
        "/__mock/health",
        "/internal/create-event",
    ]
)
NOISE = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="#"),
    max_size=30,
)
HEADER_NAMES = st.sampled_from(
    [
        "Content-Type",
        "Accept",
        "X-Api-Key",
        "Prefer",
        "Cookie",
        "Content-Length",
        "Transfer-Encoding",
        "Harness-Account",
        "X-Whatever",
        "Expect",
    ]
)
HEADER_VALUES = st.one_of(
    NOISE,
    st.sampled_from(
        ["application/json", "chunked", "-1", "0", "999999999", "code=500", "100-continue"]
    ),
)


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    method = draw(TOKENS)
    path = draw(PATHS) + draw(NOISE)
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9.9", ""]))
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=5))
    body = draw(st.binary(max_size=300))
    lines = [f"{method} {path} {version}".strip(), "Host: t", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=raw_requests())
def test_fuzzed_requests_never_get_a_5xx_or_hang(live_server: LiveServer, data: bytes) -> None:
    response = exchange(live_server, data, timeout=15)
    if response:  # a request the server cannot parse at all may be closed without answer
        assert status_of(response) < 500, (data[:300], response[:300])


def test_an_upgrade_request_is_served_as_plain_http(live_server: LiveServer) -> None:
    response = exchange(
        live_server,
        b"GET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, close\r\n"
        b"Upgrade: websocket\r\n\r\n",
    )
    assert status_of(response) == 200
    assert "upgrade" not in live_server.output().lower()  # nothing to warn about


@pytest.mark.skipif(sys.platform != "linux", reason="file-descriptor limits as on Linux")
def test_a_flood_past_the_file_descriptor_limit_does_not_spin_or_stop_the_server() -> None:
    import resource
    import time

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # The server inherits the limit; the test process (which may already hold many
    # descriptors in a long run) needs room to start it, so the limit counts from those.
    limit = max(96, len(os.listdir("/proc/self/fd")) + 32)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        server = LiveServer("--workers", "1")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    flood: list[socket.socket] = []
    try:
        for _ in range(limit + 104):  # more than the worker can accept: the rest queue
            flood.append(socket.create_connection(address(server), timeout=10))
        # The worker is out of descriptors while the flood holds: it must log, pause and
        # retry, not retry at once in a loop (tens of thousands of lines a second).
        seen: dict[int, float] = {}
        deadline = time.monotonic() + 20
        while len(seen) < 2:
            assert time.monotonic() < deadline, "the worker never ran out of descriptors"
            failures = server.output().count("accept failed")
            for count in range(1, min(failures, 2) + 1):
                seen.setdefault(count, time.monotonic())
            select.select([], [], [], 0.005)
        assert seen[2] - seen[1] >= _SharingServer.BACKOFF * 0.8
        for sock in flood:
            sock.close()
        flood.clear()
        answer = requests.get(server.url + "/api/v1/events/query/", timeout=30)
        assert answer.status_code == 200
    finally:
        for sock in flood:
            sock.close()
        assert server.stop() == 0


# -- the HTTP edge's defects of issue 15 ----------------------------------------------------
def _read_until_closed(sock: socket.socket, within: float) -> bytes:
    """Everything the server sends until it closes the connection, which it must do
    within `within` seconds (a socket timeout fails the test)."""
    sock.settimeout(within)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def _answers(data: bytes) -> list[int]:
    """The statuses of the answers in `data`, in order (each sized by Content-Length)."""
    statuses = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        statuses.append(status_of(head))
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        data = rest[length:]
    return statuses


def test_a_stray_crlf_after_an_answer_does_not_hold_the_connection_open(
    live_server: LiveServer,
) -> None:
    # RFC 9112 §2.2: a server tolerates a CRLF before a request line; the keep-alive
    # limit (5 s) must still close an idle connection. Two bytes used to pin it for ever.
    with socket.create_connection(address(live_server), timeout=15) as sock:
        sock.sendall(b"GET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"\r\n")
        assert _read_until_closed(sock, within=15) == b""


def test_a_stray_crlf_before_a_request_is_tolerated(live_server: LiveServer) -> None:
    response = exchange(
        live_server,
        b"\r\nGET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    assert status_of(response) == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\nX-Mock-Delay: 200\r\n\r\n",
        b"GET /__mock/health HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /__mock/requests?limit=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    ],
)
def test_a_client_that_half_closes_after_its_request_gets_its_answer(
    live_server: LiveServer, request_bytes: bytes
) -> None:
    with socket.create_connection(address(live_server), timeout=15) as sock:
        sock.sendall(request_bytes)
        sock.shutdown(socket.SHUT_WR)
        received = _read_until_closed(sock, within=15)  # answered, then closed
    assert status_of(received) == 200
    assert received.count(b"HTTP/1.1 ") == 1


def test_requests_pipelined_then_half_closed_are_all_answered(live_server: LiveServer) -> None:
    one = b"GET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\nX-Mock-Delay: 100\r\n\r\n"
    two = b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"
    with socket.create_connection(address(live_server), timeout=15) as sock:
        sock.sendall(one + two)
        sock.shutdown(socket.SHUT_WR)
        assert _answers(_read_until_closed(sock, within=15)) == [200, 404]


def _journal_of(server: LiveServer, session: str) -> list[dict[str, object]]:
    answer = requests.get(f"{server.url}/__mock/requests?session={session}", timeout=10)
    assert answer.status_code == 200
    requests_listed: list[dict[str, object]] = answer.json()["requests"]
    return requests_listed


@pytest.fixture(scope="module")
def one_worker() -> Iterator[LiveServer]:
    """A server with one worker: what it journals is in the order it happened."""
    server = LiveServer("--workers", "1")
    yield server
    assert server.stop() == 0


def test_a_request_whose_client_left_before_its_answer_is_not_journaled(
    one_worker: LiveServer,
) -> None:
    session = "left-early"
    gone = socket.create_connection(address(one_worker), timeout=15)
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    gone.sendall(
        b"GET /api/v1/events/query/?who=gone HTTP/1.1\r\nHost: t\r\n"
        b"X-Mock-Session: left-early\r\nX-Mock-Delay: 300\r\n\r\n"
    )
    gone.close()  # a reset, before the answer: it is never answered
    # A later request on the same worker, answered after the first one's delay ended.
    answer = requests.get(
        one_worker.url + "/api/v1/events/query/?who=stayed",
        headers={"X-Mock-Session": session, "X-Mock-Delay": "600"},
        timeout=15,
    )
    assert answer.status_code == 200
    deadline = time.monotonic() + 10
    while not (listed := _journal_of(one_worker, session)):
        assert time.monotonic() < deadline, "the answered request was never journaled"
        select.select([], [], [], 0.02)
    assert [entry["query"] for entry in listed] == [{"who": ["stayed"]}]


def test_a_request_pipelined_behind_an_ignored_upgrade_is_answered(live_server: LiveServer) -> None:
    upgrade = (
        b"GET /api/v1/events/query/ HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
        b"Upgrade: h2c\r\n\r\n"
    )
    after = b"GET /nowhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    with socket.create_connection(address(live_server), timeout=15) as sock:
        sock.sendall(upgrade + after)
        assert _answers(_read_until_closed(sock, within=15)) == [200, 404]


@pytest.mark.parametrize(
    ("label", "hosts", "version", "expected"),
    [
        ("no Host", b"", b"HTTP/1.1", 400),
        ("two Hosts", b"Host: a\r\nHost: b\r\n", b"HTTP/1.1", 400),
        ("one Host", b"Host: a\r\n", b"HTTP/1.1", 200),
        ("HTTP/1.0 without Host", b"", b"HTTP/1.0", 200),
    ],
)
def test_an_http_1_1_request_needs_exactly_one_host(
    live_server: LiveServer, label: str, hosts: bytes, version: bytes, expected: int
) -> None:
    request_bytes = (
        b"GET /api/v1/events/query/ " + version + b"\r\n" + hosts + b"Connection: close\r\n\r\n"
    )
    response = exchange(live_server, request_bytes)
    assert status_of(response) == expected, label
    if expected == 400:
        assert json.loads(body_of(response))["detail"].startswith("An HTTP/1.1 request carries")


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"deflate,chunked", b"identity, chunked"])
def test_a_transfer_coding_the_mock_does_not_decode_is_501(
    live_server: LiveServer, coding: bytes
) -> None:
    response = exchange(
        live_server,
        b"POST " + HUAWEI.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: " + coding + b"\r\nx-api-key: k\r\n\r\n5\r\n[1,2]\r\n0\r\n\r\n",
    )
    assert status_of(response) == 501
    problem = json.loads(body_of(response))
    assert problem["type"] == "urn:mockserver:problem:transfer-coding-not-implemented"


def test_a_header_as_long_as_the_spec_allows_is_validated_not_refused(
    live_server: LiveServer,
) -> None:
    # Huawei documents X-Auth-Token up to 16,384 characters: it reaches validation.
    token = "t" * 16384
    response = exchange(live_server, post(HUAWEI, b"[]", extra=f"X-Auth-Token: {token}\r\n"))
    assert status_of(response) not in (431, 414)
    # Past its maxLength: the API's own 400, naming it; far past the limit: 431.
    longer = exchange(live_server, post(HUAWEI, b"[]", extra=f"X-Auth-Token: {token}xx\r\n"))
    assert status_of(longer) == 400 and b"longer than 16384 characters" in longer
    too_long = exchange(live_server, post(HUAWEI, b"[]", extra=f"X-Auth-Token: {token * 2}\r\n"))
    assert status_of(too_long) == 431


def test_a_long_query_string_is_answered(live_server: LiveServer) -> None:
    query = "&".join(f"p{i}=value{i}" for i in range(3000))  # ~35 KB
    response = exchange(
        live_server, f"GET /api/v1/events/query/?{query} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    )
    assert status_of(response) == 200


def test_the_head_limits_are_options() -> None:
    server = LiveServer(
        "--workers", "1", "--max-header", "1000", "--max-request-line", "2000", "--max-head", "6000"
    )
    try:
        base = b"GET /api/v1/events/query/"
        cases = [
            (
                base + b" HTTP/1.1\r\nHost: t\r\nX-A: " + b"a" * 1100 + b"\r\n\r\n",
                431,
                "--max-header",
            ),
            (
                base + b"?q=" + b"a" * 2000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
                414,
                "--max-request-line",
            ),
            (
                base + b" HTTP/1.1\r\nHost: t\r\n" + (b"X-A: " + b"a" * 900 + b"\r\n") * 7,
                431,
                "--max-head",
            ),
            (base + b" HTTP/1.1\r\nHost: t\r\nX-A: " + b"a" * 900 + b"\r\n\r\n", 200, None),
        ]
        for request_bytes, expected, option in cases:
            response = exchange(server, request_bytes)
            assert status_of(response) == expected, option
            if option is not None:
                assert option in json.loads(body_of(response))["detail"]
    finally:
        assert server.stop() == 0


def test_options_asterisk_lists_the_methods_the_mock_serves(live_server: LiveServer) -> None:
    response = exchange(live_server, b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status_of(response) == 204
    allow = response.lower().split(b"\r\nallow: ")[1].split(b"\r\n")[0].decode().upper()
    assert {"GET", "POST", "OPTIONS"} <= set(allow.split(", "))
    other = exchange(live_server, b"GET * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status_of(other) == 400


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/__mock/health", "GET, HEAD, OPTIONS"),
        ("PATCH", "/__mock/requests", "DELETE, GET, HEAD, OPTIONS"),
        ("POST", "/__mock/scenarios", "DELETE, GET, HEAD, OPTIONS, PUT"),
    ],
)
def test_an_admin_route_refuses_other_methods_with_405_and_allow(
    live_server: LiveServer, method: str, path: str, allowed: str
) -> None:
    answer = requests.request(method, live_server.url + path, timeout=10)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == allowed
    assert answer.json()["allowed"] == allowed.split(", ")
    options = requests.options(live_server.url + path, timeout=10)
    assert options.status_code == 204 and options.headers["Allow"] == allowed


TOKEN = "s3cr\u00e9t"  # not ASCII: sent as UTF-8


@pytest.fixture(scope="module")
def guarded() -> Iterator[LiveServer]:
    server = LiveServer("--workers", "1", "--admin-token", TOKEN)
    yield server
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (None, 401),
        (b"Bearer " + TOKEN.encode(), 200),
        (b"bearer " + TOKEN.encode(), 200),  # schemes are case-insensitive
        (b"BEARER  " + TOKEN.encode(), 200),
        (TOKEN.encode(), 401),  # no scheme
        (b"Basic " + TOKEN.encode(), 401),
        (b"Bearer " + TOKEN.encode("latin-1"), 401),  # other bytes, though the same text in latin-1
        (b"Bearer s3cret", 401),
    ],
)
def test_the_admin_token_is_a_bearer_token_compared_as_bytes(
    guarded: LiveServer, authorization: bytes | None, expected: int
) -> None:
    header = b"" if authorization is None else b"Authorization: " + authorization + b"\r\n"
    response = exchange(
        guarded,
        b"GET /__mock/apis HTTP/1.1\r\nHost: t\r\n" + header + b"Connection: close\r\n\r\n",
    )
    assert status_of(response) == expected
    if expected == 401:
        assert (
            b'\r\nwww-authenticate: Bearer realm="mockserver admin"\r\n'
            in response.lower().replace(b"bearer", b"Bearer")
        )


def test_control_characters_in_a_path_do_not_forge_access_log_lines() -> None:
    server = LiveServer("--workers", "1")
    try:
        response = exchange(
            server,
            b"GET /api/v1/events/query/%0A2026-01-01T00:00:00Z%20GET%20/forged%0D HTTP/1.1\r\n"
            b"Host: t\r\nConnection: close\r\n\r\n",
        )
        assert status_of(response) == 404
    finally:
        assert server.stop() == 0
    lines = server.printed.splitlines()
    assert not any(line.startswith("2026-01-01T00:00:00Z") for line in lines)
    assert any("\\x0a2026-01-01T00:00:00Z GET /forged\\x0d" in line for line in lines), lines


def test_health_is_answered_while_every_admin_thread_is_busy() -> None:
    # One worker, one admin thread, held by a scenario upload whose body has not all
    # come: a liveness probe on /__mock/health is still answered (its own thread).
    server = LiveServer("--workers", "1", "--threads", "1")
    slow = socket.create_connection(address(server), timeout=30)
    try:
        slow.sendall(
            b"PUT /__mock/scenarios HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b'Content-Length: 40\r\n\r\n{"scenarios": '
        )
        answer = requests.get(server.url + "/__mock/health", timeout=10)
        assert answer.status_code == 200
        assert answer.json()["status"] == "ok"
        slow.sendall(b"[]}" + b" " * 23)  # the upload ends, and is answered
        assert slow.recv(100).startswith(b"HTTP/1.1 200 ")
    finally:
        slow.close()
        assert server.stop() == 0
