"""What every store does, whichever it is: run against each store of `conftest.MAKERS`."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from mockserver.state import Bounds, Health, Store
from tests.state.conftest import MakeStore, paths, row

COVERED = [("demo", "op", "status", "200")]


# -- counters and scenarios -------------------------------------------------------------
def test_counters_count_per_session_and_key(store: Store) -> None:
    assert [store.increment("s", "rule:0") for _ in range(3)] == [1, 2, 3]
    assert store.increment("s", "rule:1") == 1
    assert store.increment("other", "rule:0") == 1


def test_scenarios_are_kept_per_session_with_a_version(store: Store) -> None:
    assert store.scenarios("s") == (0, None)
    before = store.scenarios_changes()
    store.set_scenarios("s", {"rules": [{"name": "a"}]})
    assert store.scenarios_changes() != before
    first, document = store.scenarios("s")
    assert first > 0 and document == {"rules": [{"name": "a"}]}
    store.set_scenarios("s", {"rules": []})
    second, document = store.scenarios("s")
    assert second > first and document == {"rules": []}  # a new number, never reused
    assert store.scenarios("other") == (0, None)


def test_replacing_scenarios_restarts_their_counters(store: Store) -> None:
    store.increment("s", "rule:0")
    store.increment("other", "rule:0")
    store.set_scenarios("s", None)
    assert store.increment("s", "rule:0") == 1
    assert store.increment("other", "rule:0") == 2


# -- journal --------------------------------------------------------------------------------
def test_a_read_right_after_recording_sees_every_entry_in_order(store: Store) -> None:
    for n in range(2000):
        store.record("s", row(n), 10_000, COVERED)
    assert paths(store) == [f"/items/{n}" for n in range(2000)]
    assert store.coverage("s") == [("demo", "op", "status", "200", 2000)]


def test_entries_are_ordered_by_when_the_request_began(store: Store) -> None:
    store.record("s", row(2, at=200.0), 100, [])
    store.record("s", row(1, at=100.0), 100, [])
    assert paths(store) == ["/items/1", "/items/2"]


def test_the_newest_come_first_when_asked(store: Store) -> None:
    for n in range(30):
        store.record("s", row(n, at=1000.0 + n), 100, [])
    newest = store.journal("s", {}, 5, order="desc")
    assert [e["path"] for e in newest] == [f"/items/{n}" for n in range(29, 24, -1)]
    pages = list(store.journal_pages("s", {}, 7, page_size=3, order="desc"))
    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [json.loads(text)["path"] for page in pages for text in page]
    assert listed == [f"/items/{n}" for n in range(29, 22, -1)]


def test_the_last_entries_come_oldest_first(store: Store) -> None:
    for n in range(30):
        store.record("s", row(n, at=1000.0 + n // 2, status=200 + n % 2), 100, [])
    last = store.journal("s", {}, 5, order="last")
    assert [e["path"] for e in last] == [f"/items/{n}" for n in range(25, 30)]
    odd = store.journal("s", {"status": 201}, 3, order="last")
    assert [e["path"] for e in odd] == ["/items/25", "/items/27", "/items/29"]
    assert len(store.journal("s", {}, 100, order="last")) == 30
    assert store.journal_count("s", {}) == 30 and store.journal_count("s", {"status": 201}) == 15


def test_the_journal_keeps_only_the_newest(store: Store) -> None:
    for n in range(50):
        store.record("s", row(n), 10, [])
    assert paths(store) == [f"/items/{n}" for n in range(40, 50)]


def test_the_newest_kept_are_the_newest_answered_not_the_last_written(store: Store) -> None:
    """Workers write their batches in their own time: an entry answered earlier may be
    written after a later one (tests/test_journal.py's bound failed so, with 2 workers).
    The bound keeps what was answered last, as listings order it."""
    now = time.time()
    for n in range(6):
        store.record("s", row(n, at=now + (n if n != 3 else -10)), 5, [])
    assert paths(store) == [f"/items/{n}" for n in (0, 1, 2, 4, 5)]  # 3, answered first, goes


def test_clearing_also_clears_what_was_still_queued(store: Store) -> None:
    for n in range(500):
        store.record("s", row(n), 10_000, COVERED)
    store.clear_journal("s")
    assert paths(store) == []
    assert store.journal_info("s").kept == 0
    store.record("s", row(500), 10_000, COVERED)
    assert paths(store) == ["/items/500"]


def test_clearing_a_journal_keeps_what_it_covered(store: Store) -> None:
    store.record("s", row(1), 100, COVERED)
    store.clear_journal("s")
    assert store.coverage("s") == [("demo", "op", "status", "200", 1)]
    assert store.coverage(None) == [("demo", "op", "status", "200", 1)]


def test_each_session_keeps_its_own_newest_entries(store: Store) -> None:
    for n in range(3):
        store.record("quiet", row(n), 100, [])
    for n in range(150):
        store.record("busy", row(n), 100, [])
    assert paths(store, "quiet") == ["/items/0", "/items/1", "/items/2"]
    assert paths(store, "busy") == [f"/items/{n}" for n in range(50, 150)]
    busy = store.journal_info("busy")
    assert (busy.kept, busy.evicted) == (100, 50)
    assert store.journal_info("quiet").evicted == 0
    store.clear_journal("busy")
    assert store.journal_info("busy").evicted == 0  # a cleared journal starts afresh


def test_the_journal_is_bounded_in_bytes_across_sessions(make_store: MakeStore) -> None:
    store = make_store(Bounds(journal_bytes=60_000))
    body = "x" * 1_000
    for n in range(100):
        store.record("a" if n % 2 else "b", row(n, body=body), 10_000, [])
    kept = store.journal("a", {}, 1000) + store.journal("b", {}, 1000)
    assert 30 <= len(kept) < 60  # ~1 KB each, at most 60 KB together
    newest = sorted(int(e["path"].rsplit("/", 1)[1]) for e in kept)
    assert newest == list(range(100 - len(kept), 100))  # the oldest went first
    info = store.journal_info("a"), store.journal_info("b")
    assert sum(i.evicted for i in info) == 100 - len(kept)
    assert sum(i.kept for i in info) == len(kept)


def test_sessions_beyond_the_bound_are_forgotten_least_recently_used_first(
    make_store: MakeStore,
) -> None:
    store = make_store(Bounds(sessions=3))
    for n in range(6):
        session = f"s{n}"
        store.set_scenarios(session, {"scenarios": []})
        store.record(session, row(n), 100, [("demo", "op", "status", "200")])
        store.settle()  # one batch per session: they are used one after the other
    store.record("default", row(99), 100, [])
    store.settle()
    assert [paths(store, f"s{n}") for n in range(6)] == [[], [], [], *[[f"/items/{n}"] for n in (3, 4, 5)]]  # fmt: skip  # noqa: E501
    assert store.scenarios("s0") == (0, None)
    assert store.scenarios("s5")[1] == {"scenarios": []}
    assert store.increment("s0", "rule:0") == 1  # its counters went with it
    assert paths(store, "default") == ["/items/99"]  # never forgotten, never counted
    assert store.coverage(None) == [("demo", "op", "status", "200", 6)]  # folded in
    assert store.coverage("s0") == []


def test_a_forgotten_session_made_again_gets_a_new_scenario_version(
    make_store: MakeStore,
) -> None:
    store = make_store(Bounds(sessions=1))
    store.set_scenarios("s", {"scenarios": [1]})
    first, _ = store.scenarios("s")
    store.record("other", row(1), 100, [])  # "s" is the least recently used: forgotten
    store.settle()
    assert store.scenarios("s") == (0, None)
    store.set_scenarios("s", {"scenarios": [2]})
    second, document = store.scenarios("s")
    assert second != first and document == {"scenarios": [2]}  # a compiled copy is stale


def test_sessions_are_isolated(store: Store) -> None:
    store.record("a", row(1), 100, [])
    store.record("b", row(2), 100, [])
    assert paths(store, "a") == ["/items/1"]
    store.clear_journal("a")
    assert paths(store, "a") == [] and paths(store, "b") == ["/items/2"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": 404}, ["/items/1"]),
        ({"method": "POST"}, ["/items/2"]),
        ({"path": "/items/0"}, ["/items/0"]),
        ({"operationId": "other"}, ["/items/2"]),
        ({"api": "demo"}, ["/items/0", "/items/1", "/items/2"]),
        ({"since": 1001.0}, ["/items/1", "/items/2"]),
        ({"since": 1001.0, "status": 200}, ["/items/2"]),
        ({"since": 1001.0, "status": 500}, []),
    ],
)
def test_filters(store: Store, filters: dict[str, Any], expected: list[str]) -> None:
    store.record("s", row(0, at=1000.0), 100, [])
    store.record("s", row(1, at=1001.0, status=404), 100, [])
    store.record("s", row(2, at=1002.0, method="POST", operationId="other"), 100, [])
    assert [e["path"] for e in store.journal("s", filters, 100)] == expected


def test_a_listing_comes_a_page_at_a_time_in_order_up_to_its_limit(store: Store) -> None:
    for n in range(25):
        store.record("s", row(n, at=1000.0 + n // 2), 100, [])  # pairs share a start time
    pages = list(store.journal_pages("s", {}, 23, page_size=5))
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    listed = [json.loads(text)["path"] for page in pages for text in page]
    assert listed == [f"/items/{n}" for n in range(23)]
    assert list(store.journal_pages("other", {}, 23, page_size=5)) == []


def test_a_listing_holds_what_was_written_when_it_began(store: Store) -> None:
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


def test_entries_come_back_as_they_were_recorded(store: Store) -> None:
    class Count(int):  # marshal refuses subclasses of built-in types
        pass

    body = {"é": ["ü", 1.5, None, True, 10**30], "n": Count(3)}
    store.record("s", {**row(1), "body": body}, 100, [])
    (entry,) = store.journal("s", {}, 10)
    assert entry["body"] == {"é": ["ü", 1.5, None, True, 10**30], "n": 3}
    (page,) = store.journal_pages("s", {}, 10)
    assert json.loads(page[0]) == entry and "é" in page[0]  # JSON as sent, not \\u-escaped


def test_a_listing_page_is_bounded_in_bytes_too(store: Store) -> None:
    body = "y" * 1_000_000
    for n in range(12):
        store.record("s", row(n, body=body), 100, [])
    pages = list(store.journal_pages("s", {}, 100, page_size=500))
    assert sum(len(page) for page in pages) == 12
    assert max(len(page) for page in pages) <= 5  # about 4 MB a page, not 12 MB
    assert max(sum(len(text) for text in page) for page in pages) < 6_000_000


def test_the_journal_info_counts_what_a_session_holds(store: Store) -> None:
    for n in range(3):
        store.record("s", row(n), 100, [])
    info = store.journal_info("s")
    assert (info.kept, info.dropped) == (3, 0)
    assert store.journal_info("nobody").kept == 0


def test_written_rows_reach_the_after_write_hook_in_order(
    store: Store, caplog: pytest.LogCaptureFixture
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


# -- coverage ---------------------------------------------------------------------------------
def test_coverage_is_per_session_and_summed_over_all(store: Store) -> None:
    store.record("a", row(1), 100, [("demo", "op", "status", "200")])
    store.record("a", row(2), 100, [("demo", "op", "status", "200")])
    store.record("b", row(3), 100, [("demo", "op", "status", "404")])
    assert store.coverage("a") == [("demo", "op", "status", "200", 2)]
    assert sorted(store.coverage(None)) == [
        ("demo", "op", "status", "200", 2),
        ("demo", "op", "status", "404", 1),
    ]
    store.clear_coverage("a")
    assert store.coverage("a") == [] and store.coverage("b") != []
    store.clear_coverage(None)
    assert store.coverage(None) == []


def test_a_store_names_its_backend_in_its_health(store: Store) -> None:
    health = store.health()
    assert isinstance(health, Health) and health.backend == store.backend
    assert health.ok and health.dropped == 0
