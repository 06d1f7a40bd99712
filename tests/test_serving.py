"""Serving: worker processes share the connections between them, and stop gracefully."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mockserver.serving import ConnectionShares
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
