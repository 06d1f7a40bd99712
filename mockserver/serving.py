"""Serving: gunicorn's arbiter over uvicorn event-loop workers, faults on the transport.

`serve(app, options, announce)` runs the ASGI app (`gateway.AsgiGateway`) under gunicorn's
arbiter with `MockWorker`s: several processes, each running one uvicorn event loop
(uvloop) that parses HTTP with httptools (llhttp, in C). The app is built once in the
master process, before the workers fork, so every worker starts with everything
compiled. SIGTERM and SIGINT both stop gracefully: requests in flight are finished, then
the process exits 0.

Why this server (bench/README.md, bench/servers.md): on 2 cores, gunicorn's threaded
worker spent ~0.4-0.5 ms of CPU per request on its own (its Python HTTP parser, its
thread pool hand-offs, the GIL passed between 16 threads: a bare Flask view cost 0.58
ms per request under it), more than the mock's engine (~0.12-0.33 ms). Under uvicorn
with httptools a bare ASGI app served ~27,000 req/s on 1.5 cores (~0.06 ms a request).
An API request is CPU-bound and short, so it runs inline on the loop; an `X-Mock-Delay`
waits with `asyncio.sleep`, holding no thread; `/__mock/` admin requests run on a small
thread pool (`--threads`).

`MockProtocol` is uvicorn's httptools protocol with what a mock facing hostile clients
needs and uvicorn does not do:

* a deadline for each request (`--request-timeout`, head and body together, counted
  from the connection or from the request's first byte), so clients that send nothing
  or trickle bytes (slowloris) are closed instead of held forever;
* limits on the request line (414), on each header and on the head (431), set by
  `--max-request-line`, `--max-header` and `--max-head`, so a client cannot grow the
  parser's buffers without end;
* an HTTP/1.1 request without exactly one Host is refused (400), and so is a transfer
  coding other than chunked (501; 400 when chunked is not the last one);
* its refusals as `application/problem+json`, like every other error of the mock;
* one answer sequence for every API request (`_deliver`), inline or through uvicorn's
  cycle (which hands it the exchange through the scope's `gateway.CONNECTION`): no
  answer and no journal entry once the connection is gone, the journal entry handed
  over before a byte is written, the bytes written by `wire` (the one writer, also of
  refusals and internal errors) or the network fault made (`faults.TransportFaults`);
* a client that half-closes after its requests still gets their answers, a stray CRLF
  between requests leaves the keep-alive limit armed, and a request pipelined behind an
  `Upgrade` (which is not taken) is answered;
* inline answers: an API request whose body is sized and within `--max-body`, and that
  nothing else on its connection is ahead of, is answered from the parser's callbacks
  (`InlineApp`, which `gateway.AsgiGateway` is): no ASGI cycle, task, receive or send.
  A bare ASGI app under uvicorn cost ~0.07 ms of CPU a request, a bare httptools
  protocol ~0.01 (bench/README.md); the Huawei POST took 434-441 µs of server CPU per
  request through the cycle and 350-433 inline (3 interleaved runs each, 2 workers, 16
  connections). The bytes written are those uvicorn's cycle writes (`wire`). One
  request per read is taken inline: the rest of a pipelined burst goes through
  uvicorn's cycles, one per turn of the loop, so a pipelining client does not starve
  the others. Delays wait in a task
  of the server's (a graceful stop waits for it); `/__mock/`, chunked bodies,
  `Expect: 100-continue` and requests behind one in progress take uvicorn's way.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import gc
import logging
import multiprocessing
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from multiprocessing.sharedctypes import RawArray
from pathlib import Path
from typing import Any, ClassVar, Protocol

import httptools
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from mockserver import logs, problems, reload, wire
from mockserver.defaults import DEFAULT_MAX_HEAD, DEFAULT_MAX_HEADER, DEFAULT_MAX_REQUEST_LINE
from mockserver.faults import TransportFaults
from mockserver.gateway import CONNECTION, AsgiApp, Exchange, answer_problem, asgi_headers
from mockserver.state.writer import claim_slot

logger = logging.getLogger("mockserver")


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; the refusal is on the protocol."""


