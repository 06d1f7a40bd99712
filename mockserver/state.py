"""State shared by every worker process: scenarios, call counters, journal, coverage.

`mockserver serve` may run several worker processes; a scenario's `times`, `sequence`
and seeded `probability` must count calls across all of them. The state lives in one
SQLite file (WAL mode) created before the workers start; each process opens its own
connection after the fork, each write is one short transaction, and counters are
incremented with a single atomic `UPDATE ... RETURNING`.

Measured here (2 cores, 5,000 calls): an increment costs about 20 us and reading the
scenarios about 5 us. Alone, small next to the rest of a request; but under the threaded
server, 16 threads queued on the connection's lock to read scenarios on every request,
so a change counter in shared memory now says when a process's compiled scenarios are
stale.

Journal entries are not written on the request path. Each process hands them to a writer
thread of its own, which writes whatever has queued up in one transaction: with a
transaction per request, 16 threads and several workers queued on SQLite's write lock
(1.2-1.4 ms per write on average under 16 connections, the slowest 150 ms; bench/README.md).
Every write takes an flock on the state file first (`StateStore._writing`), so processes
wait for each other's writes in the kernel, not in SQLite's sleeping busy handler.
A `Ledger` in shared memory counts, per process, the entries handed over and the entries
written; every read of the journal or coverage first waits until each live process has
written what it had been handed when the read began, so a request that has been answered
is always in the journal, whichever worker answered it.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import ctypes
import json
import logging
import marshal
import multiprocessing
import os
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.sharedctypes import RawArray, RawValue
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own locking only
    fcntl = None  # type: ignore[assignment]

DEFAULT_SESSION = "default"

log = logging.getLogger("mockserver")

SETTLE_TIMEOUT = 5.0
"""Longest a journal read waits for other processes' writers (a stuck one is skipped)."""

_BATCH = 512
"""Most entries one journal transaction takes."""

_QUEUE_SIZE = 2_000
"""Entries a process may have waiting for its writer before a request thread waits too."""

WRITE_LINGER = 0.005
"""Seconds the writer lets entries gather after the first one of a batch.

A transaction per request cost the writer ~100-150 µs of CPU each (BEGIN, the inserts,
the bound's DELETE, COMMIT), paid again at every request when requests come one at a
time. Waiting a few milliseconds turns them into one batch. A journal read waits for
the writer anyway (`Ledger.settle`), so it sees the entry at most this much later."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    session TEXT NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (session, key)
);
CREATE TABLE IF NOT EXISTS scenarios (
    session TEXT PRIMARY KEY, document TEXT NOT NULL, version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL, at REAL NOT NULL,
    api TEXT, operation_id TEXT, method TEXT NOT NULL, path TEXT NOT NULL,
    status INTEGER NOT NULL, entry BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_by_time ON journal (session, at, id);
CREATE TABLE IF NOT EXISTS coverage (
    session TEXT NOT NULL, api TEXT NOT NULL, operation_id TEXT NOT NULL,
    kind TEXT NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (session, api, operation_id, kind, key)
);
"""

Entry = tuple[str, dict[str, Any], int, list[tuple[str, str, str, str]]]
"""(session, journal row, journal limit, coverage keys): one request to write."""


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_slot(lock: Any, pids: Any, pid: int, reset: Callable[[int], None]) -> int | None:
    """Under `lock`, the first slot of the shared `pids` that is `pid`'s already, free,
    or left by a dead process: `reset(slot)` clears what goes with it, then the slot is
    `pid`'s. None when every slot is taken. (The journal's `Ledger` and the workers'
    `serving.ConnectionShares` keep their per-process counts this way.)"""
    with lock:
        for slot in range(len(pids)):
            owner = pids[slot]
            if owner == pid or owner == 0 or not process_alive(owner):
                reset(slot)
                pids[slot] = pid
                return slot
    return None


