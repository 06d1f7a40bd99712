"""The shared state: journal writes off the request thread, and reads that wait for them."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver.state import Ledger, StateStore


def row(n: int, at: float | None = None) -> dict[str, Any]:
    return {
        "at": time.time() if at is None else at,
        "api": "demo",
        "operationId": "op",
        "method": "GET",
        "path": f"/items/{n}",
        "status": 200,
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    store = StateStore(tmp_path / "state.sqlite")
    yield store
    store.close()


def paths(store: StateStore, session: str = "s") -> list[str]:
    return [entry["path"] for entry in store.journal(session, {}, 100_000)]


def test_a_read_right_after_recording_sees_every_entry_in_order(store: StateStore) -> None:
    for n in range(2000):
        store.record("s", row(n), 10_000, [("demo", "op", "status", "200")])
    assert paths(store) == [f"/items/{n}" for n in range(2000)]
    assert store.coverage("s") == [("demo", "op", "status", "200", 2000)]


def test_entries_are_ordered_by_when_the_request_began(store: StateStore) -> None:
    store.record("s", row(2, at=200.0), 100, [])
    store.record("s", row(1, at=100.0), 100, [])
    assert paths(store) == ["/items/1", "/items/2"]


def test_the_journal_keeps_only_the_newest(store: StateStore) -> None:
    for n in range(50):
        store.record("s", row(n), 10, [])
    assert paths(store) == [f"/items/{n}" for n in range(40, 50)]


def test_clearing_also_clears_what_was_still_queued(store: StateStore) -> None:
    for n in range(500):
        store.record("s", row(n), 10_000, [("demo", "op", "status", "200")])
    store.clear_journal("s")
    assert paths(store) == []
    assert store.coverage("s") == []


def _child(store: StateStore, count: int, ready: Any, release: Any) -> None:
    for n in range(count):
        store.record("s", row(n), 100_000, [])
    ready.send("recorded")  # answered, in server terms: the parent may now read
    release.recv()  # stay alive, as a worker does, until the parent has read


FORK_WARNING = "ignore:This process .* is multi-threaded:DeprecationWarning"
"""Python 3.12+ warns about forking with threads; a forked server worker is what is tested."""


@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_read_in_one_process_waits_for_another_process_s_writer(store: StateStore) -> None:
    fork = multiprocessing.get_context("fork")
    ready_child, ready_parent = fork.Pipe()
    release_parent, release_child = fork.Pipe()
    child = fork.Process(target=_child, args=(store, 3000, ready_child, release_child))
    child.start()
    try:
        assert ready_parent.poll(60), "the child did not record in time"
        ready_parent.recv()
        assert paths(store) == [f"/items/{n}" for n in range(3000)]
    finally:
        release_parent.send("done")
        child.join(30)
    assert child.exitcode == 0


def test_a_writer_that_fails_loses_its_batch_but_keeps_going(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_write = store.write
    failures = []

    def failing_once(entries: Any) -> None:
        if not failures:
            failures.append(len(entries))
            raise OSError("disk full")
        real_write(entries)

    monkeypatch.setattr(store, "write", failing_once)
    with caplog.at_level(logging.ERROR, logger="mockserver"):
        store.record("s", row(0), 100, [])
        assert paths(store) == []  # the read did not hang on the lost entry
        store.record("s", row(1), 100, [])
        assert paths(store) == ["/items/1"]
    assert failures == [1]
    assert "could not write 1 entries" in caplog.text


@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_dead_process_s_unwritten_entries_do_not_hold_up_reads() -> None:
    ledger = Ledger()
    finished = multiprocessing.get_context("fork").Process(target=os.getpid)
    finished.start()
    finished.join()
    assert finished.pid is not None
    slot = ledger.claim(finished.pid)
    assert slot is not None
    ledger.handed[slot] = 5  # handed over, never written: the process died
    started = time.monotonic()
    ledger.settle(timeout=30)
    assert time.monotonic() - started < 5
    assert ledger.claim(os.getpid()) == slot  # its slot is reused


def test_a_stuck_writer_holds_up_reads_no_longer_than_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = Ledger()
    slot = ledger.claim(os.getpid())
    assert slot is not None
    ledger.handed[slot] = 1
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        ledger.settle(timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 5
    assert f"process {os.getpid()} has not written" in caplog.text


def test_a_listing_comes_a_page_at_a_time_in_order_up_to_its_limit(store: StateStore) -> None:
    for n in range(25):
        store.record("s", row(n, at=1000.0 + n // 2), 100, [])  # pairs share a start time
    pages = list(store.journal_pages("s", {}, 23, page_size=5))
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    listed = [json.loads(text)["path"] for page in pages for text in page]
    assert listed == [f"/items/{n}" for n in range(23)]
    assert list(store.journal_pages("other", {}, 23, page_size=5)) == []


def test_a_listing_holds_what_was_written_when_it_began(store: StateStore) -> None:
    for n in range(10):
        store.record("s", row(n, at=1000.0 + n), 10, [])
    pages = store.journal_pages("s", {}, 100, page_size=4)
    first = next(pages)
    for n in range(10, 15):  # written while the listing is being read; the bound drops 0-4
        store.record("s", row(n, at=1000.0 + n), 10, [])
    store.settle()
    rest = [text for page in pages for text in page]
    listed = [json.loads(text)["path"] for text in first + rest]
    assert listed == [f"/items/{n}" for n in [0, 1, 2, 3, 5, 6, 7, 8, 9]]


def test_entries_recorded_close_together_are_written_in_one_batch(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mockserver.state.WRITE_LINGER", 0.5)  # generous: a loaded machine
    batches: list[int] = []
    write = store.write

    def counted(entries: Any) -> None:
        batches.append(len(entries))
        write(entries)

    monkeypatch.setattr(store, "write", counted)
    for n in range(5):
        store.record("s", row(n), 100, [])
    assert paths(store) == [f"/items/{n}" for n in range(5)]
    assert batches == [5]


def test_a_full_writer_holds_up_the_next_request_until_there_is_room(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mockserver.state._QUEUE_SIZE", 3)
    monkeypatch.setattr("mockserver.state._BATCH", 2)
    release = threading.Event()
    write = store.write
    in_flight: list[int] = []

    def held(entries: Any) -> None:
        in_flight.append(len(entries))
        release.wait(30)
        write(entries)

    monkeypatch.setattr(store, "write", held)
    handed: list[int] = []

    def client() -> None:
        for n in range(8):
            store.record("s", row(n), 100, [])
            handed.append(n)

    thread = threading.Thread(target=client)
    thread.start()
    # The writer is held on its first batch (1 or 2 entries, as they came); 3 more wait,
    # and the next request has no room until the writer moves.
    deadline = time.monotonic() + 30
    while (not in_flight or len(handed) < in_flight[0] + 3) and time.monotonic() < deadline:
        time.sleep(0.01)
    thread.join(0.3)
    assert thread.is_alive()
    assert len(handed) == in_flight[0] + 3 < 8
    release.set()
    thread.join(30)
    assert handed == list(range(8))
    assert paths(store) == [f"/items/{n}" for n in range(8)]


def test_written_rows_reach_the_after_write_hook_in_order(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    store.after_write = lambda rows: seen.extend(r["path"] for r in rows)
    for n in range(300):
        store.record("s", row(n), 1000, [])
    store.settle()
    assert seen == [f"/items/{n}" for n in range(300)]

    def broken(rows: list[dict[str, Any]]) -> None:
        raise RuntimeError("hook bug")

    store.after_write = broken
    with caplog.at_level(logging.ERROR, logger="mockserver"):
        store.record("s", row(300), 1000, [])
        assert paths(store)[-1] == "/items/300"  # the journal does not depend on the hook
    assert "after-write hook failed" in caplog.text


def test_a_process_that_exits_writes_what_it_still_held_first(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    StateStore(path).close()  # the schema, as the master process makes it
    script = (
        "import sys, time\n"
        "from mockserver.state import StateStore\n"
        f"store = StateStore({str(path)!r})\n"
        "for n in range(50):\n"
        "    store.record('s', {'at': time.time(), 'api': 'demo', 'operationId': 'op',\n"
        "                       'method': 'GET', 'path': f'/items/{n}', 'status': 200}, 100, [])\n"
        "sys.exit(0)  # no close(): as a gunicorn worker leaves\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    reader = StateStore(path)
    try:
        assert paths(reader) == [f"/items/{n}" for n in range(50)]
    finally:
        reader.close()


def test_entries_come_back_as_they_were_recorded(store: StateStore) -> None:
    class Count(int):  # marshal refuses subclasses of built-in types
        pass

    body = {"é": ["ü", 1.5, None, True, 10**30], "n": Count(3)}
    store.record("s", {**row(1), "body": body}, 100, [])
    (entry,) = store.journal("s", {}, 10)
    assert entry["body"] == {"é": ["ü", 1.5, None, True, 10**30], "n": 3}
    (page,) = store.journal_pages("s", {}, 10)
    assert json.loads(page[0]) == entry and "é" in page[0]  # JSON as sent, not \\u-escaped


@pytest.mark.skipif(not hasattr(os, "fork"), reason="flock is POSIX")
def test_writes_wait_for_the_write_lock_another_process_holds(store: StateStore) -> None:
    import fcntl
    import threading

    store.increment("s", "warm")  # opens this process's connection and its lock file
    other = os.open(str(store.path) + ".lock", os.O_RDWR)  # as another process holds it
    fcntl.flock(other, fcntl.LOCK_EX)
    done: list[int] = []
    try:
        writer = threading.Thread(target=lambda: done.append(store.increment("s", "k")))
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive() and not done  # it waits on the lock, not in SQLite
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    writer.join(timeout=30)
    assert done == [1]
    store.record("s", row(1), 100, [("demo", "op", "status", "200")])
    assert paths(store) == ["/items/1"]  # the journal's writer takes the lock too