def _fault_done(cycle: RequestResponseCycle | _InlineCycle) -> None:
    # The fault closed the connection: uvicorn must neither answer 500 nor log an app
    # that returned without answering.
    cycle.disconnected = True
    cycle.keep_alive = False


class InlineApp(Protocol):
    """An ASGI app that also answers some requests inline (`gateway.AsgiGateway`);
    `path` is the raw path, percent-escapes kept."""

    def answers_inline(self, path: str, headers: dict[str, str]) -> bool: ...

    def answer_inline(
        self, method: str, path: str, query_string: bytes, headers: dict[str, str], body: bytes
    ) -> Exchange: ...

    def journal(self, exchange: Exchange) -> None: ...


class _NoEvent:
    """Stands in for a cycle's `message_event`: nothing waits on an inline request."""

    def set(self) -> None:
        pass


_NO_EVENT = _NoEvent()


class _InlineCycle:
    """A request `MockProtocol` answers inline: what uvicorn's protocol and the answer
    sequence read of a `RequestResponseCycle` (`response_started`, `response_complete`,
    `disconnected`, `keep_alive`, `message_event`, `on_response`), and the request."""

    __slots__ = (
        "body",
        "disconnected",
        "headers",
        "keep_alive",
        "message_event",
        "method",
        "on_response",
        "path",
        "query_string",
        "response_complete",
        "response_started",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query_string: bytes,
        headers: dict[str, str],
        keep_alive: bool,
        on_response: Callable[[], None],
    ) -> None:
        self.method, self.path, self.query_string = method, path, query_string
        self.headers = headers
        self.body = bytearray()
        self.keep_alive = keep_alive
        self.response_started = self.response_complete = False
        self.disconnected = False
        self.message_event = _NO_EVENT
        self.on_response = on_response


class MockProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request deadlines, head limits, problem+json
    refusals, network faults and one answer sequence (see the module's docstring)."""

    request_timeout = 10.0
    MAX_LINE = DEFAULT_MAX_REQUEST_LINE
    """Longest request target, in bytes (`--max-request-line`)."""
    MAX_FIELD = DEFAULT_MAX_HEADER
    """Longest header (name and value), in bytes (`--max-header`; `serve` raises it to
    the longest `maxLength` a loaded spec documents for a header)."""
    MAX_FIELDS = 100
    """Most headers in one request (gunicorn's `limit_request_fields`)."""
    MAX_HEAD = DEFAULT_MAX_HEAD
    """Most bytes of head read before it must be complete (`--max-head`)."""

    _deadline: asyncio.TimerHandle | None = None
    _refusal: problems.MockError | None = None
    on_lost: Callable[[], None] | None = None
    """Called once when the connection is gone (`_SharingServer` counts with it)."""
    _in_head = True
    _head_bytes = 0
    _fields = 0
    _eof = False
    """The client has half-closed: it sends nothing more, but still reads its answers."""
    _inline_turn = False
    """Whether a request may still be answered inline in this read: one per read, so
    that the requests a client pipelines are answered one per turn of the loop, as
    uvicorn's cycles answer them, and other connections get their turns."""

    # -- the request deadline ------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
        on_lost, self.on_lost = self.on_lost, None
        if on_lost is not None:
            on_lost()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    # -- half-close ------------------------------------------------------------------------
    def eof_received(self) -> bool:  # type: ignore[override]
        """The client half-closed (`shutdown(SHUT_WR)`): answer what it has sent, then
        close. uvicorn lets the transport close at once, so a delayed or admin request
        in progress was never answered."""
        self._eof = True
        return not self._idle()  # True keeps the connection open for the answers to come

    def _idle(self) -> bool:
        cycle = self.cycle
        return (cycle is None or cycle.response_complete) and not self.pipeline

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._eof and self._idle() and not self.transport.is_closing():
            self.transport.close()

    # -- parsing, with limits ------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        # uvicorn cancels its keep-alive timer here, for any byte. A stray CRLF between
        # requests (which RFC 9112 says to tolerate) begins no message, so nothing armed
        # a timer again and two bytes held the connection open for ever: the timer is
        # cancelled when a request begins instead (`on_message_begin`).
        if self._in_head:
            self._head_bytes += len(data)
        self._inline_turn = True
        while True:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade as exc:
                # An Upgrade is not taken: the request is served as plain HTTP/1.1, and
                # the parser stopped after it; what followed it in this read is the next
                # request, not upgraded bytes.
                offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
                data = data[offset:]
                if data and not self.transport.is_closing():
                    continue
            except httptools.HttpParserError as exc:
                self._refuse(self._refusal or _not_http(exc))
                return
            break
        if self._in_head and self._head_bytes > self.MAX_HEAD:
            self._refuse(_head_too_large(self.MAX_HEAD))

    def on_message_begin(self) -> None:
        self._unset_keepalive_if_required()
        super().on_message_begin()
        self._arm()
        self._in_head, self._fields = True, 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.MAX_LINE:
            self._refusal = problems.UriTooLong(
                f"The request target is longer than the mock's limit of {self.MAX_LINE} "
                "bytes; send the data in a body instead, or start the mock with a larger "
                "--max-request-line."
            )
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if len(name) + len(value) > self.MAX_FIELD or self._fields > self.MAX_FIELDS:
            self._refusal = _head_too_large(self.MAX_FIELD, self.MAX_FIELDS, name)
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        refusal = _framing_refusal(self.headers, self.parser.get_http_version())
        if refusal is not None:
            self._refusal = refusal
            raise _Refused
        if self._inline_request():
            return
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # this request's own cycle
            extensions = self.scope.setdefault("extensions", {})
            extensions[CONNECTION] = partial(self._answer_later, cycle)  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        cycle: Any = self.cycle  # uvicorn's cycle, or one of ours
        if type(cycle) is _InlineCycle:
            cycle.body += body  # bounded: answers_inline saw a Content-Length within limits
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        cycle: Any = self.cycle
        self._disarm()
        self._in_head, self._head_bytes = True, 0
        if type(cycle) is _InlineCycle:
            self._answer_inline(cycle)
            return
        super().on_message_complete()

    # -- inline answers ------------------------------------------------------------------
    def _inline_request(self) -> bool:
        """Take this request inline (see the module's docstring) when the app can answer
        it so and nothing else is in progress on the connection; else uvicorn's cycle."""
        app: InlineApp | None = getattr(self.app, "answers_inline", None) and self.app
        cycle = self.cycle
        if (
            app is None
            or not self._inline_turn
            or self.flow.write_paused  # a client not reading its answers: uvicorn's cycle waits
            or self.expect_100_continue
            or self.pipeline
            or (cycle is not None and not cycle.response_complete)
            or self.parser.should_upgrade()
        ):
            return False
        parsed = httptools.parse_url(self.url)
        # Raw, percent-escapes kept: the gateway decodes it after the router splits it.
        path = parsed.path.decode("ascii")  # an error is a 400, as uvicorn's
        headers = asgi_headers(self.headers)
        if not app.answers_inline(self.root_path + path, headers):
            return False
        version = self.parser.get_http_version()
        self._inline_turn = False
        self.cycle = _InlineCycle(  # type: ignore[assignment]
            self.parser.get_method().decode("ascii"),
            self.root_path + path,
            parsed.query or b"",
            headers,
            keep_alive=version != "1.0" and self.parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        return True

    def _answer_inline(self, cycle: _InlineCycle) -> None:
        app: InlineApp = self.app
        try:
            exchange = app.answer_inline(
                cycle.method, cycle.path, cycle.query_string, cycle.headers, bytes(cycle.body)
            )
        except Exception:  # the gateway answers its own errors: this is a mock bug
            logger.exception("unexpected error while serving %s %s", cycle.method, cycle.path[:200])
            exchange = _internal_error(Exchange(cycle.method, cycle.path, time.time()))
        if exchange.delay:  # waited on the loop, holding nothing up
            task = self.loop.create_task(self._answer_later(cycle, exchange))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
        else:
            self._deliver(cycle, exchange)

    # -- the one answer sequence, for inline requests and uvicorn's cycles ----------------
    async def _answer_later(
        self, cycle: RequestResponseCycle | _InlineCycle, exchange: Exchange
    ) -> None:
        """`_deliver`, after the exchange's delay and once the client reads again (the
        `CONNECTION` extension of a request that went through uvicorn's cycle)."""
        if exchange.delay:
            await asyncio.sleep(exchange.delay)
        if self.flow.write_paused and not cycle.disconnected:
            await self.flow.drain()
        self._deliver(cycle, exchange)

    def _deliver(self, cycle: RequestResponseCycle | _InlineCycle, exchange: Exchange) -> None:
        """Every API answer's sequence: nothing if the connection is gone (so the journal
        holds only what was answered); the answer's bytes (a header that is not valid
        HTTP makes it a 500); the journal entry, handed over before a byte is written;
        then the bytes, or the exchange's network fault; then what uvicorn does when a
        response is complete (keep-alive, the next pipelined request)."""
        if cycle.disconnected or self.transport.is_closing():
            cycle.disconnected = True
            return
        default_headers = self.server_state.default_headers
        try:
            data, keep_alive = wire.answer_bytes(exchange, default_headers, cycle.keep_alive)
        except (ValueError, UnicodeEncodeError) as exc:
            logger.error("could not answer %s %s: %s", exchange.method, exchange.path[:200], exc)
            exchange = _internal_error(exchange)
            data, keep_alive = wire.answer_bytes(exchange, default_headers, False)
        app: InlineApp = self.app
        app.journal(exchange)
        if exchange.fault is not None:
            faults = TransportFaults(self.transport, lambda: _fault_done(cycle))
            faults.make(exchange.fault, exchange, default_headers)
            cycle.response_started = cycle.response_complete = True
            return
        self.transport.write(data)
        cycle.keep_alive = keep_alive
        cycle.response_started = cycle.response_complete = True
        cycle.message_event.set()
        if not keep_alive:
            self.transport.close()
        cycle.on_response()

    def _refuse(self, error: problems.MockError) -> None:
        """Answer a request that cannot be read with its problem, then close."""
        self._refusal = None
        if self.transport.is_closing():
            return
        refusal = answer_problem(Exchange("GET", "", time.time()), error)
        data, _ = wire.answer_bytes(refusal, self.server_state.default_headers, False)
        self.transport.write(data)
        self.transport.close()


def _internal_error(exchange: Exchange) -> Exchange:
    """The exchange answered 500 problem+json instead (the request is kept, for the
    journal), on a connection that then closes."""
    answer_problem(
        exchange,
        problems.InternalError(
            "The mock failed unexpectedly; this is a mock bug, please report it with the "
            "request that caused it."
        ),
    )
    exchange.error = "internal-error"
    exchange.headers.append(("Connection", "close"))
    return exchange


def _framing_refusal(headers: list[tuple[bytes, bytes]], version: str) -> problems.MockError | None:
    """What is wrong with a request's Host or Transfer-Encoding, that the parser let by:
    an HTTP/1.1 request needs exactly one Host (RFC 9112 §3.2); a transfer coding other
    than chunked is not decoded (RFC 9112 §6.1: 501)."""
    hosts = 0
    codings: list[bytes] = []
    for name, value in headers:
        if name == b"host":
            hosts += 1
        elif name == b"transfer-encoding":
            codings += [t.strip().lower() for t in value.split(b",") if t.strip()]
    if hosts > 1 or (hosts == 0 and version != "1.0"):
        return problems.BadHttpRequest(
            f"An HTTP/1.1 request carries exactly one Host header; this one has {hosts}."
        )
    others = [c.decode("latin-1") for c in codings[:-1]]
    if codings and codings[-1] != b"chunked":
        return problems.BadHttpRequest(
            "A request's Transfer-Encoding must end with chunked (RFC 9112 §6.3); this "
            f"one is {b', '.join(codings).decode('latin-1')!r}."
        )
    if others:
        return problems.CodingNotImplemented(
            f"The mock does not decode the transfer coding {', '.join(others)!s}; send the "
            "body with Content-Length, or with Transfer-Encoding: chunked alone."
        )
    return None


def _not_http(exc: Exception) -> problems.MockError:
    reason = str(exc) or type(exc).__name__
    return problems.BadHttpRequest(
        f"The request is not valid HTTP/1.1 ({reason}); the mock could not read it."
    )


def _head_too_large(limit: int, fields: int | None = None, name: bytes = b"") -> problems.MockError:
    if fields is None:
        detail = (
            f"The request's head is larger than the mock's limit of {limit} bytes (--max-head)."
        )
    else:
        shown = name[:100].decode("latin-1")
        detail = (
            f"A header ({shown!r}) is longer than the mock's limit of {limit} bytes "
            f"(--max-header), or there are more than {fields} headers; send the data in a "
            "body instead."
        )
    return problems.HeadersTooLarge(detail)


class ConnectionShares:
    """How many connections each worker process holds, in memory the workers share.

    All workers accept from one listening socket, and whichever wakes first takes what
    is waiting: wrk's 16 connections, opened at once, often all went to one of two
    workers, which then served every request on one core while the other idled
    (bench/README.md: half the throughput, and twice the latency). With these counts a
    worker stops accepting while it holds `SLACK` or more connections than its least
    loaded sibling; the least loaded one always accepts, so nothing waits for long.

    A worker that stops running (stopped by SIGSTOP or a debugger, or stuck in a long
    call) would hold the others to its count plus the slack while the connections it
    cannot take wait in the listen queue. So each worker also publishes when it last
    looked at the shares (`beats`, the system's monotonic clock, which all processes
    share); a sibling silent for `STALE` seconds no longer counts.
    """

    SLOTS = 64
    SLACK = 2
    STALE = 1.0
    """Seconds without a beat after which a sibling no longer limits the others (a
    running worker beats at every turn of its loop and every 0.1 s tick)."""

    def __init__(self) -> None:
        self.pids = RawArray(ctypes.c_long, self.SLOTS)
        self.counts = RawArray(ctypes.c_int, self.SLOTS)
        self.leaving = RawArray(ctypes.c_byte, self.SLOTS)
        self.beats = RawArray(ctypes.c_double, self.SLOTS)
        self.lock = multiprocessing.Lock()

    def claim(self, pid: int) -> int | None:
        """A slot for this process: its own, a free one, or one a dead process left."""
        return claim_slot(self.lock, self.pids, pid, self._reset)

    def _reset(self, slot: int) -> None:
        self.counts[slot], self.leaving[slot], self.beats[slot] = 0, 0, 0.0

    def leave(self, slot: int) -> None:
        """This worker is stopping: its connections no longer hold the others back (a
        worker draining its last connections after a reload would otherwise keep the
        new ones at `SLACK`). No lock: a signal handler calls it."""
        self.leaving[slot] = 1

    def release(self, slot: int, pid: int) -> None:
        with self.lock:
            if self.pids[slot] == pid:  # not a slot another process has taken since
                self.pids[slot], self.counts[slot], self.leaving[slot] = 0, 0, 0

    def _siblings(self, slot: int, now: float | None = None) -> list[int]:
        """The other workers that hold a slot, are not stopping and (with `now`) have
        beaten within `STALE` seconds, or not yet at all (one that is starting)."""
        return [
            i
            for i in range(self.SLOTS)
            if i != slot
            and self.pids[i]
            and not self.leaving[i]
            and (now is None or not self.beats[i] or now - self.beats[i] < self.STALE)
        ]

    def present(self, exclude: int) -> int:
        """How many other workers hold a slot and are not stopping."""
        return len(self._siblings(exclude))

    def limit(
        self,
        slot: int,
        held: int,
        most: int,
        missing_count: bool = False,
        now: float | None = None,
    ) -> int:
        """Publish `held` (and a beat); return how many connections this worker may hold
        now. `missing_count`: a sibling that has not started yet counts as holding none."""
        now = time.monotonic() if now is None else now
        self.counts[slot], self.beats[slot] = held, now
        others = [self.counts[i] for i in self._siblings(slot, now)]
        if missing_count:
            others.append(0)
        return most if not others else min(most, min(others) + self.SLACK)


class _SharingServer(Server):
    """uvicorn's server, accepting connections itself, and only while this worker holds
    fewer than its share (`ConnectionShares`).

    uvicorn's own listener (the event loop's `create_server`) accepts every connection
    waiting whenever it wakes, so connections opened at once all land in one worker.
    """

    RECHECK = 0.005
    """Seconds between looks at the shares while this worker is at its share."""

    BURST = 128
    """Most connections taken in one turn of the loop."""

    BACKOFF = 0.5
    """Seconds before accepting again after an accept failed (EMFILE, ENOBUFS, ...)."""

    STARTING = 2.0
    """Seconds after its start during which a worker expects the siblings gunicorn forks
    after it (0-0.1 s apart): until they are all up, it takes at most `SLACK` more
    connections than none, so the first worker does not take every connection."""

    def __init__(self, config: Config, shares: ConnectionShares | None, workers: int) -> None:
        super().__init__(config=config)
        self.shares = shares
        self.workers = workers
        self.slot: int | None = None
        self._listeners: list[Any] = []
        self._watching = False
        self._open = 0
        """Connections accepted and not yet gone."""
        self._started = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=[])  # uvicorn's state, without a listener of its own
        self._loop = asyncio.get_running_loop()
        self._listeners = list(sockets or [])
        for sock in self._listeners:
            sock.setblocking(False)
        self._watch()

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        self._unwatch()
        self._listeners = []
        await super().shutdown(sockets=sockets)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.shares is not None and self.slot is not None:
            self.shares.leave(self.slot)
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, without raising the captured SIGTERM again once the server has
        stopped: re-raised with its default handler, it killed the worker there, before
        `MockWorker._serve` released its connection share and before the `atexit`
        handlers flushed the journal's last batch and the access log. The worker exits
        normally instead (gunicorn's `sys.exit(0)` after the worker's run)."""
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()

    async def on_tick(self, counter: int) -> bool:
        self._may_accept()  # publishes this worker's count, closed connections included
        return bool(await super().on_tick(counter))

    def _watch(self) -> None:
        if self._watching or self._loop is None:
            return
        for sock in self._listeners:
            self._loop.add_reader(sock.fileno(), self._accept, sock)
        self._watching = True

    def _unwatch(self) -> None:
        if self._watching and self._loop is not None:
            for sock in self._listeners:
                self._loop.remove_reader(sock.fileno())
        self._watching = False

    def _may_accept(self) -> bool:
        if self.shares is None or self.slot is None:
            return True
        held = self._open
        missing = (
            time.monotonic() - self._started < self.STARTING
            and self.shares.present(exclude=self.slot) < self.workers - 1
        )
        return held < self.shares.limit(self.slot, held, _UNLIMITED, missing)

    def _recheck(self) -> None:
        if not self._listeners:
            return
        if self._may_accept():
            self._watch()
        else:
            self._loop.call_later(self.RECHECK, self._recheck)  # type: ignore[union-attr]

    def _accept(self, listener: Any) -> None:
        """Take the connections waiting, up to this worker's share. All of them in one go:
        a worker busy with requests gets here once per turn of its loop (tens of ms at 64
        connections), and one connection per turn left the last of a burst waiting ~0.5 s."""
        loop = self._loop
        assert loop is not None
        for _ in range(self.BURST):
            if not self._may_accept():
                self._unwatch()
                loop.call_later(self.RECHECK, self._recheck)
                return
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # none left, or a sibling took it
            except OSError as exc:  # out of file descriptors, say: the connection stays queued
                logger.warning("accept failed: %s; trying again in %.1f s", exc, self.BACKOFF)
                self._unwatch()  # else the listener, still readable, would spin the loop
                loop.call_later(self.BACKOFF, self._recheck)
                return
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._open += 1
            if self.shares is not None and self.slot is not None:
                self.shares.counts[self.slot] = self._open
            task = loop.create_task(loop.connect_accepted_socket(self._protocol, sock))
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            self._gone()  # no protocol took the socket, so none will report it gone
            if not task.cancelled():
                logger.warning("could not set up a connection: %s", task.exception())

    def _gone(self) -> None:
        self._open -= 1

    def _protocol(self) -> asyncio.Protocol:
        """What uvicorn's own listener would make for a connection, reporting its end."""
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
            _loop=self._loop,
        )
        if isinstance(protocol, MockProtocol):
            protocol.on_lost = self._gone
        return protocol