class Ledger:
    """Per process, journal entries handed to its writer and entries written.

    Shared memory made before the workers fork; each process claims a slot the first time
    it records. A slot has one writer per counter (handed: request threads under the
    process's lock; written: its writer thread), so plain 64-bit stores suffice.
    """

    SLOTS = 128

    def __init__(self) -> None:
        self._claim = multiprocessing.Lock()
        self.pids = RawArray(ctypes.c_int64, self.SLOTS)
        self.handed = RawArray(ctypes.c_int64, self.SLOTS)
        self.written = RawArray(ctypes.c_int64, self.SLOTS)

    def claim(self, pid: int) -> int | None:
        """A slot for `pid` (a dead process's slot is reused); None when all are taken."""
        return claim_slot(self._claim, self.pids, pid, self._reset)

    def _reset(self, slot: int) -> None:
        self.handed[slot] = self.written[slot] = 0

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until every live process has written what it had been handed by now."""
        owed = [
            (slot, self.pids[slot], self.handed[slot])
            for slot in range(self.SLOTS)
            if self.pids[slot] and self.written[slot] < self.handed[slot]
        ]
        deadline = time.monotonic() + timeout
        for slot, pid, handed in owed:
            pause = 0.0002
            while self.written[slot] < handed and self.pids[slot] == pid:
                if time.monotonic() > deadline or not process_alive(pid):
                    log.warning("journal: process %d has not written its last entries", pid)
                    break
                time.sleep(pause)  # another process's thread: nothing to wait on but time
                pause = min(pause * 2, 0.01)


class _Writer:
    """One process's journal writer: entries wait in a deque, and a thread of this process
    writes what has gathered in one transaction.

    A deque under the writer's own lock, not a `queue.Queue`: handing an entry over is
    on every request's path, and `Queue.put` cost ~2 µs where an append under a lock
    costs ~0.6; the thread takes a whole batch at once, where `get_nowait` cost ~1.7 µs
    an entry. The writer is woken only when it sleeps; past `_QUEUE_SIZE` entries
    waiting, a request waits for room (backpressure, not lost entries).
    """

    def __init__(self, store: StateStore, ledger: Ledger, slot: int) -> None:
        self.store, self.ledger, self.slot = store, ledger, slot
        self.pending: collections.deque[Entry] = collections.deque()
        self.lock = threading.Lock()  # the deque, the ledger's `handed` and the flags
        self.arrived = threading.Condition(self.lock)
        self.room = threading.Condition(self.lock)
        self.asleep = False
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="mockserver-journal", daemon=True)
        self.thread.start()

    def hand(self, entry: Entry) -> None:
        with self.lock:  # the count and the deque stay in the same order
            while len(self.pending) >= _QUEUE_SIZE and self.thread.is_alive():
                self.room.wait(0.1)
            self.pending.append(entry)
            self.ledger.handed[self.slot] += 1
            if self.asleep:
                self.asleep = False
                self.arrived.notify()

    def stop(self) -> None:
        """Write what is waiting, then end the thread (a second call does nothing)."""
        if self.thread.is_alive():
            with self.lock:
                self.stopping = True
                self.arrived.notify()
            self.thread.join()

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self.pending and not self.stopping:
                    self.asleep = True
                    self.arrived.wait()
                self.asleep = False
                if not self.pending:  # stopping, and everything is written
                    return
                lone = len(self.pending) == 1 and not self.stopping
            if lone:
                time.sleep(WRITE_LINGER)  # let the next requests' entries join this batch
            with self.lock:
                batch = [self.pending.popleft() for _ in range(min(len(self.pending), _BATCH))]
                self.room.notify_all()
            try:
                self.store.write(batch)
            except Exception:  # a lost batch must not stop the journal or hang its readers
                log.exception("journal: could not write %d entries", len(batch))
            self.ledger.written[self.slot] += len(batch)
            self.store.announce(batch)


_INSERT_ROWS = (
    "INSERT INTO journal (session, at, api, operation_id, method, path, status, entry) VALUES "
)
_ROW_PLACEHOLDERS = "(?, ?, ?, ?, ?, ?, ?, ?)"
_CHUNK_SIZES = (256, 128, 64, 32, 16, 8, 4, 2, 1)
"""Rows per INSERT: powers of two, so a batch takes at most one statement per bit of its
size (13 rows: 8 + 4 + 1) and sqlite3's statement cache keeps a few statements (256 rows
x 8 values stays under SQLite's limit of 32,766 parameters)."""
_UPSERT_COVERAGE = "INSERT INTO coverage (session, api, operation_id, kind, key, count) VALUES "
_COVERAGE_PLACEHOLDERS = "(?, ?, ?, ?, ?, ?)"
_ON_COVERAGE_CONFLICT = (
    " ON CONFLICT (session, api, operation_id, kind, key) DO UPDATE SET count = count + "
    "excluded.count"
)


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    """(start, size) pieces of `total` rows, largest sizes first."""
    start = 0
    for size in _CHUNK_SIZES:
        while total - start >= size:
            yield start, size
            start += size


