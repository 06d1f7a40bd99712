"""The local store: SQLite plus shared memory, for every worker process of one host.

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

Journal entries are written by a thread per process, in batches (`writer.py`). Every
write takes an flock on the state file first (`LocalStore._writing`), so processes wait
for each other's writes in the kernel, not in SQLite's sleeping busy handler.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import marshal
import os
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.sharedctypes import RawValue
from pathlib import Path
from typing import Any

from mockserver.problems import StateUnavailable
from mockserver.state.store import (
    DEFAULT_SESSION,
    JOURNAL_FILTERS,
    Bounds,
    CoverageKey,
    CoverageRow,
    Entry,
    Health,
    JournalInfo,
    Order,
)
from mockserver.state.writer import JournalWriter, Ledger

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own locking only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("mockserver")

_STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    session TEXT NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (session, key)
);
CREATE TABLE IF NOT EXISTS scenarios (
    session TEXT PRIMARY KEY, document TEXT NOT NULL, version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (id INTEGER PRIMARY KEY AUTOINCREMENT);
CREATE TABLE IF NOT EXISTS cleared (session TEXT PRIMARY KEY, upto INTEGER NOT NULL);
"""
"""The state file: small, and written by a few admin calls and each scenario-matched
request. `versions` numbers scenario documents, never reusing a number (a session
forgotten and made again must not look like the version a worker has compiled);
`cleared` is where a cleared session's journal ends (so clearing is one small write,
which works even when the journal's file cannot grow)."""

_JOURNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS j.journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL, at REAL NOT NULL,
    api TEXT, operation_id TEXT, method TEXT NOT NULL, path TEXT NOT NULL,
    status INTEGER NOT NULL, size INTEGER NOT NULL, entry BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS j.journal_by_time ON journal (session, at, id);