_UNLIMITED = 1 << 30


class MockWorker(UvicornWorker):  # type: ignore[misc]
    """A uvicorn worker (uvloop, httptools) speaking through `MockProtocol`, that takes
    its share of connections and no more (`ConnectionShares`, `_SharingServer`)."""

    shares: ClassVar[ConnectionShares | None] = None

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "uvloop",
        "http": MockProtocol,
        "interface": "asgi3",
        "lifespan": "off",
        "ws": "none",
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
    }

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        # gunicorn's arbiter calls this in the master, when the worker class has one.
        if cls.shares is None:  # in the master, before any worker is forked
            cls.shares = ConnectionShares()

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = _SharingServer(self.config, self.shares, self.cfg.workers)
        if self.shares is not None:
            server.slot = self.shares.claim(os.getpid())
        self._install_sigquit_handler()
        try:
            await server.serve(sockets=self.sockets)
        finally:
            if self.shares is not None and server.slot is not None:
                self.shares.release(server.slot, os.getpid())
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    workers: int
    threads: int
    """Threads per worker for `/__mock/` admin requests (API requests run on the loop)."""
    timeout: int = 30
    graceful_timeout: int = 5
    keepalive: int = 5
    request_timeout: float = 10.0
    max_header: int | None = None
    """Longest header (name and value), in bytes; None: `MockProtocol.MAX_FIELD`."""
    max_request_line: int = MockProtocol.MAX_LINE
    max_head: int = MockProtocol.MAX_HEAD
    log_format: str = "text"
    """`json`: gunicorn's own lines are JSON too (`JsonLogger`)."""