def _insert_many(
    conn: sqlite3.Connection,
    head: str,
    placeholders: str,
    rows: Sequence[tuple[Any, ...]],
    tail: str = "",
) -> None:
    """`head` VALUES `rows` `tail`, by multi-row statements of `_CHUNK_SIZES` rows."""
    for start, size in _chunks(len(rows)):
        conn.execute(
            head + ", ".join([placeholders] * size) + tail,
            [value for row in rows[start : start + size] for value in row],
        )


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back if anything fails."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _pack(row: dict[str, Any]) -> bytes:
    """A journal entry as stored: `marshal`, not JSON.

    Entries are written at every request and read only when a test asks: encoding a
    Huawei entry (1.8 KB) as JSON took ~40 µs of the writer's time, `marshal` ~7 µs
    (the JSON encoding was ~9% of a worker's CPU at 16 connections). The file is this
    run's own (temporary, 0600) and read by the same Python that wrote it, which is all
    marshal asks. A value marshal refuses (a subclass of a built-in type) goes through
    JSON first, as it would have been stored before.
    """
    try:
        return marshal.dumps(row)
    except ValueError:
        return marshal.dumps(json.loads(json.dumps(row)))


def _unpack(blob: bytes) -> dict[str, Any]:
    entry: dict[str, Any] = marshal.loads(blob)
    return entry


JOURNAL_FILTERS = {
    "api": "api = ?",
    "operationId": "operation_id = ?",
    "method": "method = ?",
    "path": "path = ?",
    "status": "status = ?",
    "since": "at >= ?",
}
"""Journal filters: query parameter -> SQL condition on an indexed or small column."""


