"""Journal writers: a thread per process writes the journal in batches, off the request
path, and a `Ledger` in shared memory lets any process's read wait for every other
process's writer (`settle`).

Journal entries are not written on the request path. Each process hands them to a writer
thread of its own, which writes whatever has queued up at once: with a write per request,
16 threads and several workers queued on SQLite's write lock (1.2-1.4 ms per write on
average under 16 connections, the slowest 150 ms; bench/README.md). A `Ledger` in shared
memory counts, per process, the entries handed over and the entries written; every read
of the journal or coverage first waits until each live process has written what it had
been handed when the read began, so a request that has been answered is always in the
journal, whichever worker answered it. Any store can use them: a store's `write(batch)`
does the writing, `announce(batch)` passes written rows on (the access log).
"""

from __future__ import annotations

import collections
import ctypes
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.sharedctypes import RawArray
from typing import Any, Protocol

from mockserver.state.store import Entry

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


_LOG_EVERY = 10.0
"""Seconds between two log lines about journal writes that keep failing."""


class Sink(Protocol):
    """What a writer writes to: a store."""

    def write(self, entries: Sequence[Entry]) -> None: ...

    def announce(self, entries: Sequence[Entry]) -> None: ...


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


CLAIM_WAIT = 2.0
"""Longest a process waits for the lock of the shared slots. A claim holds it for
microseconds, once per process: a lock still held after this long belongs to a process
that was killed while holding it (a `multiprocessing.Lock` is never let go then), and
waiting longer would block every new worker for ever."""


def claim_slot(lock: Any, pids: Any, pid: int, reset: Callable[[int], None]) -> int | None:
    """Under `lock`, the first slot of the shared `pids` that is `pid`'s already, free,
    or left by a dead process: `reset(slot)` clears what goes with it, then the slot is
    `pid`'s. None when every slot is taken. (The journal's `Ledger` and the workers'
    `serving.ConnectionShares` keep their per-process counts this way.)"""
    held = lock.acquire(timeout=CLAIM_WAIT)
    if not held:  # its holder was killed holding it (SIGKILL): it is never let go
        log.warning("state: a process died holding the slot lock; claiming without it")
    try:
        for slot in range(len(pids)):
            owner = pids[slot]
            if owner == pid or owner == 0 or not process_alive(owner):
                reset(slot)
                pids[slot] = pid
                return slot
    finally:
        if held:
            lock.release()
    return None


class Ledger:
    """Per process, journal entries handed to its writer and entries written.

    Shared memory made before the workers fork; each process claims a slot the first time
    it records. A slot has one writer per counter (handed: request threads under the
    process's lock; done and failing: its writer thread), so plain 64-bit stores suffice.
    `done` counts the entries the writer is finished with: written, or lost to a failed
    write; those are also counted in `dropped` (all processes together, never reset),
    and `failing` says the slot's last write failed, `error` what the failure was.
    """

    SLOTS = 128

    def __init__(self) -> None:
        self._claim = multiprocessing.Lock()
        self.pids = RawArray(ctypes.c_int64, self.SLOTS)
        self.handed = RawArray(ctypes.c_int64, self.SLOTS)
        self.done = RawArray(ctypes.c_int64, self.SLOTS)
        self.failing = RawArray(ctypes.c_int64, self.SLOTS)
        self.dropped = RawArray(ctypes.c_int64, self.SLOTS)
        self._error = RawArray(ctypes.c_char, 240)

    def claim(self, pid: int) -> int | None:
        """A slot for `pid` (a dead process's slot is reused); None when all are taken."""
        return claim_slot(self._claim, self.pids, pid, self._reset)

    def _reset(self, slot: int) -> None:
        self.handed[slot] = self.done[slot] = self.failing[slot] = 0

    def lost(self, slot: int, count: int, error: BaseException) -> None:
        """`count` entries of `slot` could not be written, because of `error`."""
        self.dropped[slot] += count
        self.failing[slot] = 1
        text = f"{type(error).__name__}: {error}".encode("utf-8", "replace")[:239]
        self._error.value = text  # one writer at a time in practice; a diagnostic only

    def total_dropped(self) -> int:
        return sum(self.dropped)

    def failure(self) -> str | None:
        """What the last failed write said, while a live process's last write failed."""
        for slot in range(self.SLOTS):
            pid = self.pids[slot]
            if pid and self.failing[slot] and process_alive(pid):
                return bytes(self._error.value).decode("utf-8", "replace")
        return None

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until every live process has written what it had been handed by now."""
        owed = [
            (slot, self.pids[slot], self.handed[slot])
            for slot in range(self.SLOTS)
            if self.pids[slot] and self.done[slot] < self.handed[slot]
        ]
        deadline = time.monotonic() + timeout
        for slot, pid, handed in owed:
            pause = 0.0002
            while self.done[slot] < handed and self.pids[slot] == pid:
                if time.monotonic() > deadline or not process_alive(pid):
                    log.warning("journal: process %d has not written its last entries", pid)
                    break
                time.sleep(pause)  # another process's thread: nothing to wait on but time
                pause = min(pause * 2, 0.01)


class JournalWriter:
    """One process's journal writer: entries wait in a deque, and a thread of this process
    writes what has gathered in one transaction.

    A deque under the writer's own lock, not a `queue.Queue`: handing an entry over is
    on every request's path, and `Queue.put` cost ~2 µs where an append under a lock
    costs ~0.6; the thread takes a whole batch at once, where `get_nowait` cost ~1.7 µs
    an entry. The writer is woken only when it sleeps; past `_QUEUE_SIZE` entries
    waiting, a request waits for room (backpressure, not lost entries).
    """

    def __init__(self, store: Sink, ledger: Ledger, slot: int) -> None:
        self.store, self.ledger, self.slot = store, ledger, slot
        self.pending: collections.deque[Entry] = collections.deque()
        self.lock = threading.Lock()  # the deque, the ledger's `handed` and the flags
        self.arrived = threading.Condition(self.lock)
        self.room = threading.Condition(self.lock)
        self.asleep = False
        self.stopping = False
        self.failed_before = False  # only this writer's thread touches these three
        self.unlogged = 0
        self.logged_at = 0.0
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
            except Exception as exc:  # a lost batch must not stop the journal or hang reads
                self._lost(len(batch), exc)
            else:
                self.ledger.failing[self.slot] = 0
                self.failed_before = False
            self.store.announce(batch)  # before the count: a settled read finds it done
            self.ledger.done[self.slot] += len(batch)

    def _lost(self, count: int, error: Exception) -> None:
        """Count and log a failed write: the first of a run of failures, then at most one
        line every `_LOG_EVERY` seconds (a full disk fails every batch)."""
        self.ledger.lost(self.slot, count, error)
        self.unlogged += count
        now = time.monotonic()
        if now - self.logged_at >= _LOG_EVERY or not self.failed_before:
            log.error(
                "journal: could not write %d entries, they are lost (%s: %s); "
                "%d lost so far by all processes",
                self.unlogged,
                type(error).__name__,
                error,
                self.ledger.total_dropped(),
            )
            self.unlogged, self.logged_at = 0, now
        self.failed_before = True
