"""Serving: worker processes share the connections between them, and stop gracefully."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from mockserver.gateway import Exchange
from mockserver.serving import ConnectionShares, MockProtocol
from mockserver.wire import answer_bytes
from tests.conftest import LiveServer

EVENTS = "/api/v1/events/query/"


def test_a_worker_may_hold_its_least_loaded_sibling_s_count_plus_the_slack() -> None:
    shares = ConnectionShares()
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = shares.claim(os.getpid())
        theirs = shares.claim(sibling.pid)
        assert mine is not None and theirs is not None and mine != theirs
        assert shares.limit(theirs, 3, 1000) == 0 + ConnectionShares.SLACK  # I hold 0
        assert shares.limit(mine, 0, 1000) == 3 + ConnectionShares.SLACK
        assert shares.limit(mine, 0, 4) == 4  # never more than gunicorn's own limit
    finally:
        sibling.kill()
        sibling.wait()
    # A dead process's slot is taken over; a stopping or released one no longer counts.
    newcomer = shares.claim(os.getppid())
    assert newcomer == theirs
    assert shares.limit(mine, 50, 1000) == 0 + ConnectionShares.SLACK
    shares.leave(newcomer)
    assert shares.limit(mine, 50, 1000) == 1000  # no sibling: gunicorn's limit only
    shares.release(newcomer, sibling.pid)  # not its owner any more: nothing changes
    assert shares.pids[newcomer] == os.getppid()
    shares.release(newcomer, os.getppid())
    assert shares.pids[newcomer] == 0


def test_a_sibling_that_stopped_beating_no_longer_limits_the_others() -> None:
    shares = ConnectionShares()
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = shares.claim(os.getpid())
        theirs = shares.claim(sibling.pid)
        assert mine is not None and theirs is not None
        # Not beaten yet (starting): it counts, as holding what it published.
        assert shares.limit(mine, 5, 1000, now=100.0) == 0 + ConnectionShares.SLACK
        shares.limit(theirs, 1, 1000, now=100.0)
        assert shares.limit(mine, 5, 1000, now=100.5) == 1 + ConnectionShares.SLACK
        # Silent for STALE seconds (stopped, stuck): it no longer holds anyone back.
        later = 100.0 + ConnectionShares.STALE
        assert shares.limit(mine, 5, 1000, now=later) == 1000
        shares.limit(theirs, 1, 1000, now=later)  # running again: it counts again
        assert shares.limit(mine, 5, 1000, now=later) == 1 + ConnectionShares.SLACK
    finally:
        sibling.kill()
        sibling.wait()


def _workers(server: LiveServer) -> list[int]:
    return sorted(
        int(pid)
        for pid in os.listdir("/proc")
        if pid.isdigit() and _parent(int(pid)) == server.process.pid
    )


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_a_stopped_worker_leaves_no_connection_waiting() -> None:
    # With one of two workers stopped (SIGSTOP), the other took only SLACK connections
    # more than the stopped one held, and the rest waited in the listen queue until the
    # arbiter killed the stopped worker (30 s).
    server = LiveServer("--workers", "2")
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    request = f"GET {EVENTS} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    sockets: list[socket.socket] = []
    stopped = 0
    try:
        # First both workers serve (each has taken connections, so each has beaten).
        sockets = [socket.create_connection((parts.hostname, parts.port)) for _ in range(6)]
        for sock in sockets:
            sock.sendall(request)
        for sock in sockets:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert min(established_per_worker(server)) > 0
        for sock in sockets:
            sock.close()
        stopped = _workers(server)[0]
        os.kill(stopped, signal.SIGSTOP)
        sockets = [socket.create_connection((parts.hostname, parts.port)) for _ in range(8)]
        for sock in sockets:
            # Within the idle keep-alive limit (5 s), which would free places by closing
            # the answered connections; the stopped worker's share goes stale in 1 s.
            sock.settimeout(4)
            sock.sendall(request)
        for sock in sockets:  # all eight answered while their connections stay open
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in sockets:
            sock.close()
        if stopped:
            os.kill(stopped, signal.SIGCONT)
        assert server.stop() == 0


def established_per_worker(server: LiveServer) -> list[int]:
    """Connections to the server's port each worker process holds, from /proc."""
    port = urlsplit(server.url).port
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED
                established.add(fields[9])
    workers = [
        int(pid)
        for pid in os.listdir("/proc")
        if pid.isdigit() and _parent(int(pid)) == server.process.pid
    ]
    counts = []
    for pid in workers:
        fd_dir = Path(f"/proc/{pid}/fd")
        links = [os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)]
        counts.append(sum(link[8:-1] in established for link in links if link.startswith("sock")))
    return sorted(counts)


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_connections_opened_at_once_are_shared_between_the_workers() -> None:
    server = LiveServer("--workers", "2")
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    sockets = [socket.create_connection((parts.hostname, parts.port)) for _ in range(16)]
    try:
        request = f"GET {EVENTS} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
        for sock in sockets:
            sock.sendall(request)
        for sock in sockets:  # every connection answered: each is held by a worker
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        counts = established_per_worker(server)
        assert len(counts) == 2 and sum(counts) == 16
        assert counts[1] - counts[0] <= ConnectionShares.SLACK + 1, counts
    finally:
        for sock in sockets:
            sock.close()
        assert server.stop() == 0


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_connections_closed_by_network_faults_are_counted_once() -> None:
    # A fault closes the socket itself. Counted gone twice (gunicorn's own path, on the
    # closed socket), a worker's count went negative and it took every new connection.
    server = LiveServer("--workers", "2")
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    address = (parts.hostname, parts.port)
    fault = f"GET {EVENTS} HTTP/1.1\r\nHost: t\r\nX-Mock-Fault: empty\r\n\r\n".encode()
    sockets: list[socket.socket] = []
    try:
        for _ in range(30):
            with socket.create_connection(address, timeout=10) as sock:
                sock.sendall(fault)
                assert sock.recv(100) == b""
        sockets = [socket.create_connection(address, timeout=10) for _ in range(16)]
        for sock in sockets:
            sock.sendall(f"GET {EVENTS} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        for sock in sockets:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        counts = established_per_worker(server)
        assert sum(counts) == 16 and counts[1] - counts[0] <= ConnectionShares.SLACK + 1, counts
    finally:
        for sock in sockets:
            sock.close()
        assert server.stop() == 0


def _read_by_the_server(port: int, client_port: int) -> bool:
    """The server's end of the connection has nothing left to read (Linux /proc)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1].rsplit(":", 1)[1], fields[2].rsplit(":", 1)[1]
            if int(local, 16) == port and int(remote, 16) == client_port:
                return int(fields[4].split(":")[1], 16) == 0
    return False


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_stop_finishes_the_requests_in_flight(signal_name: str) -> None:
    server = LiveServer("--workers", "1")
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"GET {EVENTS} HTTP/1.1\r\nHost: t\r\nX-Mock-Delay: 1500\r\n\r\n".encode())
        client_port = sock.getsockname()[1]
        deadline = time.monotonic() + 20
        while not _read_by_the_server(parts.port, client_port):  # the request is in flight
            assert time.monotonic() < deadline, "the server never read the request"
            select.select([sock], [], [], 0.005)  # nothing comes back before the delay ends
        server.process.send_signal(getattr(signal, signal_name))
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection without answering"
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert server.stop() == 0


def _responses(sock: socket.socket, count: int) -> list[bytes]:
    """`count` whole responses (each sized by its Content-Length) read from `sock`."""
    data, found = b"", []
    while len(found) < count:
        head, sep, rest = data.partition(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if sep and length is not None and len(rest) >= length:
            found.append(head + sep + rest[:length])
            data = rest[length:]
            continue
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed after {len(found)} of {count} answers"
        data += chunk
    return found


def _without_date(response: bytes) -> bytes:
    lines = response.split(b"\r\n")
    return b"\r\n".join(line for line in lines if not line.lower().startswith(b"date:"))


@pytest.mark.parametrize(
    "request_text",
    [
        f"GET {EVENTS} HTTP/1.1\r\nHost: t\r\n\r\n",
        f"HEAD {EVENTS} HTTP/1.1\r\nHost: t\r\n\r\n",
        f"GET {EVENTS} HTTP/1.1\r\nHost: t\r\nX-Mock-Status: 400\r\n\r\n",
        f"GET {EVENTS}?limit=nope HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /V1.0/p1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\n\r\n[]",
        "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n",
    ],
)
def test_answers_made_inline_are_the_bytes_uvicorn_s_cycle_writes(request_text: str) -> None:
    # Two requests in one write: the protocol answers the first inline, and the one
    # pipelined behind it through uvicorn's request cycle and the ASGI app.
    server = LiveServer("--workers", "1")
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall(request_text.encode() * 2)
            if request_text.startswith("HEAD"):  # no bodies: the heads end the answers
                data = b""
                while data.count(b"\r\n\r\n") < 2:
                    chunk = sock.recv(65536)
                    assert chunk
                    data += chunk
                inline, cycled, _ = data.split(b"\r\n\r\n", 2)
            else:
                inline, cycled = _responses(sock, 2)
        assert _without_date(inline) == _without_date(cycled)
        assert b"\r\ndate: " in inline
    finally:
        assert server.stop() == 0


def test_a_request_pipelined_behind_a_delayed_one_is_answered_after_it() -> None:
    server = LiveServer("--workers", "1")
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    slow = f"GET {EVENTS} HTTP/1.1\r\nHost: t\r\nX-Mock-Delay: 300\r\n\r\n"
    fast = f"GET {EVENTS} HTTP/1.1\r\nHost: t\r\nX-Mock-Status: 400\r\n\r\n"
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall((slow + fast).encode())
            first, second = _responses(sock, 2)
        assert first.startswith(b"HTTP/1.1 200 ") and second.startswith(b"HTTP/1.1 400 ")
    finally:
        assert server.stop() == 0


def _exchange(status: int, headers: list[tuple[str, str]], body: bytes, method: str = "GET"):
    exchange = Exchange(method, "/x", 0.0, status=status, headers=headers, body=body)
    return exchange


DATE = [(b"date", b"Fri, 27 Nov 2026 18:00:00 GMT")]


def test_an_answer_is_written_as_uvicorn_writes_it() -> None:
    data, keep = answer_bytes(
        _exchange(201, [("Content-Type", "application/json"), ("Content-Length", "2")], b"{}"),
        DATE,
        keep_alive=True,
    )
    assert keep and data == (
        b"HTTP/1.1 201 Created\r\ndate: Fri, 27 Nov 2026 18:00:00 GMT\r\n"
        b"content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    )


def test_an_answer_that_ends_the_connection_says_so_once() -> None:
    sized = [("Content-Length", "2")]
    data, keep = answer_bytes(_exchange(200, sized, b"{}"), [], keep_alive=False)
    assert not keep and data.count(b"connection: close\r\n") == 1
    closing = [*sized, ("Connection", "close")]
    data, keep = answer_bytes(_exchange(200, closing, b"{}"), [], keep_alive=True)
    assert not keep and data.lower().count(b"connection: close\r\n") == 1


def test_head_answers_carry_no_body_and_unsized_ones_are_chunked() -> None:
    data, _ = answer_bytes(_exchange(200, [("Content-Length", "2")], b"{}", "HEAD"), [], True)
    assert data.endswith(b"content-length: 2\r\n\r\n")
    data, _ = answer_bytes(_exchange(200, [], b"abc"), [], True)
    assert data.endswith(b"transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    data, _ = answer_bytes(_exchange(204, [], b""), [], True)
    assert data == b"HTTP/1.1 204 No Content\r\n\r\n"


@pytest.mark.parametrize(
    "header", [("X-Bad", "a\r\nSet-Cookie: x=1"), ("Bad Name", "v"), ("X-Text", "caf\u00e9\u2603")]
)
def test_a_header_that_is_not_valid_http_is_refused(header: tuple[str, str]) -> None:
    with pytest.raises((ValueError, UnicodeEncodeError)):
        answer_bytes(_exchange(200, [header, ("Content-Length", "0")], b""), [], True)


class _Transport(asyncio.Transport):
    """What the protocol writes, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _FailingApp:
    """An InlineApp whose inline answer fails: the protocol must still answer."""

    def __init__(self) -> None:
        self.journaled: list[Exchange] = []

    def answers_inline(self, path: str, headers: dict[str, str]) -> bool:
        return True

    def answer_inline(self, *args: Any) -> Exchange:
        raise RuntimeError("a bug")

    def journal(self, exchange: Exchange) -> None:
        self.journaled.append(exchange)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("answered inline, not through ASGI")


def test_an_inline_answer_that_fails_is_a_500_and_the_server_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _FailingApp()
    config = Config(
        app=app,
        http=MockProtocol,
        interface="asgi3",
        lifespan="off",
        ws="none",
        proxy_headers=False,
    )
    config.load()
    loop = asyncio.new_event_loop()
    try:
        protocol = MockProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        transport = _Transport()
        protocol.connection_made(transport)
        with caplog.at_level(logging.ERROR, logger="mockserver"):
            protocol.data_received(b"GET /things HTTP/1.1\r\nHost: t\r\n\r\n")
        assert transport.written.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        # The same problem+json as the gateway renders for its own failures.
        head, _, body = transport.written.partition(b"\r\n\r\n")
        assert b"content-type: application/problem+json" in head
        assert b"connection: close" in head
        assert json.loads(body)["type"] == "urn:mockserver:problem:internal-error"
        assert transport.closing and [e.status for e in app.journaled] == [500]
        assert "unexpected error while serving GET /things" in caplog.text
        protocol.connection_lost(None)
    finally:
        loop.close()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_a_graceful_stop_loses_no_access_log_line() -> None:
    # The workers died by the SIGTERM uvicorn raised again after its graceful stop, so
    # the atexit flushes never ran: the lines of the requests answered last (those in
    # flight when the stop began) were lost.
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--workers", "2"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    sockets: list[socket.socket] = []
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().rsplit(" ", 1)[-1].strip()
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        request = f"GET {EVENTS} HTTP/1.1\r\nHost: t\r\nX-Mock-Delay: 500\r\n\r\n".encode()
        for _ in range(40):
            sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
            sockets.append(sock)
            sock.sendall(request)
        deadline = time.monotonic() + 20
        for sock in sockets:  # every request is in flight
            while not _read_by_the_server(parts.port, sock.getsockname()[1]):
                assert time.monotonic() < deadline, "the server never read a request"
                select.select([], [], [], 0.005)
        process.send_signal(signal.SIGTERM)
        answered = sum(sock.recv(65536).startswith(b"HTTP/1.1 200 ") for sock in sockets)
        printed, _ = process.communicate(timeout=60)
    finally:
        for sock in sockets:
            sock.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0 and answered == len(sockets)
    lines = [line for line in printed.decode().splitlines() if f" GET {EVENTS} " in line]
    assert len(lines) == answered


_STOPPED_BY_SIGTERM = """
import atexit, signal
from uvicorn.config import Config
from mockserver.serving import _SharingServer

atexit.register(lambda: print("atexit ran", flush=True))
server = _SharingServer(Config(app=None), None, 1)
with server.capture_signals():
    signal.raise_signal(signal.SIGTERM)  # what gunicorn's arbiter sends to stop a worker
    assert server.should_exit  # a graceful stop began
print("stopped", flush=True)
"""


def test_a_worker_stopped_by_sigterm_exits_normally_so_its_atexit_flushes_run() -> None:
    # uvicorn raised the captured SIGTERM again once its server had stopped; with the
    # default handler that killed the worker there, before the journal's last batch and
    # the access log were flushed (atexit) and before its connection share was released.
    done = subprocess.run(
        [sys.executable, "-c", _STOPPED_BY_SIGTERM], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["stopped", "atexit", "ran"]
