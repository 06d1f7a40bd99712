"""Soak: mockserver under sustained saturating load, window by window.

The requirement (issue on hostile input): under sustained load -- several minutes at
the benchmark's load -- no errors beyond those injected, latency flat, memory flat, the
journal bounded. Run on purpose (never part of pytest), from the project root:

    .venv/bin/python bench/soak.py                          # 300 s in 20 s windows
    .venv/bin/python bench/soak.py --duration 40 --window 10
    .venv/bin/python bench/soak.py --url http://127.0.0.1:4010 --journal-size 10000

What it does, on 127.0.0.1 only:

* starts `mockserver serve specs` (all four bundled specs) on a free port with the
  default workers and `--journal-size 2000`, so the bound is reached within seconds,
  and polls GET /__mock/health until it answers 200 (at most 60 s); `--url` soaks a
  server that is already running (its processes found by its listening socket);
* drives it for `--duration` seconds over `--connections` (16, the bench's load)
  keep-alive connections, each sending its next request as soon as the previous answer
  is read, through a fixed shuffled rotation of request kinds (`--mix`, per 100):

      huawei   40  POST /V1.0/{project}/events, valid 3-event body (times recent, in ms)
      socotra  25  GET /event/{tenant}/events/list, generated data
      harness  20  POST /iacm/api/modules/{id}/events, invalid body: the documented 400
      forced   13  the Huawei POST with X-Mock-Status: 500 or 503 (forced 5xx)
      fault     2  the Socotra GET with X-Mock-Fault: reset, empty, malformed, truncated

  every request differs from the others (tenant, module id and resource ids carry its
  number), so a cache keyed by request that never forgets would show as growth;
* every `--window` seconds records: req/s; p50/p90/p99/max latency of the answered
  (not faulted) requests; answers by kind and status; injected faults by what the
  socket showed; unexpected outcomes; the VmRSS of every server process (the gunicorn
  master's process tree, from /proc); the journal's length (GET /__mock/requests, or
  with `--journal-probe sqlite` a read-only COUNT(*) on the server's state file); the
  size of the SQLite state files (database, WAL, shm); the CPU used by the server, by
  this script and by everything else on the machine; the load average;
* prints a table and the verdicts, writes bench/soak.md and bench/soak.json (`--out`),
  and exits 1 if a verdict fails.

Why the load is generated here and not by wrk: "no errors beyond those injected" needs
each outcome matched to the request that caused it. wrk's Lua `response()` is not told
which request or connection an answer belongs to, and a socket error -- the only way an
X-Mock-Fault shows -- never reaches Lua at all: wrk adds it to one summary counter, so
an injected reset and an unexpected reset are the same number, blurred further by the
requests in flight when a run stops. Here each connection is an asyncio protocol in one
thread, closed loop like wrk (one request outstanding per connection, the next sent as
soon as the answer is read, no think time), so the server sees the same 16 requests
always queued; every answer is checked against what its own request expects (status,
media type, Huawei's one item per event sent) and every socket failure against the
fault its request asked for (reset: ECONNRESET or EOF; empty: EOF before any byte;
malformed: bytes that are not HTTP; truncated: a head and a short body). Anything else
is unexpected, counted by reason, the first examples kept. The price is client CPU:
about 0.15 ms per request where wrk spends 0.04 ms. Measured on the 2-core VM, bench
scenario a alone on one server, 16 connections, 10 s runs alternated, machine shared
(load 7-11): wrk 821 and 900 req/s, this client 921 and 899 req/s using 0.14-0.16
cores. "client CPU" in the table shows it for every window.

Journal listings and memory: a listing used to leave its peak in the worker that served
it (bench/README.md, "Soak", has the measurements; listings are streamed since), so
listings are repeated every second during warm-up, to put any first step before the
first judged window; `--journal-probe sqlite` reads the length without a listing, to
tell the load's own memory from the listings'.

Verdicts (judged windows: those that start at or after `--warmup`, default one window):

* errors: no unexpected outcome in any window (warm-up included), every injected
  fault seen as the fault asked for, and nothing on the server's stderr after it was
  ready (where it logs a lost journal batch, a worker timeout, a traceback);
* workers: the same server processes from the first window to the last (a worker that
  died and was replaced is a crash or a timeout kill);
* latency flat: the median over windows of p50, and of p99, in the last third of the
  judged windows is at most 1.5x that of the first third. 1.5x, not tighter, because
  the machine is shared and the spread from run to run on it is +-30% (bench/README.md);
  a structure that grows and is searched per request shows as a trend well above that;
* memory flat: every server process's VmRSS grows by at most 10 MB and at most 10%
  from the first judged window to the last (a worker is ~80 MB: 8 MB). After warm-up
  every cache is warm and the journal full, so a bounded server stops growing; 1 KB
  kept per request would be ~90 MB per worker over 5 minutes at this load;
* journal bounded: its length never above `--journal-size` (and at it once full), and
  the SQLite state files grow by at most 10 MB over the judged windows.

Other work on the machine shows as "other CPU"; a latency verdict that fails while
others used more CPU in the last third than in the first says so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import http.client
import json
import math
import os
import random
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (
    free_port,
    huawei_events,
    machine,
    proc_stat,
    status_kb,
    stop_group,
    system_busy_ticks,
    tree,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SPECS = ROOT / "specs"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024

HUAWEI_PATH = "/V1.0/0605767d1bd5a8ef2f31c00b8a0b1ab3/events"
HARNESS_KEY = "bench-key-0001"
INVALID_MODULE_EVENT = b'{"account":7,"org":"acme"}'  # eventType, project missing
DEFAULT_MIX = "huawei=40,socotra=25,harness=20,forced=13,fault=2"
FORCED_STATUSES = (500, 503)
FAULTS = ("reset", "empty", "malformed", "truncated")
FAULT_SHAPES = {
    "reset": {"reset", "eof-empty"},
    "empty": {"eof-empty"},
    "malformed": {"not-http"},
    "truncated": {"short-body"},
}
"""What the client may see for each injected fault; anything else is unexpected."""

REQUEST_TIMEOUT = 5.0  # s, as the bench's `wrk --timeout 5s`
HEALTH_LIMIT = 60.0  # s to wait for /__mock/health after start
LATENCY_LIMIT = 1.5  # last third / first third, p50 and p99
MEMORY_LIMIT_MB = 10.0
MEMORY_LIMIT_SHARE = 0.10
STATE_LIMIT_MB = 10.0
MAX_EXAMPLES = 20


# -- requests ---------------------------------------------------------------------------------
MARK = "@N@"


@functools.lru_cache(maxsize=2)
def huawei_template(second: int) -> str:
    """The Huawei body of this second, `MARK` where the request's number goes."""
    # bench/run.py's scenario (a), with resource ids numbered by the request
    body = huawei_events(second * 1000, resource=f"soak-{MARK}")
    return json.dumps(body, separators=(",", ":"))