class ListenError(OSError):
    """The address cannot be listened on (a port in use, an address not of this host)."""


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here rather than by gunicorn: gunicorn retries a taken
    port five times, a second apart, logging two lines each time; a mock started by a
    test or a script should say so at once, in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is already in use (is another server running there?)"
        raise ListenError(exc.errno, f"cannot listen on {shown}: {reason}") from None


class JsonLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, its error log written as JSON lines (`--log-format json`)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(logs.JsonFormatter())


MALLOC_ARENAS = 2


def _limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas for the workers about to be forked (they inherit it).

    glibc gives threads that allocate at the same time arenas of their own and keeps each
    arena's peak: with 16 threads per worker, a worker grew by 20-30 MB over a five-minute
    soak and stayed flat with MALLOC_ARENA_MAX=1 (bench/README.md, "Soak"). The workers
    now run requests on one thread, but the journal writer, the access log and the admin
    pool are threads too. A MALLOC_ARENA_MAX set by the user wins; on a C library other
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
    """gunicorn stops at once on SIGINT; a mock in a terminal should finish its requests.

    On SIGHUP the new version is built first (`_Application.rebuilt`); only then does
    gunicorn's reload start new workers on it and stop the old ones gracefully."""

    def handle_int(self) -> None:
        self.handle_term()

    def handle_hup(self) -> None:
        if self.app.rebuilt():
            super().handle_hup()