CREATE INDEX IF NOT EXISTS j.journal_by_session ON journal (session, id);
CREATE TABLE IF NOT EXISTS j.coverage (
    session TEXT NOT NULL, api TEXT NOT NULL, operation_id TEXT NOT NULL,
    kind TEXT NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (session, api, operation_id, kind, key)
);
CREATE TABLE IF NOT EXISTS j.sessions (
    session TEXT PRIMARY KEY, used REAL NOT NULL, evicted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS j.sessions_by_use ON sessions (used);
CREATE TABLE IF NOT EXISTS j.totals (
    one INTEGER PRIMARY KEY CHECK (one = 0), bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO j.totals (one, bytes) VALUES (0, 0);
"""


_INSERT_ROWS = (
    "INSERT INTO journal (session, at, api, operation_id, method, path, status, size, entry) "
    "VALUES "
)
_ROW_PLACEHOLDERS = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
_CHUNK_SIZES = (256, 128, 64, 32, 16, 8, 4, 2, 1)
"""Rows per INSERT: powers of two, so a batch takes at most one statement per bit of its
size (13 rows: 8 + 4 + 1) and sqlite3's statement cache keeps a few statements (256 rows
x 9 values stays under SQLite's limit of 32,766 parameters)."""
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
    """BEGIN IMMEDIATE ... COMMIT, rolled back if anything fails. The failure is what is
    raised: a ROLLBACK that fails too (SQLite may have rolled back already, on a full
    disk) is logged at debug level, never raised in its place."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.debug("state: ROLLBACK after a failed transaction failed too: %s", exc)
        raise


def _unavailable(action: str, error: sqlite3.Error) -> StateUnavailable:
    return StateUnavailable(
        f"The mock's state (the local store, SQLite) could not {action}: {error}. "
        "Answers that need no shared state are still served; free the disk space under "
        "the state's folder (TMPDIR), or restart the mock.",
        extra={"backend": "local"},
    )


_SEEN = 4096
"""Sessions a writer remembers having written (a session new to it makes it look for
sessions to forget: once per test under the pytest plugin, which makes one per test)."""

_TTL_CHECK_EVERY = 30.0
"""Seconds between two looks for sessions unused past their TTL."""

EVICTED_SESSION = ""
"""Where a forgotten session's coverage goes: no request names it (an empty session
header is the default session), and coverage of all sessions sums it in."""

_PAGE_BYTES = 4 * 1024 * 1024
"""Most bytes of stored entries a listing page holds (besides its count limit): a page of
500 entries with bodies of 64 KiB each would otherwise be ~32 MB."""


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


class LocalStore:
    """The `Store` of one host: SQLite files and shared memory made before the workers
    fork; safe to use from threads and forked processes.

    Two files: the state (`path`: counters, scenarios, where cleared journals end) and
    the journal beside it (`<stem>.journal.sqlite`: entries, coverage, sessions), so a
    journal that cannot grow (a full disk, a file size limit) never stops a scenario's
    counter or a clear. Each connection opens the state file and attaches the journal's.
    """

    backend = "local"

    def __init__(self, path: Path | None = None, bounds: Bounds | None = None) -> None:
        self.bounds = bounds or Bounds()
        if path is None:
            handle, name = tempfile.mkstemp(prefix="mockserver-state-", suffix=".sqlite")
            os.close(handle)
            path = Path(name)
            self._owned = True
        else:
            self._owned = False
        self.path = path = Path(path)
        self.journal_path = path.with_name(path.stem + ".journal.sqlite")
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
        self._writer: JournalWriter | None = None
        self._writer_pid = -1
        self._seen: dict[str, None] = {}  # sessions this process's writer wrote lately
        self._forgot_at = time.monotonic()  # when it last looked for sessions to forget
        self.after_write: Callable[[list[dict[str, Any]]], None] | None = None
        """Called with the journal rows of each batch once written, on the writer's
        thread (the access log: its lines then cost the request nothing). If it has a
        `close` method, that is called once the writer has stopped."""
        with self._connection() as conn:
            conn.executescript(_STATE_SCHEMA + _JOURNAL_SCHEMA)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        # A small write-ahead log, reused after each checkpoint: the state file's writes
        # (counters) then need no new disk space once it has reached its size.
        conn.execute("PRAGMA wal_autocheckpoint=64")
        conn.execute("ATTACH DATABASE ? AS j", (str(self.journal_path),))
        conn.execute("PRAGMA j.journal_mode=WAL")
        conn.execute("PRAGMA j.synchronous=OFF")
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
        free, and the kernel lets it go if its process dies (a `multiprocessing.Lock`
        held by a process killed with SIGKILL would stay taken for ever)."""
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
        try:
            with self._lock:
                conn = self._connection()
                with self._writing(self._lock_fd):
                    row = conn.execute(
                        "INSERT INTO counters (session, key, count) VALUES (?, ?, 1) "
                        "ON CONFLICT (session, key) DO UPDATE SET count = count + 1 "
                        "RETURNING count",
                        (session, key),
                    ).fetchone()
        except sqlite3.Error as exc:
            raise _unavailable("count this call for its scenario", exc) from None
        return int(row[0])

    # -- scenarios -------------------------------------------------------------------------
    def scenarios_changes(self) -> int:
        """How many times any session's scenarios have been replaced, by any process: a
        read of shared memory, no lock, so a request can ask whether its cache is stale
        without a SQLite query (16 threads queued on that query's lock: bench/README.md)."""
        return int(self._changes.value)

    def _changed(self) -> None:
        """Count a change of scenarios; under the write flock, which is what keeps two
        processes' increments apart (the kernel lets it go if its holder dies)."""
        self._changes.value += 1

    def scenarios(self, session: str) -> tuple[int, Any]:
        """(version, document) of a session's scenarios; (0, None) when it has none."""
        try:
            with self._lock:
                row = (
                    self._connection()
                    .execute(
                        "SELECT version, document FROM scenarios WHERE session = ?", (session,)
                    )
                    .fetchone()
                )
        except sqlite3.Error as exc:
            raise _unavailable("read this session's scenarios", exc) from None
        return (0, None) if row is None else (int(row[0]), json.loads(row[1]))

    def set_scenarios(self, session: str, document: Any) -> None:
        """Replace a session's scenarios and restart its counters."""
        try:
            with self._lock:
                conn = self._connection()
                with self._writing(self._lock_fd):
                    self._set_scenarios(conn, session, document)
                    self._changed()  # after the commit: a reader that sees it reads the new one
                    self._touch(conn, session)
        except sqlite3.Error as exc:
            raise _unavailable("store these scenarios", exc) from None

    @staticmethod
    def _set_scenarios(conn: sqlite3.Connection, session: str, document: Any) -> None:
        with _transaction(conn):
            version = conn.execute("INSERT INTO versions DEFAULT VALUES").lastrowid
            conn.execute("DELETE FROM versions")  # AUTOINCREMENT never gives a number twice
            conn.execute(
                "INSERT INTO scenarios (session, document, version) VALUES (?, ?, ?) "
                "ON CONFLICT (session) DO UPDATE SET document = excluded.document, "
                "version = excluded.version",
                (session, json.dumps(document), version),
            )
            conn.execute("DELETE FROM counters WHERE session = ?", (session,))

    @staticmethod
    def _touch(conn: sqlite3.Connection, session: str) -> None:
        """Mark a session used now (best effort: the journal's file may be full)."""
        with contextlib.suppress(sqlite3.Error):
            conn.execute(
                "INSERT INTO sessions (session, used) VALUES (?, ?) "
                "ON CONFLICT (session) DO UPDATE SET used = excluded.used",
                (session, time.time()),
            )

    # -- journal and coverage -------------------------------------------------------------------
    def record(
        self,
        session: str,
        row: dict[str, Any],
        limit: int,
        coverage: list[CoverageKey],
    ) -> None:
        """Journal one request: it is written by this process's writer thread, soon; any
        later read of the journal or coverage, from any process, waits for it."""
        entry: Entry = (session, row, limit, coverage)
        writer = self._writer_here()
        if writer is None:  # every ledger slot taken: write on this thread instead
            try:
                self.write([entry])
            except Exception as exc:
                self._ledger.lost(0, 1, exc)
                log.error("journal: could not write an entry, it is lost (%s)", exc)
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

    def _writer_here(self) -> JournalWriter | None:
        pid = os.getpid()
        if self._writer_pid != pid:
            with self._lock:
                if self._writer_pid != pid:  # threads don't survive a fork: one per process
                    slot = self._ledger.claim(pid)
                    self._writer = None if slot is None else JournalWriter(self, self._ledger, slot)
                    self._writer_pid = pid
                    if self._writer is not None:  # what it holds is written before exit
                        atexit.register(self._stop_writer)
        return self._writer

    def settle(self) -> None:
        """Wait until the journal holds every request recorded so far, by any process."""
        self._ledger.settle()

    def write(self, entries: Sequence[Entry]) -> None:
        """Append journal entries in one transaction, drop the oldest beyond each
        session's limit and beyond the bytes bound, count their coverage keys.

        Few statements, whatever the batch: rows and coverage keys (summed first) go in
        by multi-row statements, and the oldest rows go in one DELETE per session. sqlite3
        gives up the GIL around every statement step and must win it back from the
        requests each time, which under load can take a switch interval (5 ms): a row per
        step (and a coverage upsert per key) left this thread so far behind that its
        queue filled and held up requests (bench/README.md)."""
        rows = []
        limits: dict[str, int] = {}
        for session, row, limit, _ in entries:
            blob = _pack(row)
            rows.append(
                (
                    session,
                    row["at"],
                    row["api"],
                    row["operationId"],
                    row["method"],
                    row["path"],
                    row["status"],
                    len(blob),
                    blob,
                )
            )
            limits[session] = min(limit, limits.get(session, limit))
        counts = Counter((session, *key) for session, _, _, keys in entries for key in keys)
        with self._journal_lock:
            conn = self._journal_connection()
            with self._writing(self._journal_lock_fd):
                self._write_rows(conn, rows, counts, limits, self.bounds.journal_bytes)
                fresh = [session for session in limits if session not in self._seen]
                now = time.monotonic()
                if fresh or now - self._forgot_at >= _TTL_CHECK_EVERY:
                    self._seen.update(dict.fromkeys(fresh))
                    while len(self._seen) > _SEEN:
                        self._seen.pop(next(iter(self._seen)))
                    self._forgot_at = now
                    self._forget_sessions(conn)

    @staticmethod
    def _write_rows(
        conn: sqlite3.Connection,
        rows: list[tuple[Any, ...]],
        counts: Counter[tuple[str, str, str, str, str]],
        limits: dict[str, int],
        most_bytes: int,
    ) -> None:
        now = time.time()
        with _transaction(conn):
            _insert_many(conn, _INSERT_ROWS, _ROW_PLACEHOLDERS, rows)
            added = sum(row[7] for row in rows)
            evicted: Counter[str] = Counter()
            freed = 0
            for session, limit in limits.items():
                for (size,) in conn.execute(
                    # The newest by when they were answered, as listings order them: a
                    # worker may write an entry answered earlier after a later one.
                    "DELETE FROM journal WHERE session = ? AND (at, id) <= (SELECT at, id "
                    "FROM journal WHERE session = ? ORDER BY at DESC, id DESC LIMIT 1 "
                    "OFFSET ?) RETURNING size",
                    (session, session, limit),
                ).fetchall():
                    evicted[session] += 1
                    freed += size
            total = conn.execute(
                "UPDATE totals SET bytes = bytes + ? RETURNING bytes", (added - freed,)
            ).fetchone()[0]
            if total > most_bytes:
                freed = LocalStore._free_bytes(conn, total - most_bytes, evicted)
                conn.execute("UPDATE totals SET bytes = bytes - ?", (freed,))
            covered = [(*key, count) for key, count in counts.items()]
            _insert_many(
                conn, _UPSERT_COVERAGE, _COVERAGE_PLACEHOLDERS, covered, _ON_COVERAGE_CONFLICT
            )
            used = [(session, now, evicted.get(session, 0)) for session in limits]
            used += [(s, now, n) for s, n in evicted.items() if s not in limits]
            conn.executemany(
                "INSERT INTO sessions (session, used, evicted) VALUES (?, ?, ?) "
                "ON CONFLICT (session) DO UPDATE SET used = max(used, excluded.used), "
                "evicted = evicted + excluded.evicted",
                used,
            )

    @staticmethod
    def _free_bytes(conn: sqlite3.Connection, needed: int, evicted: Counter[str]) -> int:
        """Delete the oldest entries, of any session, until `needed` bytes are freed."""
        freed = 0
        upto = 0
        for entry_id, size in conn.execute("SELECT id, size FROM journal ORDER BY id"):
            freed += size
            upto = entry_id
            if freed >= needed:
                break
        for session, count in conn.execute(
            "SELECT session, count(*) FROM journal WHERE id <= ? GROUP BY session", (upto,)
        ).fetchall():
            evicted[session] += count
        conn.execute("DELETE FROM journal WHERE id <= ?", (upto,))
        return freed

    def forget_sessions(self, now: float | None = None) -> int:
        """Forget what `Bounds` says to forget (the writer does this whenever a session
        new to it is written, and every `_TTL_CHECK_EVERY` seconds); how many sessions
        were forgotten."""
        with self._journal_lock:
            conn = self._journal_connection()
            with self._writing(self._journal_lock_fd):
                return self._forget_sessions(conn, now)

    def _forget_sessions(self, conn: sqlite3.Connection, now: float | None = None) -> int:
        """Forget the sessions unused for longer than the TTL, and the least recently
        used beyond the most kept: their journal, counters and scenarios; their coverage
        is folded into `EVICTED_SESSION`'s. (The default session, which `--scenarios`
        loads, is never forgotten, nor counted.)"""
        bounds = self.bounds
        (known,) = conn.execute(
            "SELECT count(*) FROM sessions WHERE session NOT IN (?, ?)",
            (DEFAULT_SESSION, EVICTED_SESSION),
        ).fetchone()
        over = max(0, int(known) - bounds.sessions)
        idle_since = (time.time() if now is None else now) - bounds.session_ttl
        oldest = conn.execute(
            "SELECT session, used FROM sessions WHERE session NOT IN (?, ?) ORDER BY used LIMIT ?",
            (DEFAULT_SESSION, EVICTED_SESSION, over + 500),
        ).fetchall()
        chosen = [  # the least recently used beyond the bound, then the idle ones
            session for i, (session, used) in enumerate(oldest) if i < over or used < idle_since
        ]
        if not chosen:
            return 0
        marks = ", ".join("?" * len(chosen))
        with _transaction(conn):
            freed = conn.execute(
                f"SELECT coalesce(sum(size), 0) FROM journal WHERE session IN ({marks})", chosen
            ).fetchone()[0]
            conn.execute(f"DELETE FROM journal WHERE session IN ({marks})", chosen)
            conn.execute("UPDATE totals SET bytes = bytes - ?", (freed,))
            conn.execute(
                "INSERT INTO coverage (session, api, operation_id, kind, key, count) "
                f"SELECT ?, api, operation_id, kind, key, count FROM coverage "
                f"WHERE session IN ({marks}) AND true "
                "ON CONFLICT (session, api, operation_id, kind, key) DO UPDATE SET "
                "count = count + excluded.count",
                (EVICTED_SESSION, *chosen),
            )
            conn.execute(f"DELETE FROM coverage WHERE session IN ({marks})", chosen)
            conn.execute(f"DELETE FROM sessions WHERE session IN ({marks})", chosen)
            conn.execute(f"DELETE FROM counters WHERE session IN ({marks})", chosen)
            conn.execute(f"DELETE FROM scenarios WHERE session IN ({marks})", chosen)
            conn.execute(f"DELETE FROM cleared WHERE session IN ({marks})", chosen)
        self._changed()
        log.info("state: forgot %d sessions (unused, or beyond --max-sessions)", len(chosen))
        return len(chosen)

    def journal(
        self, session: str, filters: dict[str, Any], limit: int, order: Order = "asc"
    ) -> list[dict[str, Any]]:
        """Entries of a session matching every filter given, as `order` says."""
        pages = self._journal_blobs(session, filters, limit, order=order)
        return [_unpack(blob) for page in pages for blob in page]

    def journal_pages(
        self,
        session: str,
        filters: dict[str, Any],
        limit: int,
        page_size: int = 500,
        order: Order = "asc",
    ) -> Iterator[list[str]]:
        """The same entries as JSON texts, a page at a time, for a listing to stream."""
        for page in self._journal_blobs(session, filters, limit, page_size, order):
            yield [json.dumps(_unpack(blob), ensure_ascii=False) for blob in page]

    def _journal_blobs(
        self,
        session: str,
        filters: dict[str, Any],
        limit: int,
        page_size: int = 500,
        order: Order = "asc",
    ) -> Iterator[list[bytes]]:
        """The stored entries, a page at a time (at most `page_size` entries and about
        `_PAGE_BYTES`), for a listing to stream: its memory stays one page whatever the
        journal's size. (A whole 10,000-entry listing built at once is ~20 MB per
        serving thread, which glibc then keeps: bench/README.md, "Soak".)
        Each page is its own short query, so the writer is never held up for long; the
        listing holds what had been written when it began (entries dropped by the bound
        meanwhile are left out, none are added)."""
        self.settle()
        where, values = self._where(session, filters)
        with self._lock:  # entries written while the listing is read are not in it
            newest = self._connection().execute("SELECT max(id) FROM journal").fetchone()[0]
        where.append("id <= ?")
        values.append(newest or 0)
        after: tuple[float, int] = (float("-inf"), 0)
        step, ordering = "(at, id) > (?, ?)", "ORDER BY at, id"
        if order == "desc":
            after = (float("inf"), 0)
            step, ordering = "(at, id) < (?, ?)", "ORDER BY at DESC, id DESC"
        elif order == "last" and limit > 0:  # start at the limit-th newest
            with self._lock:
                first = (
                    self._connection()
                    .execute(
                        f"SELECT at, id FROM journal WHERE {' AND '.join(where)} "
                        "ORDER BY at DESC, id DESC LIMIT 1 OFFSET ?",
                        (*values, limit - 1),
                    )
                    .fetchone()
                )
            if first is not None:
                where.append("(at, id) >= (?, ?)")
                values.extend(first)
        query = (
            f"SELECT at, id, size, entry FROM journal WHERE {' AND '.join(where)} "
            f"AND {step} {ordering} LIMIT ?"
        )
        while limit > 0:
            page: list[bytes] = []
            held = 0
            with self._lock:
                cursor = self._connection().execute(query, (*values, *after, min(limit, page_size)))
                try:
                    for at, entry_id, size, blob in cursor:
                        page.append(blob)
                        after = (at, entry_id)
                        held += size
                        if held >= _PAGE_BYTES:
                            break
                finally:
                    cursor.close()
            if not page:
                return
            yield page
            limit -= len(page)

    @staticmethod
    def _where(session: str, filters: dict[str, Any]) -> tuple[list[str], list[Any]]:
        """The conditions of a listing: the session, past where it was last cleared, and
        the filters."""
        where = [
            "session = ?",
            "id > coalesce((SELECT upto FROM cleared WHERE cleared.session = ?), 0)",
        ]
        values: list[Any] = [session, session]
        for key, value in filters.items():
            where.append(JOURNAL_FILTERS[key])
            values.append(value)
        return where, values

    def journal_count(self, session: str, filters: dict[str, Any]) -> int:
        self.settle()
        where, values = self._where(session, filters)
        with self._lock:
            found = (
                self._connection()
                .execute(f"SELECT count(*) FROM journal WHERE {' AND '.join(where)}", values)
                .fetchone()
            )
        return int(found[0])

    def journal_info(self, session: str) -> JournalInfo:
        kept = self.journal_count(session, {})
        with self._lock:
            found = (
                self._connection()
                .execute("SELECT evicted FROM sessions WHERE session = ?", (session,))
                .fetchone()
            )
        evicted = int(found[0]) if found else 0
        return JournalInfo(kept=kept, evicted=evicted, dropped=self._ledger.total_dropped())

    def clear_journal(self, session: str) -> None:
        """Forget a session's journal (its coverage stays: `clear_coverage`).

        Where the session's journal now ends is written to the state file (one small
        row), which works even when the journal's file cannot grow; deleting the entries
        themselves is then best effort (they are hidden either way)."""
        self.settle()
        with self._lock:
            conn = self._connection()
            with self._writing(self._lock_fd):
                try:
                    conn.execute(
                        "INSERT INTO cleared (session, upto) "
                        "SELECT ?, coalesce(max(id), 0) FROM journal WHERE true "
                        "ON CONFLICT (session) DO UPDATE SET upto = excluded.upto",
                        (session,),
                    )
                except sqlite3.Error as exc:
                    raise _unavailable("clear this session's journal", exc) from None
                try:
                    with _transaction(conn):
                        (freed,) = conn.execute(
                            "SELECT coalesce(sum(size), 0) FROM journal WHERE session = ?",
                            (session,),
                        ).fetchone()
                        conn.execute("DELETE FROM journal WHERE session = ?", (session,))
                        conn.execute("UPDATE totals SET bytes = bytes - ?", (freed,))
                        conn.execute(
                            "UPDATE sessions SET evicted = 0 WHERE session = ?", (session,)
                        )
                except sqlite3.Error as exc:
                    log.warning(
                        "journal: the cleared entries of session %r stay on disk (%s); "
                        "they are not listed",
                        session[:100],
                        exc,
                    )

    def coverage(self, session: str | None) -> list[CoverageRow]:
        """Coverage counts of one session, or of all of them summed (None)."""
        self.settle()
        if session is None:
            query = (
                "SELECT api, operation_id, kind, key, sum(count) FROM coverage "
                "GROUP BY api, operation_id, kind, key"
            )
            args: tuple[str, ...] = ()
        else:
            query = "SELECT api, operation_id, kind, key, count FROM coverage WHERE session = ?"
            args = (session,)
        with self._lock:
            rows = self._connection().execute(query, args).fetchall()
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    def clear_coverage(self, session: str | None) -> None:
        """Forget one session's coverage, or every session's (None)."""
        self.settle()
        try:
            with self._lock:
                conn = self._connection()
                with self._writing(self._lock_fd):
                    if session is None:
                        conn.execute("DELETE FROM coverage")
                    else:
                        conn.execute("DELETE FROM coverage WHERE session = ?", (session,))
        except sqlite3.Error as exc:
            raise _unavailable("clear coverage", exc) from None

    def health(self) -> Health:
        failure = self._ledger.failure()
        dropped = self._ledger.total_dropped()
        if failure is not None:
            detail = f"journal writes are failing ({failure}); {dropped} entries lost"
            return Health(self.backend, ok=False, detail=detail, dropped=dropped)
        try:
            with self._lock:
                self._connection().execute("SELECT count(*) FROM counters").fetchone()
        except sqlite3.Error as exc:
            return Health(self.backend, ok=False, detail=f"cannot read: {exc}", dropped=dropped)
        return Health(self.backend, dropped=dropped)

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
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.journal_path) + suffix).unlink(missing_ok=True)