@dataclass(frozen=True)
class Planned:
    """One request and what its answer must be."""

    kind: str
    raw: bytes
    status: int | None = None  # None: a fault, no answer expected
    media_type: str = ""
    items: int | None = None  # a JSON array answer of this many items
    fault: str | None = None


def http_bytes(
    method: str, path: str, host: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def tenant(n: int) -> str:
    return f"7f3c2a9e-1b4d-4c8e-9a2f-{n % 16**12:012x}"


def plan(kind: str, n: int, host: str) -> Planned:
    """The n-th request of the soak, of the given kind."""
    json_type = {"Content-Type": "application/json"}
    if kind in ("huawei", "forced"):
        body = huawei_template(int(time.time())).replace(MARK, str(n))
        if kind == "huawei":
            raw = http_bytes("POST", HUAWEI_PATH, host, json_type, body.encode())
            return Planned(kind, raw, 201, "application/json", items=3)
        status = FORCED_STATUSES[n % len(FORCED_STATUSES)]
        headers = {**json_type, "X-Mock-Status": str(status)}
        return Planned(kind, http_bytes("POST", HUAWEI_PATH, host, headers, body.encode()), status)
    if kind == "socotra":
        raw = http_bytes("GET", f"/event/{tenant(n)}/events/list", host, {})
        return Planned(kind, raw, 200, "application/json")
    if kind == "harness":
        headers = {**json_type, "x-api-key": HARNESS_KEY}
        path = f"/iacm/api/modules/mod-{n}/events"
        raw = http_bytes("POST", path, host, headers, INVALID_MODULE_EVENT)
        return Planned(kind, raw, 400, "application/vnd.goa.error")
    if kind == "fault":
        fault = FAULTS[n % len(FAULTS)]
        raw = http_bytes("GET", f"/event/{tenant(n)}/events/list", host, {"X-Mock-Fault": fault})
        return Planned(kind, raw, fault=fault)
    raise ValueError(f"unknown request kind {kind!r}")


def parse_mix(text: str) -> dict[str, int]:
    mix: dict[str, int] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in ("huawei", "socotra", "harness", "forced", "fault"):
            raise ValueError(f"unknown kind {name!r}")
        mix[name.strip()] = int(weight)
    if sum(mix.values()) <= 0 or min(mix.values()) < 0:
        raise ValueError("weights must be >= 0 and not all 0")
    return mix


def rotation(mix: dict[str, int], seed: int = 4010) -> list[str]:
    """The kinds in a fixed shuffled order; each connection starts at its own place."""
    kinds = [kind for kind, weight in mix.items() for _ in range(weight)]
    random.Random(seed).shuffle(kinds)
    return kinds


# -- HTTP/1.1 over an asyncio protocol ----------------------------------------------------------
class NotHttp(Exception):
    """The server sent bytes that are not an HTTP response (or one this client cannot read)."""


class ShortBody(Exception):
    """The connection closed before the whole body arrived."""

    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}, body cut short")
        self.status = status


class EarlyEof(Exception):
    """The connection closed before a whole response head arrived."""

    def __init__(self, received: int) -> None:
        super().__init__(f"closed after {received} bytes of head")
        self.received = received


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})[ \r]")