Rebuild = Callable[[], AsgiApp]
"""Builds the app anew from the files it came from; raises when they cannot be served."""


class _Application(BaseApplication):  # type: ignore[misc]
    def __init__(
        self,
        app: AsgiApp,
        options: ServeOptions,
        announce: Callable[[str], None],
        rebuild: Rebuild | None = None,
        watch: list[Path] | None = None,
    ):
        self.application = app
        self.options = options
        self.announce = announce
        self.rebuild = rebuild
        self.watch = watch
        # gunicorn takes the socket over by its number (and closes it when it stops).
        self.listener = listen(options.host, options.port).detach()
        super().__init__()

    def rebuilt(self) -> bool:
        """Build the app anew for the workers about to be started; False (and one log
        line) when the new files cannot be served, so the old workers keep serving."""
        if self.rebuild is None:
            return True
        try:
            self.application = self.rebuild()
        except Exception as exc:  # a spec, fixture or scenario the user is still editing
            message = " ".join(str(exc).split()) or type(exc).__name__
            logger.error("mockserver: reload refused, the old version keeps serving: %s", message)
            return False
        return True

    def load_config(self) -> None:
        opts = self.options
        values = {
            "bind": [f"fd://{self.listener}"],
            "workers": opts.workers,
            "worker_class": "mockserver.serving.MockWorker",
            "timeout": opts.timeout,
            "graceful_timeout": opts.graceful_timeout,
            "keepalive": opts.keepalive,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "mockserver",
            "when_ready": self._ready,
        }
        if opts.log_format == "json":
            values["logger_class"] = JsonLogger
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
        if self.watch:
            reload.Watcher(self.watch, reload.ask_for_reload).start()

    def load(self) -> AsgiApp:
        opts = self.options
        MockProtocol.request_timeout = opts.request_timeout
        MockProtocol.MAX_LINE, MockProtocol.MAX_HEAD = opts.max_request_line, opts.max_head
        if opts.max_header is not None:
            MockProtocol.MAX_FIELD = opts.max_header
        return self.application

    def run(self) -> None:
        # Everything compiled at start-up lives as long as the server: moving it out of
        # the collector's generations before the fork keeps the workers' pages shared and
        # their collections short (measured: a stop took 1.3-2 s before, 0.25 s after).
        gc.freeze()
        _limit_malloc_arenas()
        _GracefulArbiter(self).run()


def serve(
    app: AsgiApp,
    options: ServeOptions,
    announce: Callable[[str], None],
    rebuild: Rebuild | None = None,
    watch: list[Path] | None = None,
) -> int:
    """Serve until SIGTERM or SIGINT; `announce` gets the URL once the port is bound.
    SIGHUP (and a change in the `watch` files) serves what `rebuild` builds. Raises
    `ListenError` when the address cannot be listened on."""
    saved = sys.argv
    sys.argv = [saved[0]]  # gunicorn's config reads argv; ours has been parsed already
    try:
        _Application(app, options, announce, rebuild, watch).run()
    finally:
        sys.argv = saved
    return 0
