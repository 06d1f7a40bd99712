"""The local store: SQLite and shared memory across forked processes, batches, flock."""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver import scenarios
from mockserver.fixtures import FixtureStore
from mockserver.problems import StateUnavailable
from mockserver.state import Bounds, LocalStore
from mockserver.state.local import _transaction
from tests.state.conftest import paths, row


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    store = LocalStore(tmp_path / "state.sqlite")
    yield store
    store.close()


def _child(store: LocalStore, count: int, ready: Any, release: Any) -> None:
    for n in range(count):
        store.record("s", row(n), 100_000, [])
    ready.send("recorded")  # answered, in server terms: the parent may now read
    release.recv()  # stay alive, as a worker does, until the parent has read


FORK_WARNING = "ignore:This process .* is multi-threaded:DeprecationWarning"
"""Python 3.12+ warns about forking with threads; a forked server worker is what is tested."""


@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_read_in_one_process_waits_for_another_process_s_writer(store: LocalStore) -> None:
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
    store: LocalStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
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


def test_entries_recorded_close_together_are_written_in_one_batch(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mockserver.state.writer.WRITE_LINGER", 0.5)  # generous: a loaded machine
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
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mockserver.state.writer._QUEUE_SIZE", 3)
    monkeypatch.setattr("mockserver.state.writer._BATCH", 2)
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


def test_a_process_that_exits_writes_what_it_still_held_first(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    LocalStore(path).close()  # the schema, as the master process makes it
    script = (
        "import sys, time\n"
        "from mockserver.state import LocalStore\n"
        f"store = LocalStore({str(path)!r})\n"
        "for n in range(50):\n"
        "    store.record('s', {'at': time.time(), 'api': 'demo', 'operationId': 'op',\n"
        "                       'method': 'GET', 'path': f'/items/{n}', 'status': 200}, 100, [])\n"
        "sys.exit(0)  # no close(): as a gunicorn worker leaves\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    reader = LocalStore(path)
    try:
        assert paths(reader) == [f"/items/{n}" for n in range(50)]
    finally:
        reader.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="flock is POSIX")
def test_writes_wait_for_the_write_lock_another_process_holds(store: LocalStore) -> None:
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


def test_a_failed_write_is_counted_logged_and_seen_in_health(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_write = store.write
    failing = [True]

    def write(entries: Any) -> None:
        if failing[0]:
            raise sqlite3.OperationalError("disk I/O error")
        real_write(entries)

    monkeypatch.setattr(store, "write", write)
    with caplog.at_level(logging.ERROR, logger="mockserver"):
        store.record("s", row(0), 100, [])
        assert paths(store) == []  # the read did not hang on the lost entry
    health = store.health()
    assert not health.ok and health.dropped == 1
    assert health.detail is not None and "disk I/O error" in health.detail
    assert store.journal_info("s").dropped == 1
    assert "could not write 1 entries, they are lost (OperationalError: disk I/O error)" in (
        caplog.text
    )
    failing[0] = False
    store.record("s", row(1), 100, [])
    assert paths(store) == ["/items/1"]
    health = store.health()
    assert health.ok and health.dropped == 1  # writing again; what was lost stays counted


def test_the_real_error_is_raised_when_the_rollback_fails_too(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.sqlite", isolation_level=None)
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    with pytest.raises(sqlite3.IntegrityError), _transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("COMMIT")  # the transaction ends here: the ROLLBACK will fail
        conn.execute("INSERT INTO t VALUES (1)")  # the real error
    conn.close()


def test_a_counter_that_cannot_be_written_is_a_503_naming_the_store(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        def execute(self, *args: Any) -> Any:
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_connection", lambda: Broken())
    with pytest.raises(StateUnavailable) as raised:
        store.increment("s", "rule:0")
    assert raised.value.status == 503 and "local store" in raised.value.detail
    assert "disk I/O error" in raised.value.detail


def test_sessions_beyond_the_bound_are_forgotten_least_recently_used_first(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "state.sqlite", Bounds(sessions=3))
    try:
        for n in range(6):
            session = f"s{n}"
            store.set_scenarios(session, {"scenarios": []})
            store.increment(session, "rule:0")
            store.record(session, row(n), 100, [("demo", "op", "status", "200")])
            store.settle()  # one batch per session: they are used one after the other
        store.record("default", row(99), 100, [])
        store.settle()
        assert [paths(store, f"s{n}") for n in range(6)] == [
            [],
            [],
            [],
            ["/items/3"],
            ["/items/4"],
            ["/items/5"],
        ]
        assert store.scenarios("s0") == (0, None)
        assert store.scenarios("s5")[1] == {"scenarios": []}
        assert store.increment("s0", "rule:0") == 1  # its counters went with it
        assert paths(store, "default") == ["/items/99"]  # never forgotten, never counted
        assert store.coverage(None) == [("demo", "op", "status", "200", 6)]  # folded in
        assert store.coverage("s0") == []
    finally:
        store.close()


def test_sessions_unused_past_their_ttl_are_forgotten(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state.sqlite", Bounds(session_ttl=60))
    try:
        store.record("old", row(1), 100, [])
        store.settle()
        assert store.forget_sessions(now=time.time() + 30) == 0
        assert paths(store, "old") == ["/items/1"]
        assert store.forget_sessions(now=time.time() + 120) == 1
        assert paths(store, "old") == []
    finally:
        store.close()


def test_a_forgotten_session_made_again_gets_a_new_scenario_version(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state.sqlite", Bounds(session_ttl=60))
    try:
        store.set_scenarios("s", {"scenarios": [1]})
        first, _ = store.scenarios("s")
        assert store.forget_sessions(now=time.time() + 120) == 1
        store.set_scenarios("s", {"scenarios": [2]})
        second, _ = store.scenarios("s")
        assert second != first  # a worker's compiled copy of the first is stale
    finally:
        store.close()


def test_clearing_works_when_the_journal_file_cannot_grow(store: LocalStore) -> None:
    for n in range(20):
        store.record("s", row(n, body="z" * 5000), 100, [])
    store.settle()
    files = [Path(f"{f}{s}") for f in (store.journal_path, store.path) for s in ("", "-wal")]
    sizes = {f.name: f.stat().st_size for f in files if f.exists()}
    # The journal's write-ahead log is the largest file: from here on it cannot grow.
    assert max(sizes, key=lambda name: sizes[name]) == store.journal_path.name + "-wal"
    limit = max(sizes.values())
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old[1]))
    try:
        store.clear_journal("s")  # a DELETE needs the journal's files to grow
        assert paths(store) == []
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)


def test_a_process_keeps_compiled_scenarios_of_a_bounded_number_of_sessions(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scenarios, "CACHED_SESSIONS", 5)
    book = scenarios.ScenarioBook(store, (), FixtureStore())
    for n in range(20):
        book.current(f"s{n}")
    assert len(book._cache) == 5