def parse_headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep:
            headers[key.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers


def dechunk(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked body from `start`: (body, end of the answer); None while more is due."""
    body = bytearray()
    at = start
    while True:
        line_end = buf.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buf[at:line_end]).split(b";", 1)[0], 16)
        except ValueError:
            raise NotHttp("a chunk size that is not hexadecimal") from None
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", line_end)
            if buf[line_end : line_end + 4] == b"\r\n\r\n":
                return bytes(body), line_end + 4
            return None if trailer_end < 0 else (bytes(body), trailer_end + 4)
        data_start = line_end + 2
        if len(buf) < data_start + size + 2:
            return None
        body += buf[data_start : data_start + size]
        at = data_start + size + 2


def parse_answer(buf: bytearray, closed: bool) -> Answer | None:
    """The first whole answer in `buf` (taken out of it); None while more bytes are due."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if closed:
            raise EarlyEof(len(buf))
        if len(buf) > 65536:
            raise NotHttp("a head over 64 KiB")
        return None
    match = STATUS_LINE.match(buf)
    if not match:
        raise NotHttp(bytes(buf[:60]).decode("latin-1"))
    status, headers, start = int(match.group(1)), parse_headers(bytes(buf[:end])), end + 4
    if "transfer-encoding" in headers:
        if headers["transfer-encoding"].lower() != "chunked":
            raise NotHttp(f"Transfer-Encoding {headers['transfer-encoding']} (not read here)")
        chunked = dechunk(buf, start)  # journal listings are streamed
        if chunked is None:
            if closed:
                raise ShortBody(status)
            return None
        body, stop = chunked
        del buf[:stop]
        return Answer(status, headers, body)
    if "content-length" in headers:
        stop = start + int(headers["content-length"])
    elif closed:
        stop = len(buf)  # no length: the body runs until the server closes
    else:
        return None
    if len(buf) < stop:
        if closed:
            raise ShortBody(status)
        return None
    answer = Answer(status, headers, bytes(buf[start:stop]))
    del buf[:stop]
    return answer


class Connection(asyncio.Protocol):
    """One keep-alive client connection: one request at a time, then its answer or failure.

    A protocol, not asyncio streams: about half the client CPU per request."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.closed = False
        self.lost: BaseException | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.wake()

    def eof_received(self) -> bool:
        self.closed = True
        self.wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed, self.lost = True, exc
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if isinstance(self.lost, OSError):
            waiter.set_exception(self.lost)
            return
        try:
            answer = parse_answer(self.buf, self.closed)
        except (NotHttp, ShortBody, EarlyEof) as exc:
            waiter.set_exception(exc)
            return
        if answer is not None:
            waiter.set_result(answer)

    async def exchange(self, raw: bytes, timeout: float) -> Answer:
        assert self.transport is not None
        if self.closed:
            raise EarlyEof(0)
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.transport.write(raw)
        timer = loop.call_later(timeout, self.expire)
        try:
            return await self.waiter
        finally:
            timer.cancel()

    def expire(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TimeoutError())
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(port: int) -> Connection:
    _, conn = await asyncio.get_running_loop().create_connection(Connection, HOST, port)
    return conn


def shape_of(exc: BaseException) -> str:
    """A socket-level failure, named by what the client saw."""
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, EarlyEof):
        return "eof-empty" if not exc.received else "eof-in-head"
    if isinstance(exc, NotHttp):
        return "not-http"
    if isinstance(exc, ShortBody):
        return "short-body"
    if isinstance(exc, TimeoutError):
        return f"timeout after {REQUEST_TIMEOUT:g} s"
    return f"{type(exc).__name__}: {exc}"


FAILURES = (OSError, NotHttp, ShortBody, EarlyEof, TimeoutError)


def judge(p: Planned, answer: Answer | None, failure: str | None) -> str | None:
    """None if the outcome is what the request asked for, else why not."""
    if p.fault is not None:
        if answer is not None:
            return f"fault {p.fault} not injected: answered {answer.status}"
        return None if failure in FAULT_SHAPES[p.fault] else f"fault {p.fault}: saw {failure}"
    if answer is None:
        return f"socket: {failure}"
    if answer.status != p.status:
        return f"status {answer.status} (expected {p.status})"
    media = answer.headers.get("content-type", "").split(";")[0].strip()
    if p.media_type and media != p.media_type:
        return f"media type {media!r} (expected {p.media_type})"
    if p.items is not None:
        try:
            items = len(json.loads(answer.body))
        except (ValueError, TypeError):
            return "body is not a JSON array"
        if items != p.items:
            return f"{items} items answered for {p.items} events"
    return None


# -- the load ---------------------------------------------------------------------------------
@dataclass
class WindowStats:
    """What the load saw during one window; swapped out whole at the window's end."""

    latencies_ms: list[float] = field(default_factory=list)
    answered: Counter[str] = field(default_factory=Counter)  # "kind status"
    injected: Counter[str] = field(default_factory=Counter)  # "fault shape"
    unexpected: Counter[str] = field(default_factory=Counter)  # "kind: reason"
    requests: int = 0


class Load:
    """`connections` closed-loop keep-alive connections through the rotation of kinds."""

    def __init__(self, port: int, connections: int, kinds: list[str]) -> None:
        self.port = port
        self.host = f"{HOST}:{port}"
        self.connections = connections
        self.kinds = kinds
        self.stats = WindowStats()
        self.window_index = 0
        self.sequence = 0
        self.examples: list[dict[str, Any]] = []
        self.stopping = asyncio.Event()

    def take(self) -> WindowStats:
        done, self.stats = self.stats, WindowStats()
        self.window_index += 1
        return done

    async def run(self) -> None:
        await asyncio.gather(*(self.connection(i) for i in range(self.connections)))

    async def connection(self, index: int) -> None:
        step = index * max(1, len(self.kinds) // self.connections)
        conn: Connection | None = None
        while not self.stopping.is_set():
            if conn is None:
                try:
                    conn = await connect(self.port)
                except OSError as exc:
                    self.note(Planned("connect", b""), None, f"connect: {exc}")
                    await asyncio.sleep(0.1)
                    continue
            kind = self.kinds[step % len(self.kinds)]
            step += 1
            self.sequence += 1
            if not await self.one(plan(kind, self.sequence, self.host), conn):
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    async def one(self, p: Planned, conn: Connection) -> bool:
        """Send one request, judge its outcome; False if the connection is finished."""
        answer: Answer | None = None
        failure: str | None = None
        started = time.perf_counter()
        try:
            answer = await conn.exchange(p.raw, REQUEST_TIMEOUT)
        except FAILURES as exc:
            failure = shape_of(exc)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.note(p, answer, failure, elapsed_ms)
        return answer is not None and answer.headers.get("connection", "").lower() != "close"

    def note(
        self, p: Planned, answer: Answer | None, failure: str | None, elapsed_ms: float = 0.0
    ) -> None:
        stats = self.stats
        if p.kind != "connect":
            stats.requests += 1
        problem = judge(p, answer, failure) if p.kind != "connect" else failure
        if problem is not None:
            stats.unexpected[f"{p.kind}: {problem}"] += 1
            self.example(p, answer, problem)
        elif p.fault is not None:
            stats.injected[f"{p.fault} {failure}"] += 1
        if answer is not None:
            stats.answered[f"{p.kind} {answer.status}"] += 1
            if p.fault is None:
                stats.latencies_ms.append(elapsed_ms)

    def example(self, p: Planned, answer: Answer | None, problem: str) -> None:
        if len(self.examples) >= MAX_EXAMPLES:
            return
        self.examples.append(
            {
                "window": self.window_index + 1,
                "at": dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3],
                "kind": p.kind,
                "problem": problem,
                "request": p.raw[:300].decode("utf-8", "replace"),
                "answer": None
                if answer is None
                else f"{answer.status} {answer.headers.get('content-type', '')} "
                + answer.body[:300].decode("utf-8", "replace"),
            }
        )


# -- the server's processes ---------------------------------------------------------------------
def listening_root(port: int) -> int | None:
    """The top process of those holding the listening socket on 127.0.0.1:port."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        ip_hex, port_hex = parts[1].split(":")
        if parts[3] == "0A" and int(port_hex, 16) == port and ip_hex in ("0100007F", "00000000"):
            inodes.add(f"socket:[{parts[9]}]")
    holders = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            fds = Path(f"/proc/{entry}/fd")
            if any(os.readlink(fd) in inodes for fd in fds.iterdir()):
                holders.append(int(entry))
    tops = [pid for pid in holders if (st := proc_stat(pid)) is not None and st[0] not in holders]
    return tops[0] if len(tops) == 1 else None


def state_files(root: int) -> list[Path]:
    """The shared SQLite state (database, -wal, -shm) the server has open."""
    found = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{root}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if re.search(r"\.sqlite(-wal|-shm)?$", target):
                    found.add(Path(target))
    return sorted(found)


def file_mb(paths: list[Path]) -> float | None:
    sizes = [p.stat().st_size for p in paths if p.exists()]
    return round(sum(sizes) / MB, 2) if sizes else None


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class ProcSnapshot:
    rss_mb: dict[int, float]  # pid -> MB, root first
    server_ticks: int
    busy_ticks: int
    own_cpu_s: float
    state_mb: float | None


def snapshot(root: int | None, state: list[Path]) -> ProcSnapshot:
    pids = tree(root) if root is not None else []
    return ProcSnapshot(
        rss_mb={pid: round(status_kb(pid, "VmRSS") / 1024, 1) for pid in pids},
        server_ticks=sum(st[1] for pid in pids if (st := proc_stat(pid)) is not None),
        busy_ticks=system_busy_ticks(),
        own_cpu_s=own_cpu_s(),
        state_mb=file_mb(state),
    )


# -- the journal --------------------------------------------------------------------------------
async def journal_state(port: int) -> dict[str, Any]:
    """Length of the journal and age of its oldest entry, from GET /__mock/requests."""
    try:
        conn = await connect(port)
    except OSError as exc:
        return {"error": f"connect: {exc}"}
    try:
        raw = http_bytes("GET", "/__mock/requests", f"{HOST}:{port}", {})
        answer = await conn.exchange(raw, 30)
    except FAILURES as exc:
        return {"error": shape_of(exc)}
    finally:
        conn.close()
    if answer.status != 200:
        return {"error": f"status {answer.status}"}
    entries = json.loads(answer.body)["requests"]
    oldest = entries[0].get("at") if entries else None
    return {
        "length": len(entries),
        "oldest_age_s": round(time.time() - oldest, 1) if oldest else None,
        "listing_kb": round(len(answer.body) / 1024),
    }


def journal_from_file(paths: list[Path]) -> dict[str, Any]:
    """Length of the journal and age of its oldest entry, read-only from the SQLite file:
    what the server has, without a listing's cost in a worker."""
    db = next((p for p in paths if p.suffix == ".sqlite"), None)
    if db is None:
        return {"error": "state file not found"}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
            length, oldest = c.execute("SELECT COUNT(*), MIN(at) FROM journal").fetchone()
    except sqlite3.Error as exc:
        return {"error": f"sqlite: {exc}"}
    return {"length": length, "oldest_age_s": round(time.time() - oldest, 1) if oldest else None}


# -- the server we start ------------------------------------------------------------------------
class Server:
    """`mockserver serve specs/` in its own session; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, args: argparse.Namespace, port: int, log: Path) -> None:
        self.cmd = [
            sys.executable,
            "-m",
            "mockserver",
            "serve",
            str(SPECS.relative_to(ROOT)),
            "--host",
            HOST,
            "--port",
            str(port),
            "--journal-size",
            str(args.journal_size),
        ]
        if args.workers is not None:
            self.cmd += ["--workers", str(args.workers)]
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_at = 0

    def start(self) -> float:
        """Start and wait for a 200 from /__mock/health; seconds it took."""
        started = time.monotonic()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the access log: one line per request
                stderr=log,
                start_new_session=True,
            )
        while time.monotonic() - started < HEALTH_LIMIT:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}: {self.log_tail()}")
            if health(self.port):
                self.ready_at = self.log.stat().st_size
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"no 200 from /__mock/health in {HEALTH_LIMIT:g} s: {self.log_tail()}")

    def log_tail(self, chars: int = 1500) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:].strip()
        return ""

    def logged_since_ready(self) -> list[str]:
        """What the server wrote to stderr after it was ready (warnings and errors)."""
        with contextlib.suppress(OSError), self.log.open("rb") as log:
            log.seek(self.ready_at)
            return log.read().decode(errors="replace").splitlines()
        return []

    def stop(self) -> int | None:
        return None if self.proc is None else stop_group(self.proc, grace=15)


def health(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/__mock/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


# -- windows ------------------------------------------------------------------------------------
def percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def window_record(
    index: int,
    span: tuple[float, float],
    stats: WindowStats,
    before: ProcSnapshot,
    after: ProcSnapshot,
    journal: dict[str, Any],
    warmup: float,
) -> dict[str, Any]:
    start, end = span
    secs = max(end - start, 1e-9)
    lat = sorted(stats.latencies_ms)
    server_ticks = after.server_ticks - before.server_ticks
    own_ticks = (after.own_cpu_s - before.own_cpu_s) * CLK_TCK
    other_ticks = max(0.0, after.busy_ticks - before.busy_ticks - server_ticks - own_ticks)
    root = next(iter(after.rss_mb), None)
    workers = {pid: mb for pid, mb in after.rss_mb.items() if pid != root}
    return {
        "index": index,
        "start_s": round(start, 1),
        "end_s": round(end, 1),
        "warmup": start < warmup,
        "requests": stats.requests,
        "rps": round(stats.requests / secs, 1),
        **{
            f"{name}_ms": None if (v := percentile(lat, q)) is None else round(v, 2)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        },
        "answered": dict(sorted(stats.answered.items())),
        "injected": sum(stats.injected.values()),
        "injected_by_shape": dict(sorted(stats.injected.items())),
        "unexpected": sum(stats.unexpected.values()),
        "unexpected_by_reason": dict(stats.unexpected.most_common()),
        "rss_mb": {str(pid): mb for pid, mb in after.rss_mb.items()},
        "master_rss_mb": after.rss_mb.get(root) if root is not None else None,
        "max_worker_rss_mb": max(workers.values()) if workers else None,
        "worker_pids": sorted(workers),
        "journal_length": journal.get("length"),
        "journal_oldest_age_s": journal.get("oldest_age_s"),
        "journal_error": journal.get("error"),
        "journal_listing_kb": journal.get("listing_kb"),
        "state_files_mb": after.state_mb,
        "server_cpu": round(server_ticks / CLK_TCK / secs, 2),
        "client_cpu": round(own_ticks / CLK_TCK / secs, 2),
        "other_cpu": round(other_ticks / CLK_TCK / secs, 2),
        "load1": float(loadavg().split()[0]),
    }


async def prime_listing(port: int, until: float) -> int:
    """List the journal every second until `until` (monotonic clock).

    A listing of a full journal leaves its peak in the worker that served it (measured
    on an idle server: +20 MB at 2,000 entries, then flat over 30 more). Listing often
    in warm-up gets every worker there before the first judged window; what later
    listings add under load (another thread's peak) is then what the verdict sees."""
    done = 0
    while time.monotonic() < until:
        await journal_state(port)
        done += 1
        await asyncio.sleep(1.0)
    return done


async def soak(
    args: argparse.Namespace, port: int, root: int | None, load: Load
) -> tuple[list[dict[str, Any]], int]:
    """Drive the load for the duration: one record per window, listings in warm-up."""
    state = state_files(root) if root is not None else []
    runner = asyncio.create_task(load.run())
    t0 = time.monotonic()
    listing = args.journal_probe == "http"
    primer = asyncio.create_task(prime_listing(port, t0 + args.warmup - 1.0 if listing else 0))
    before = snapshot(root, state)
    windows: list[dict[str, Any]] = []
    ends = [min(args.duration, args.window * (i + 1)) for i in range(args.windows)]
    for index, end in enumerate(ends, 1):
        await asyncio.sleep(max(0.0, t0 + end - time.monotonic()))
        if index == len(ends):
            load.stopping.set()
        stats = load.take()
        after = await asyncio.to_thread(snapshot, root, state)
        journal = await journal_state(port) if listing else journal_from_file(state)
        start = ends[index - 2] if index > 1 else 0.0
        rec = window_record(index, (start, end), stats, before, after, journal, args.warmup)
        windows.append(rec)
        print(table_row(rec), flush=True)
        before = after
    await asyncio.wait_for(runner, REQUEST_TIMEOUT + 5)
    return windows, await primer


# -- verdicts -----------------------------------------------------------------------------------
@dataclass
class Verdict:
    name: str
    ok: bool | None  # None: could not be measured
    detail: str

    def line(self) -> str:
        mark = "n/a" if self.ok is None else ("PASS" if self.ok else "FAIL")
        return f"{self.name}: {mark} -- {self.detail}"


def errors_verdict(windows: list[dict[str, Any]], stderr: list[str] | None) -> Verdict:
    total = sum(w["unexpected"] for w in windows)
    injected = sum(w["injected"] for w in windows)
    detail = f"{total} unexpected outcomes, {injected} faults injected and seen as injected"
    if total:
        bad = [
            f"window {w['index']}: {w['unexpected_by_reason']}" for w in windows if w["unexpected"]
        ]
        detail += "; " + "; ".join(bad[:6])
    if stderr is None:
        detail += "; server stderr not seen (--url)"
    else:
        detail += f"; server stderr during the run: {len(stderr)} lines"
        detail += f", first: {stderr[0][:200]!r}" if stderr else ""
    return Verdict("errors beyond injected = 0", total == 0 and not stderr, detail)


def workers_verdict(windows: list[dict[str, Any]]) -> Verdict:
    sets = [tuple(w["worker_pids"]) for w in windows]
    if not any(sets):
        return Verdict("same server processes throughout", None, "server processes not found")
    changed = [w["index"] for w, s in zip(windows[1:], sets[1:], strict=True) if s != sets[0]]
    detail = f"workers {list(sets[0])}" + (
        f"; changed in windows {changed}: {[list(s) for s in dict.fromkeys(sets)]}"
        if changed
        else ""
    )
    return Verdict("same server processes throughout", not changed, detail)


def steady(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [w for w in windows if not w["warmup"] and w["requests"]]


def thirds(windows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    k = max(1, len(windows) // 3)
    return windows[:k], windows[-k:]


def latency_verdict(windows: list[dict[str, Any]]) -> Verdict:
    name = f"latency flat (last third <= {LATENCY_LIMIT:g}x first third, p50 and p99)"
    post = steady(windows)
    if len(post) < 3:
        return Verdict(name, None, f"{len(post)} post-warm-up windows, 3 needed")
    first, last = thirds(post)
    parts, ok = [], True
    for key in ("p50_ms", "p99_ms"):
        a = statistics.median(w[key] for w in first)
        b = statistics.median(w[key] for w in last)
        ratio = b / a if a else float("inf")
        ok &= ratio <= LATENCY_LIMIT
        parts.append(f"{key[:3]} {a:.1f} -> {b:.1f} ms ({ratio:.2f}x)")
    other_a = statistics.median(w["other_cpu"] for w in first)
    other_b = statistics.median(w["other_cpu"] for w in last)
    parts.append(
        f"windows {first[0]['index']}-{first[-1]['index']} vs "
        f"{last[0]['index']}-{last[-1]['index']}; other CPU {other_a:.2f} vs {other_b:.2f} cores"
    )
    if not ok and other_b > other_a + 0.25:
        parts.append("others used more CPU in the last third: read as confounded, rerun")
    return Verdict(name, ok, "; ".join(parts))


def memory_verdict(windows: list[dict[str, Any]]) -> Verdict:
    name = (
        f"memory flat (each server process grows <= {MEMORY_LIMIT_MB:g} MB and "
        f"<= {MEMORY_LIMIT_SHARE:.0%} after warm-up)"
    )
    post = steady(windows)
    if len(post) < 2 or not post[0]["rss_mb"]:
        return Verdict(name, None, "fewer than 2 post-warm-up windows with server memory")
    base, last = post[0], post[-1]
    parts, ok = [], True
    for pid, mb0 in base["rss_mb"].items():
        mb1 = last["rss_mb"].get(pid)
        if mb1 is None:
            ok = False
            parts.append(f"pid {pid} gone")
            continue
        growth = mb1 - mb0
        ok &= growth <= MEMORY_LIMIT_MB and growth <= MEMORY_LIMIT_SHARE * mb0
        role = "master" if pid == next(iter(base["rss_mb"])) else "worker"
        parts.append(f"{role} {pid} {mb0:.1f} -> {mb1:.1f} MB ({growth:+.1f})")
    slope = rss_slope(post)
    parts.append(
        f"windows {base['index']} -> {last['index']}; largest worker trend {slope:+.2f} MB/min"
    )
    return Verdict(name, ok, "; ".join(parts))


def rss_slope(windows: list[dict[str, Any]]) -> float:
    """Least-squares slope of the largest worker's RSS, MB per minute."""
    pts = [(w["end_s"] / 60, w["max_worker_rss_mb"]) for w in windows if w["max_worker_rss_mb"]]
    if len(pts) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in pts)
    my = statistics.fmean(y for _, y in pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else 0.0


def journal_verdict(windows: list[dict[str, Any]], bound: int) -> Verdict:
    name = f"journal bounded (length <= {bound}; state files grow <= {STATE_LIMIT_MB:g} MB)"
    lengths = [w["journal_length"] for w in windows if w["journal_length"] is not None]
    if not lengths:
        errors = {w["journal_error"] for w in windows}
        return Verdict(name, None, f"journal not readable: {errors}")
    ok = max(lengths) <= bound
    parts = [f"length min {min(lengths)}, max {max(lengths)}"]
    if max(lengths) < bound:
        parts.append("the bound was never reached: trimming not exercised")
    ages = [w["journal_oldest_age_s"] for w in steady(windows) if w["journal_oldest_age_s"]]
    if ages:
        parts.append(f"oldest entry {min(ages):.1f}-{max(ages):.1f} s old")
    post = [w for w in steady(windows) if w["state_files_mb"] is not None]
    if len(post) >= 2:
        growth = post[-1]["state_files_mb"] - post[0]["state_files_mb"]
        ok &= growth <= STATE_LIMIT_MB
        parts.append(
            f"state files {post[0]['state_files_mb']:.1f} -> {post[-1]['state_files_mb']:.1f} MB"
        )
    if max(lengths) == 10_000 and bound > 10_000:
        parts.append("the listing stops at 10,000 entries: the length cannot be seen above it")
    return Verdict(name, ok, "; ".join(parts))


# -- output -------------------------------------------------------------------------------------
HEADER = (
    "| win | s | req/s | p50 ms | p99 ms | max ms | unexp | injected | master MB | "
    "workers MB | journal | state MB | server CPU | client CPU | other CPU | load1 |"
)


def fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def table_row(w: dict[str, Any]) -> str:
    workers = "/".join(f"{mb:.1f}" for pid, mb in list(w["rss_mb"].items())[1:]) or "-"
    return (
        f"| {w['index']}{'w' if w['warmup'] else ''} | {w['start_s']:.0f}-{w['end_s']:.0f} | "
        f"{w['rps']:,.0f} | {fmt(w['p50_ms'], '.1f')} | {fmt(w['p99_ms'], '.1f')} | "
        f"{fmt(w['max_ms'], '.0f')} | {w['unexpected']} | {w['injected']} | "
        f"{fmt(w['master_rss_mb'], '.1f')} | {workers} | {fmt(w['journal_length'])} | "
        f"{fmt(w['state_files_mb'], '.1f')} | {w['server_cpu']:.2f} | {w['client_cpu']:.2f} | "
        f"{w['other_cpu']:.2f} | {w['load1']:.2f} |"
    )


def code_version() -> dict[str, Any]:
    """The commit and the files of mockserver/ and specs/ changed since (read-only git)."""

    def git(*argv: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                ["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10
            )
            return done.stdout
        return ""

    status = git("status", "--porcelain", "--", "mockserver", "specs").splitlines()
    changed = [line[3:] for line in status if line.strip()]  # "XY path"
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "changed": changed}


def write_markdown(result: dict[str, Any]) -> str:
    m, s = result["machine"], result["settings"]
    totals = result["totals"]
    lines = [
        "# Soak: mockserver under sustained load",
        "",
        f"Measured {result['when']} by "
        f"`{' '.join(['.venv/bin/python bench/soak.py', *result['argv']])}`; "
        f"{result['elapsed_s']:.0f} s in all.",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
        f"Python {m['python']}; shared with other work. Load average (1/5/15 min) at start "
        f"{result['loadavg_start']}, at end {result['loadavg_end']}.",
        "",
        f"Code: commit {result['code']['commit'] or '?'}"
        + (
            ", with uncommitted changes in " + ", ".join(result["code"]["changed"])
            if result["code"]["changed"]
            else ", no uncommitted changes in mockserver/ or specs/"
        )
        + ".",
        "",
        f"Server: `{s['server']}`"
        + (f" (ready after {result['startup_s']:.1f} s)" if result.get("startup_s") else "")
        + f"; {s['workers_seen']} worker processes.",
        "",
        f"Load: {s['connections']} keep-alive connections, closed loop (next request as "
        f"soon as the answer is read), {s['duration']:g} s in {s['window']:g} s windows, the "
        f"first {s['warmup']:g} s counted as warm-up (w). Mix per 100 requests: "
        f"{s['mix']}. Generated in this script with asyncio (see its docstring for why "
        "not wrk).",
        "",
        journal_note(result),
        "",
        "## Windows",
        "",
        HEADER,
        "|" + "---|" * (HEADER.count("|") - 1),
        *[table_row(w) for w in result["windows"]],
        "",
        "Latency over the answered (not faulted) requests of the window, measured in the "
        "client. unexp: outcomes not what the request asked for; injected: X-Mock-Fault "
        "requests whose socket showed the fault asked for. workers MB: VmRSS of each "
        "worker; journal: its length at the window's end (read as said above); "
        "state MB: the SQLite state files (database, WAL, shm). CPU in cores; other CPU is "
        "what processes other than the server and this script used.",
        "",
        "## Verdicts",
        "",
        *[f"- {v}" for v in result["verdict_lines"]],
        "",
        f"**{'PASS' if result['passed'] else 'FAIL'}**",
        "",
        "## Totals",
        "",
        f"- requests: {totals['requests']:,}; answered by kind and status: "
        + ", ".join(f"{k}: {v:,}" for k, v in totals["answered"].items()),
        "- injected faults by what the client saw: "
        + (", ".join(f"{k}: {v:,}" for k, v in totals["injected_by_shape"].items()) or "none"),
        "- unexpected: "
        + (", ".join(f"{k}: {v:,}" for k, v in totals["unexpected_by_reason"].items()) or "none"),
        "",
    ]
    if result["examples"]:
        lines += ["## First unexpected outcomes", ""]
        lines += [
            f"- window {e['window']} at {e['at']} UTC, {e['kind']}: {e['problem']}; "
            f"answer: `{(e['answer'] or '-')[:200]}`"
            for e in result["examples"]
        ]
        lines.append("")
    if result.get("server_log"):
        lines += ["## Server stderr (tail)", "", "```", result["server_log"], "```", ""]
    if result.get("server_exit") not in (None, 0):
        lines += [f"The server exited with {result['server_exit']} when stopped.", ""]
    return "\n".join(lines)


def journal_note(result: dict[str, Any]) -> str:
    s = result["settings"]
    if s["journal_probe"] == "sqlite":
        return (
            "Journal length read at each window's end with `SELECT COUNT(*)` on the server's "
            "SQLite state file (read-only): no listing is served during the run."
        )
    return (
        "Journal length read at each window's end with GET /__mock/requests (the whole "
        f"journal, up to {s['journal_size']:,} entries), and every second during warm-up "
        f"({result.get('warmup_listings', 0)} listings) so that every worker has served one "
        "before the first judged window."
    )


def totals(windows: list[dict[str, Any]]) -> dict[str, Any]:
    def add(key: str) -> dict[str, int]:
        total: Counter[str] = Counter()
        for w in windows:
            total.update(w[key])
        return dict(sorted(total.items()))

    return {
        "requests": sum(w["requests"] for w in windows),
        "answered": add("answered"),
        "injected_by_shape": add("injected_by_shape"),
        "unexpected_by_reason": add("unexpected_by_reason"),
    }


# -- main ---------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of load")
    parser.add_argument("--window", type=float, default=20, help="seconds per window")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds not judged (default: one window)"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--journal-size", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=None, help="default: the server's")
    parser.add_argument("--port", type=int, default=None, help="default: a free one")
    parser.add_argument("--url", default=None, help="soak this running server instead")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"per kind (default {DEFAULT_MIX})")
    parser.add_argument(
        "--journal-probe",
        choices=("http", "sqlite"),
        default="http",
        help="read the journal's length with GET /__mock/requests at each window's end "
        "(default), or read-only from the server's SQLite file (no listing's cost)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "soak", help="writes OUT.md/.json")
    args = parser.parse_args(argv)
    if not (0 < args.window <= args.duration <= 24 * 3600) or not 0 < args.connections <= 1000:
        parser.error("need 0 < window <= duration <= 1 day and 1..1000 connections")
    try:
        args.kinds = rotation(parse_mix(args.mix))
    except ValueError as exc:
        parser.error(f"--mix: {exc}")
    args.warmup = args.window if args.warmup is None else args.warmup
    args.windows = math.ceil(args.duration / args.window)
    if args.url:
        parts = urlsplit(args.url)
        if parts.hostname != HOST or parts.port is None:
            parser.error(f"--url must be http://{HOST}:PORT")
        args.port = parts.port
    return args


def judge_all(windows: list[dict[str, Any]], bound: int, stderr: list[str] | None) -> list[Verdict]:
    return [
        errors_verdict(windows, stderr),
        workers_verdict(windows),
        latency_verdict(windows),
        memory_verdict(windows),
        journal_verdict(windows, bound),
    ]


def run(args: argparse.Namespace, result: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    server: Server | None = None
    port = args.port or free_port()
    if args.url:
        if not health(port):
            sys.exit(f"soak: no 200 from {args.url}/__mock/health")
        root = listening_root(port)
        result["settings"]["server"] = f"already running at {args.url} (pid {root})"
    else:
        server = Server(args, port, workdir / "server.log")
        result["settings"]["server"] = " ".join(
            ["mockserver", *server.cmd[server.cmd.index("serve") :]]
        )
        print(f"starting: {result['settings']['server']}", flush=True)
        result["startup_s"] = round(server.start(), 2)
        root = server.proc.pid if server.proc else None
    try:
        print(f"server ready on {HOST}:{port} (root pid {root}); load {loadavg()}", flush=True)
        print(HEADER, flush=True)
        load = Load(port, args.connections, args.kinds)
        windows, result["warmup_listings"] = asyncio.run(soak(args, port, root, load))
        result["examples"] = load.examples
        return windows
    finally:
        if server is not None:
            result["server_stderr"] = server.logged_since_ready()
            result["server_exit"] = server.stop()
            result["server_log"] = server.log_tail(2000)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": machine(),
        "code": code_version(),
        "loadavg_start": loadavg(),
        "settings": {
            "duration": args.duration,
            "window": args.window,
            "warmup": args.warmup,
            "connections": args.connections,
            "journal_size": args.journal_size,
            "mix": args.mix,
            "journal_probe": args.journal_probe,
            "request_timeout_s": REQUEST_TIMEOUT,
        },
    }
    print(f"machine: {result['machine']}\nload average at start: {result['loadavg_start']}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mocksoak-") as tmp:
        windows = run(args, result, Path(tmp))
    verdicts = judge_all(windows, args.journal_size, result.get("server_stderr"))
    result["settings"]["workers_seen"] = len(windows[0]["worker_pids"]) if windows else 0
    result.update(
        windows=windows,
        totals=totals(windows),
        verdicts=[{"name": v.name, "ok": v.ok, "detail": v.detail} for v in verdicts],
        verdict_lines=[v.line() for v in verdicts],
        passed=all(v.ok is True for v in verdicts),  # a check that could not be made fails
        loadavg_end=loadavg(),
        elapsed_s=round(time.monotonic() - started, 1),
    )
    print("\nVerdicts:\n" + "\n".join(f"  {line}" for line in result["verdict_lines"]))
    print(f"=> {'PASS' if result['passed'] else 'FAIL'}; load average at end {loadavg()}")
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(write_markdown(result))
    print(f"wrote {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