class StateStore:
    """A handle on the shared state; safe to use from threads and forked processes."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            handle, name = tempfile.mkstemp(prefix="mockserver-state-", suffix=".sqlite")
            os.close(handle)
            path = Path(name)
            self._owned = True
        else:
            self._owned = False
        self.path = path
        self._lock = threading.Lock()
        self._pid = -1
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        # The journal writes on a connection of their own, so that a batch being written
        # never holds up a request thread's read of scenarios or counters (WAL: readers
        # don't wait for a writer). Measured: 190 us per request spent waiting on one lock.
        self._journal_lock = threading.Lock()
        self._journal_pid = -1
        self._journal_conn: sqlite3.Connection | None = None
        self._journal_lock_fd: int | None = None
        self._ledger = Ledger()
        self._changes = RawValue(ctypes.c_int64, 0)
        self._changes_lock = multiprocessing.Lock()
        self._writer: _Writer | None = None
        self._writer_pid = -1
        self.after_write: Callable[[list[dict[str, Any]]], None] | None = None
        """Called with the journal rows of each batch once written, on the writer's
        thread (the access log: its lines then cost the request nothing). If it has a
        `close` method, that is called once the writer has stopped."""
        with self._connection() as conn:
            conn.executescript(_SCHEMA)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        return conn

    def _connection(self) -> sqlite3.Connection:
        """This process's connection (a forked child opens its own); under `_lock`."""
        if self._conn is None or self._pid != os.getpid():
            self._conn, self._pid = self._open(), os.getpid()
            self._lock_fd = self._open_lock_file(self._lock_fd)
        return self._conn

    def _journal_connection(self) -> sqlite3.Connection:
        """This process's connection for journal writes; under `_journal_lock`."""
        if self._journal_conn is None or self._journal_pid != os.getpid():
            self._journal_conn, self._journal_pid = self._open(), os.getpid()
            self._journal_lock_fd = self._open_lock_file(self._journal_lock_fd)
        return self._journal_conn

    def _open_lock_file(self, inherited: int | None) -> int:
        """The write lock's file, kept open as long as the connection it goes with. An fd
        a forked process inherited shares its parent's lock: this process needs its own
        (closing the copy leaves the parent's lock alone)."""
        if inherited is not None:
            os.close(inherited)
        return os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)

    @staticmethod
    @contextlib.contextmanager
    def _writing(lock_fd: int | None) -> Iterator[None]:
        """Hold the state's write lock (an flock, one per connection) around a write.

        SQLite lets one connection write at a time and makes the others retry with
        sleeps of up to 100 ms (its busy handler): a journal batch of one worker waited
        up to 0.4 s on another's, its queue filled, and requests stalled for a second
        (bench/README.md). Waiting on an flock instead wakes the moment the lock is
        free, and the kernel lets it go if its process dies."""
        if fcntl is None or lock_fd is None:
            yield
            return
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)

    # -- counters --------------------------------------------------------------------
    def increment(self, session: str, key: str) -> int:
        """Add one call to `key` and return the new count (1 for the first call)."""
        with self._lock:
            conn = self._connection()
            with self._writing(self._lock_fd):
                row = conn.execute(
                    "INSERT INTO counters (session, key, count) VALUES (?, ?, 1) "
                    "ON CONFLICT (session, key) DO UPDATE SET count = count + 1 RETURNING count",
                    (session, key),
                ).fetchone()
        return int(row[0])

    def reset_counters(self, session: str) -> None:
        with self._lock:
            conn = self._connection()
            with self._writing(self._lock_fd):
                conn.execute("DELETE FROM counters WHERE session = ?", (session,))

    # -- scenarios -------------------------------------------------------------------------
    def scenarios_changes(self) -> int:
        """How many times any session's scenarios have been replaced, by any process: a
        read of shared memory, no lock, so a request can ask whether its cache is stale
        without a SQLite query (16 threads queued on that query's lock: bench/README.md)."""
        return int(self._changes.value)

    def scenarios(self, session: str) -> tuple[int, Any]:
        """(version, document) of a session's scenarios; (0, None) when it has none."""
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT version, document FROM scenarios WHERE session = ?", (session,))
                .fetchone()
            )
        return (0, None) if row is None else (int(row[0]), json.loads(row[1]))

    def set_scenarios(self, session: str, document: Any) -> None:
        """Replace a session's scenarios and restart its counters."""
        with self._lock:
            conn = self._connection()
            with self._writing(self._lock_fd):
                self._set_scenarios(conn, session, document)
        with self._changes_lock:  # after the commit: a reader that sees it reads the new one
            self._changes.value += 1

    @staticmethod
    def _set_scenarios(conn: sqlite3.Connection, session: str, document: Any) -> None:
        with _transaction(conn):
            conn.execute(
                "INSERT INTO scenarios (session, document, version) VALUES (?, ?, 1) "
                "ON CONFLICT (session) DO UPDATE SET document = excluded.document, "
                "version = version + 1",
                (session, json.dumps(document)),
            )
            conn.execute("DELETE FROM counters WHERE session = ?", (session,))

    def clear_scenarios(self, session: str) -> None:
        self.set_scenarios(session, None)

    # -- journal and coverage -------------------------------------------------------------------
    def record(
        self,
        session: str,
        row: dict[str, Any],
        limit: int,
        coverage: list[tuple[str, str, str, str]],
    ) -> None:
        """Journal one request: it is written by this process's writer thread, soon; any
        later read of the journal or coverage, from any process, waits for it."""
        entry: Entry = (session, row, limit, coverage)
        writer = self._writer_here()
        if writer is None:  # every ledger slot taken: write on this thread instead
            self.write([entry])
            self.announce([entry])
        else:
            writer.hand(entry)

    def announce(self, entries: Sequence[Entry]) -> None:
        """Pass written rows to `after_write`; its failure is logged, never raised."""
        hook = self.after_write
        if hook is None:
            return
        try:
            hook([row for _, row, _, _ in entries])
        except Exception:
            log.exception("journal: the after-write hook failed")

    def _writer_here(self) -> _Writer | None:
        pid = os.getpid()
        if self._writer_pid != pid:
            with self._lock:
                if self._writer_pid != pid:  # threads don't survive a fork: one per process
                    slot = self._ledger.claim(pid)
                    self._writer = None if slot is None else _Writer(self, self._ledger, slot)
                    self._writer_pid = pid
                    if self._writer is not None:  # what it holds is written before exit
                        atexit.register(self._stop_writer)
        return self._writer

    def settle(self) -> None:
        """Wait until the journal holds every request recorded so far, by any process."""
        self._ledger.settle()

    def write(self, entries: Sequence[Entry]) -> None:
        """Append journal entries in one transaction, drop the oldest beyond each one's
        limit, count their coverage keys.

        Few statements, whatever the batch: rows and coverage keys (summed first) go in
        by multi-row statements, and the oldest rows go in one DELETE. sqlite3 gives up
        the GIL around every statement step and must win it back from the requests each
        time, which under load can take a switch interval (5 ms): a row per step (and a
        coverage upsert per key) left this thread so far behind that its queue filled and
        held up requests (bench/README.md)."""
        rows = [
            (
                session,
                row["at"],
                row["api"],
                row["operationId"],
                row["method"],
                row["path"],
                row["status"],
                _pack(row),
            )
            for session, row, _, _ in entries
        ]
        counts = Counter((session, *key) for session, _, _, keys in entries for key in keys)
        with self._journal_lock:
            conn = self._journal_connection()
            with self._writing(self._journal_lock_fd):
                self._write_rows(conn, rows, counts, min(entry[2] for entry in entries))

    @staticmethod
    def _write_rows(
        conn: sqlite3.Connection,
        rows: list[tuple[Any, ...]],
        counts: Counter[tuple[str, str, str, str, str]],
        limit: int,
    ) -> None:
        with _transaction(conn):
            _insert_many(conn, _INSERT_ROWS, _ROW_PLACEHOLDERS, rows)
            conn.execute(
                "DELETE FROM journal WHERE id <= (SELECT max(id) FROM journal) - ?", (limit,)
            )
            covered = [(*key, count) for key, count in counts.items()]
            _insert_many(
                conn, _UPSERT_COVERAGE, _COVERAGE_PLACEHOLDERS, covered, _ON_COVERAGE_CONFLICT
            )

    def journal(self, session: str, filters: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """Entries of a session, oldest first, matching every filter given."""
        return [
            _unpack(blob) for page in self._journal_blobs(session, filters, limit) for blob in page
        ]

    def journal_pages(
        self, session: str, filters: dict[str, Any], limit: int, page_size: int = 500
    ) -> Iterator[list[str]]:
        """The same entries as JSON texts, a page at a time, for a listing to stream."""
        for page in self._journal_blobs(session, filters, limit, page_size):
            yield [json.dumps(_unpack(blob), ensure_ascii=False) for blob in page]

    def _journal_blobs(
        self, session: str, filters: dict[str, Any], limit: int, page_size: int = 500
    ) -> Iterator[list[bytes]]:
        """The stored entries, a page at a time, for a listing to stream: its
        memory stays one page whatever the journal's size. (A whole 10,000-entry listing
        built at once is ~20 MB per serving thread, which glibc then keeps: bench/README.md,
        "Soak".)
        Each page is its own short query, so the writer is never held up for long; the
        listing holds what had been written when it began (entries dropped by the bound
        meanwhile are left out, none are added)."""
        self.settle()
        where = ["session = ?"]
        values: list[Any] = [session]
        for key, value in filters.items():
            where.append(JOURNAL_FILTERS[key])
            values.append(value)
        with self._lock:  # entries written while the listing is read are not in it
            newest = self._connection().execute("SELECT max(id) FROM journal").fetchone()[0]
        where.append("id <= ?")
        values.append(newest or 0)
        after: tuple[float, int] = (float("-inf"), 0)
        while limit > 0:
            with self._lock:
                rows = (
                    self._connection()
                    .execute(
                        f"SELECT at, id, entry FROM journal WHERE {' AND '.join(where)} "
                        "AND (at, id) > (?, ?) ORDER BY at, id LIMIT ?",
                        (*values, *after, min(limit, page_size)),
                    )
                    .fetchall()
                )
            if not rows:
                return
            yield [row[2] for row in rows]
            limit -= len(rows)
            after = (rows[-1][0], rows[-1][1])

    def coverage(self, session: str) -> list[tuple[str, str, str, str, int]]:
        self.settle()
        with self._lock:
            rows = (
                self._connection()
                .execute(
                    "SELECT api, operation_id, kind, key, count FROM coverage WHERE session = ?",
                    (session,),
                )
                .fetchall()
            )
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    def clear_journal(self, session: str) -> None:
        """Forget a session's journal and coverage."""
        self.settle()
        with self._lock:
            conn = self._connection()
            with self._writing(self._lock_fd):
                conn.execute("DELETE FROM journal WHERE session = ?", (session,))
                conn.execute("DELETE FROM coverage WHERE session = ?", (session,))

    def _stop_writer(self) -> None:
        """Write what this process still holds, then close the after-write hook."""
        if self._writer is not None and self._writer_pid == os.getpid():
            self._writer.stop()
            self._writer, self._writer_pid = None, -1
            close = getattr(self.after_write, "close", None)
            if callable(close):
                close()

    def close(self) -> None:
        """Write what this process still holds, then close; remove the file if it is ours."""
        self._stop_writer()
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
            self._conn = None
        if self._journal_conn is not None and self._journal_pid == os.getpid():
            self._journal_conn.close()
            self._journal_conn = None
        for lock_fd, pid in (
            (self._lock_fd, self._pid),
            (self._journal_lock_fd, self._journal_pid),
        ):
            if lock_fd is not None and pid == os.getpid():
                os.close(lock_fd)
        self._lock_fd = self._journal_lock_fd = None
        if self._owned and self._pid in (-1, os.getpid()):
            for suffix in ("", "-wal", "-shm", ".lock"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
