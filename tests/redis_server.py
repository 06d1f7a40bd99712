"""A real `redis-server` for the tests: Debian's package, on a free 127.0.0.1 port, in a
temporary folder, with no persistence. `.ci/run` installs the package when it is missing;
anywhere else a missing server fails the Redis tests with a message saying how to get it
(never a skip: a missing server is never a pass).

Readiness is a real PING answered, polled until a deadline; never a fixed sleep.

`tls=True` serves TLS only (`rediss://`), with the self-signed certificate for 127.0.0.1
in tests/data/tls/ (made for these tests: `openssl req -x509 -newkey rsa:2048 -nodes
-days 36500 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1`).
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

START_TIMEOUT = 15.0
TLS = Path(__file__).parent / "data" / "tls"
CERTIFICATE, KEY = TLS / "redis-test.crt", TLS / "redis-test.key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_binary() -> str:
    """The redis-server to run; fails the test, saying how to install one, without it."""
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin")
    if found is None:
        message = (
            "redis-server is not installed: `sudo apt-get install redis-server` (Debian's "
            "package; .ci/run installs it): the shared-state tests need a real Redis"
        )
        pytest.fail(message)
    return found


class RedisServer:
    """One redis-server process; `stop()` and `start()` again keep its port (the tests
    of an outage and a recovery)."""

    def __init__(self, binary: str, folder: Path, *, tls: bool = False) -> None:
        self.binary = binary
        self.folder = folder
        self.tls = tls
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "redis.log"

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={CERTIFICATE}"
        return f"redis://127.0.0.1:{self.port}/0"

    def _listen(self) -> list[str]:
        if not self.tls:
            return ["--port", str(self.port)]
        return [
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", str(CERTIFICATE),
            "--tls-key-file", str(KEY),
            "--tls-ca-cert-file", str(CERTIFICATE),
            "--tls-auth-clients", "no",
        ]  # fmt: skip

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind", "127.0.0.1",
                *self._listen(),
                "--dir", str(self.folder),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--logfile", str(self.log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.wait_ready()

    def wait_ready(self) -> None:
        """Poll PING until it is answered; fail with the server's log if it never is."""
        client = self.client(timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"redis-server exited {self.process.returncode}: {self.tail()}"
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not answer PING: {self.tail()}")
                time.sleep(0.005)  # between two real attempts, not instead of one
        finally:
            client.close()

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def client(self, timeout: float = 5) -> redis.Redis:
        return redis.Redis.from_url(
            self.url, socket_connect_timeout=timeout, socket_timeout=timeout
        )

    def stop(self) -> None:
        """SIGTERM (nothing to save), wait; killed after 10 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()


def running_redis(*, tls: bool = False) -> Iterator[RedisServer]:
    binary = redis_binary()
    with tempfile.TemporaryDirectory(prefix="mockserver-redis-") as folder:
        server = RedisServer(binary, Path(folder), tls=tls)
        server.start()
        try:
            yield server
        finally:
            server.stop()


_SHARED: list[RedisServer] = []


def shared_redis() -> RedisServer:
    """One redis-server for this test process, started when first asked for and stopped
    at exit; tests that share it empty it (or use a database of their own) first."""
    if not _SHARED:
        folder = Path(tempfile.mkdtemp(prefix="mockserver-redis-"))
        server = RedisServer(redis_binary(), folder)
        server.start()
        _SHARED.append(server)

        def stop() -> None:
            server.stop()
            shutil.rmtree(folder, ignore_errors=True)

        atexit.register(stop)
    return _SHARED[0]


@pytest.fixture(scope="session")
def redis_server() -> RedisServer:
    """The test process's redis-server (`shared_redis`)."""
    return shared_redis()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, for tests that stop and restart it."""
    yield from running_redis()


@pytest.fixture
def tls_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own that speaks TLS only (`rediss://`)."""
    yield from running_redis(tls=True)
