"""Serving: gunicorn's threaded workers around the app, and network faults on the socket.

`serve(settings, options)` runs the app under gunicorn (`gthread` workers: several
processes, each with a pool of threads). The app is built once in the master process,
before the workers fork, so every worker starts with everything compiled. SIGTERM and
SIGINT both stop gracefully: requests in flight are finished, then the process exits 0.

Network faults (`X-Mock-Fault`, or a scenario's `fault`) must really happen on the
socket: `FaultMiddleware` wraps the WSGI app, and when the view has asked for a fault
it acts on the client socket gunicorn hands the app (`gunicorn.socket`) and then raises
`ConnectionResetError`, which gunicorn takes as a client gone away: it writes nothing
more and closes the connection.

    reset      RST: SO_LINGER 0, then close -- the client sees "connection reset"
    empty      FIN with no byte sent -- the client sees the connection closed
    malformed  bytes that are not HTTP, then FIN
    truncated  the real status and headers, Content-Length of the whole body, half of it

Connections: `MockWorker` takes its share of the connections and no more
(`ConnectionShares`), and a thread that has answered a kept-alive connection serves
that connection's next request itself when it comes at once (`LINGER`).

Slow and silent clients: `MockWorker` gives every connection a deadline to send its
request (`request_timeout`, counted from when a thread starts reading it, for head and
body together), so a client that trickles bytes (slowloris) cannot hold a thread, and
hands a connection that has sent nothing back to the poller at once instead of letting
it sit on a thread (gunicorn waits 5 s there); gunicorn then closes it after its
keep-alive timeout.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import logging
import multiprocessing
import os
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.sharedctypes import RawArray
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.http.errors import InvalidHeader, UnsupportedTransferCoding
from gunicorn.workers import gthread

from mockserver.state import process_alive

FAULT_KEY = "mockserver.fault"
SOCKET_KEY = "gunicorn.socket"
MALFORMED = b"\x16\x03\x01\x00 this is not HTTP \xff\xfe\r\n\r\n"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def can_fault(environ: dict[str, Any]) -> bool:
    """True where the client socket is reachable (under `mockserver serve`)."""
    return isinstance(environ.get(SOCKET_KEY), socket.socket)


class FaultMiddleware:
    """Turns a requested fault into what the client's socket really sees."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info) if FAULT_KEY not in environ else None

        result = self.app(environ, capture)
        fault = environ.get(FAULT_KEY)
        if fault is None:
            return result
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        sock = environ[SOCKET_KEY]
        if fault == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif fault == "malformed":
            _send(sock, MALFORMED)
        elif fault == "truncated":
            _send(sock, _head(captured, len(body)) + body[: len(body) // 2])
        if fault != "reset":
            _shutdown(sock)
        sock.close()
        raise ConnectionResetError(errno.ECONNRESET, f"mockserver fault: {fault}")


def _head(captured: dict[str, Any], length: int) -> bytes:
    lines = [f"HTTP/1.1 {captured.get('status', '200 OK')}"]
    for key, value in captured.get("headers", []):
        if key.lower() not in ("content-length", "connection"):
            lines.append(f"{key}: {value}")
    lines += [f"Content-Length: {max(length, 2)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _send(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the client left first; the fault is moot
        sock.sendall(data)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


IDLE_WAIT = 0.05
"""Seconds a new connection may hold a thread before it has sent anything."""


class _DeadlineSocket(socket.socket):
    """A client socket whose reads share one deadline per request.

    gunicorn calls `setblocking(True)` before it reads each request: that starts the
    clock. Every read then waits at most for what is left, so a request must arrive
    whole within `request_timeout` seconds, however slowly it trickles in.
    """

    request_timeout = 10.0
    _deadline: float | None = None

    def setblocking(self, flag: bool) -> None:
        if flag:
            self._deadline = time.monotonic() + self.request_timeout
            self.settimeout(self.request_timeout)
        else:
            super().setblocking(False)

    def _arm(self) -> None:
        deadline = self._deadline
        if deadline is not None and self.gettimeout() is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the client did not send its request in time")
            self.settimeout(left)

    def recv(self, size: int, flags: int = 0) -> bytes:
        self._arm()
        return super().recv(size, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        if self.gettimeout() is not None:
            self.settimeout(self.request_timeout)  # writing has its own allowance
        super().sendall(data, flags)


class _QuietTimeouts(logging.Filter):
    """A client that timed out is routine, not a server error worth a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, TimeoutError)


class ConnectionShares:
    """How many connections each worker process holds, in memory the workers share.

    All workers accept from one listening socket, and whichever wakes first takes what
    is waiting: wrk's 16 connections, opened at once, sometimes all went to one of two
    workers, which then served every request on one core while the other idled
    (bench/README.md: half the throughput, and twice the latency). With these counts a
    worker stops accepting while it holds `SLACK` or more connections than its least
    loaded sibling; the least loaded one always accepts, so nothing waits for long.
    """

    SLOTS = 64
    SLACK = 2

    def __init__(self) -> None:
        self.pids = RawArray(ctypes.c_long, self.SLOTS)
        self.counts = RawArray(ctypes.c_int, self.SLOTS)
        self.leaving = RawArray(ctypes.c_byte, self.SLOTS)
        self.lock = multiprocessing.Lock()

    def claim(self, pid: int) -> int | None:
        """A slot for this process: a free one, or one a dead process left."""
        with self.lock:
            for slot in range(self.SLOTS):
                owner = self.pids[slot]
                if owner == 0 or not process_alive(owner):
                    self.pids[slot], self.counts[slot], self.leaving[slot] = pid, 0, 0
                    return slot
        return None

    def leave(self, slot: int) -> None:
        """This worker is stopping: its connections no longer hold the others back (a
        worker draining its last connections after a reload would otherwise keep the
        new ones at `SLACK`). No lock: a signal handler calls it."""
        self.leaving[slot] = 1

    def release(self, slot: int, pid: int) -> None:
        with self.lock:
            if self.pids[slot] == pid:  # not a slot another process has taken since
                self.pids[slot], self.counts[slot], self.leaving[slot] = 0, 0, 0

    def _siblings(self, slot: int) -> list[int]:
        return [i for i in range(self.SLOTS) if i != slot and self.pids[i] and not self.leaving[i]]

    def present(self, exclude: int) -> int:
        """How many other workers hold a slot and are not stopping."""
        return len(self._siblings(exclude))

    def limit(self, slot: int, held: int, most: int, missing_count: bool = False) -> int:
        """Publish `held`; return how many connections this worker may hold now.
        `missing_count`: a sibling that has not started yet counts as holding none."""
        self.counts[slot] = held
        others = [self.counts[i] for i in self._siblings(slot)]
        if missing_count:
            others.append(0)
        return most if not others else min(most, min(others) + self.SLACK)


def _nothing() -> None:
    pass


class MockWorker(gthread.ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, hardened against slow and silent clients, that takes
    its share of connections and no more (`ConnectionShares`)."""

    shares: ConnectionShares | None = None
    _slot: int | None = None
    _most = 0
    _started = 0.0
    _held_back = False
    _waker: threading.Thread | None = None
    RECHECK = 0.005

    STARTING = 2.0
    """Seconds after its start during which a worker expects the siblings gunicorn forks
    after it (0-0.1 s apart): until they are all up, it takes at most `SLACK`
    connections, so the first worker does not take every connection opened at once."""

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cls.shares is None:  # in the master, before any worker is forked
            cls.shares = ConnectionShares()

    # gunicorn's loop accepts while `nr_conns < worker_connections`, read at every turn.
    @property
    def worker_connections(self) -> int:
        if self.shares is None or self._slot is None:
            return self._most
        missing = (
            time.monotonic() - self._started < self.STARTING
            and self.shares.present(exclude=self._slot) < self.cfg.workers - 1
        )
        limit = self.shares.limit(self._slot, self.nr_conns, self._most, missing)
        held_back = self.nr_conns >= limit and limit < self._most
        if held_back and self._waker is None:
            self._waker = threading.Thread(target=self._wake, name="mockserver-waker", daemon=True)
            self._waker.start()
        self._held_back = held_back
        return limit

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._most = value

    def _wake(self) -> None:
        """While held back, wake the main loop every `RECHECK` seconds to look again:
        it would otherwise wait for an event of its own, up to a second, while its
        siblings (also at their share) wait for it to take the next connection."""
        while self.alive:
            time.sleep(self.RECHECK)
            if self._held_back:
                self.method_queue.defer(_nothing)

    def init_process(self) -> None:
        self.log.error_log.addFilter(_QuietTimeouts())
        if self.shares is not None:
            self._slot = self.shares.claim(os.getpid())
            self._started = time.monotonic()
        try:
            super().init_process()
        finally:
            if self.shares is not None and self._slot is not None:
                self.shares.release(self._slot, os.getpid())

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.shares is not None and self._slot is not None:
            self.shares.leave(self._slot)
        super().handle_exit(sig, frame)

    def accept(self, listener: socket.socket) -> None:
        try:
            raw, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        sock = _DeadlineSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
        self.enqueue_req(gthread.TConn(self.cfg, sock, address, listener.getsockname()))

    def finish_request(self, conn: Any, fs: Any) -> None:
        if conn.sock.fileno() == -1:
            # A network fault closed the socket itself. gunicorn's own path would fail
            # on the closed socket and count the connection gone twice: the count went
            # negative, which broke `ConnectionShares` and let a stopping worker leave
            # with a request still in flight.
            self.nr_conns -= 1
            return
        super().finish_request(conn, fs)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # gunicorn answers 501 to a Transfer-Encoding it does not support (an empty one
        # included). For a mock that is the client's mistake, not the server failing:
        # answer 400, as for any other header it cannot read.
        if isinstance(exc, UnsupportedTransferCoding):
            exc = InvalidHeader("Transfer-Encoding")
        super().handle_error(req, client, addr, exc)

    def handle(self, conn: Any) -> Any:
        if not conn.initialized and not conn.data_ready and not conn.wait_for_data(IDLE_WAIT):
            return gthread._DEFER  # nothing sent yet: wait on the poller, not on a thread
        while True:
            keep = super().handle(conn)
            if not (keep and self.alive and not conn.is_http2 and self._nobody_waiting()):
                return keep
            if not conn.parser.unreader.buf.getvalue() and not _readable(conn.sock, LINGER):
                return keep  # the poller waits for the next request

    def _nobody_waiting(self) -> bool:
        """No other connection is queued for a thread of this worker."""
        work = getattr(self.tpool, "_work_queue", None)  # ThreadPoolExecutor's own queue
        return work is not None and work.empty()


LINGER = 0.002
"""Seconds a thread waits for the next request on the keep-alive connection it served.

gunicorn hands every kept-alive connection back to the worker's main thread, which
waits for it on the poller and submits it to the pool again: a round of thread
hand-offs per request. A client that sends its next request at once (a test suite, a
load generator) has it served on the same thread instead, as long as no other
connection is waiting for a thread. At one connection this took a worker from ~700 to
~900 req/s (bench/README.md)."""


def _readable(sock: socket.socket, timeout: float) -> bool:
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    except (OSError, ValueError):  # closed under us: let the poller path deal with it
        return False


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    workers: int
    threads: int
    timeout: int = 30
    graceful_timeout: int = 5
    keepalive: int = 5
    request_timeout: float = 10.0


MALLOC_ARENAS = 2


def _limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas for the workers about to be forked (they inherit it).

    glibc gives threads that allocate at the same time arenas of their own and keeps each
    arena's peak: with 16 threads per worker, a worker grew by 20-30 MB over a five-minute
    soak and stayed flat with MALLOC_ARENA_MAX=1 (bench/README.md, "Soak"). Most of
    Python's small objects come from its own allocator, taken under the GIL, so threads
    rarely meet in malloc. A MALLOC_ARENA_MAX set by the user wins; on a C library other
    than glibc this does nothing.
    """
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return
    m_arena_max = -8  # from glibc's malloc.h
    mallopt(ctypes.c_int(m_arena_max), ctypes.c_int(MALLOC_ARENAS))


class _GracefulArbiter(Arbiter):  # type: ignore[misc]
    """gunicorn stops at once on SIGINT; a mock in a terminal should finish its requests."""

    def handle_int(self) -> None:
        self.handle_term()


class _Application(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: WsgiApp, options: ServeOptions, announce: Callable[[str], None]):
        self.application = app
        self.options = options
        self.announce = announce
        super().__init__()

    def load_config(self) -> None:
        opts = self.options
        values = {
            "bind": [
                f"[{opts.host}]:{opts.port}" if ":" in opts.host else f"{opts.host}:{opts.port}"
            ],
            "workers": opts.workers,
            "worker_class": "mockserver.serving.MockWorker",
            "threads": opts.threads,
            "timeout": opts.timeout,
            "graceful_timeout": opts.graceful_timeout,
            "keepalive": opts.keepalive,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "mockserver",
            "when_ready": self._ready,
        }
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25.1 opens a control socket under $HOME by default; a mock
            # needs none, and a container user may have no writable home.
            values["control_socket_disable"] = True
        for key, value in values.items():
            self.cfg.set(key, value)

    def _ready(self, server: Any) -> None:
        host, port = server.LISTENERS[0].sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.announce(f"http://{shown}:{port}")

    def load(self) -> WsgiApp:
        _DeadlineSocket.request_timeout = self.options.request_timeout
        return self.application

    def run(self) -> None:
        # Everything compiled at start-up lives as long as the server: moving it out of
        # the collector's generations before the fork keeps the workers' pages shared and
        # their collections short (measured: a stop took 1.3-2 s before, 0.25 s after).
        gc.freeze()
        _limit_malloc_arenas()
        _GracefulArbiter(self).run()


def serve(app: WsgiApp, options: ServeOptions, announce: Callable[[str], None]) -> int:
    """Serve until SIGTERM or SIGINT; `announce` gets the URL once the port is bound."""
    saved = sys.argv
    sys.argv = [saved[0]]  # gunicorn's config reads argv; ours has been parsed already
    try:
        _Application(FaultMiddleware(app), options, announce).run()
    finally:
        sys.argv = saved
    return 0
