"""The Redis store on its own, against a real redis-server: what only it has (several
store objects stand for several instances). The behaviour it shares with the local store
is tests/state/test_behaviour.py's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from mockserver.problems import StateUnavailable
from mockserver.state import Bounds, redis_store
from mockserver.state.redis_store import RedisStore, redact
from tests.redis_server import RedisServer, own_redis, redis_server

__all__ = ["own_redis", "redis_server"]  # fixtures, used by name below


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url.replace("/0", "/4")


@pytest.fixture
def stores(url: str) -> Iterator[list[RedisStore]]:
    """Two stores on one Redis: two instances of the mock."""
    made = [RedisStore(url), RedisStore(url)]
    yield made
    for store in made:
        store.close()


def row(n: int, **extra: Any) -> dict[str, Any]:
    return {"at": time.time(), "api": "a", "operationId": "op", "method": "GET",
            "path": f"/things/{n}", "status": 200, **extra}  # fmt: skip


def test_a_read_on_one_instance_waits_for_the_writers_of_the_others(
    stores: list[RedisStore],
) -> None:
    writer, reader = stores
    for n in range(300):  # handed to writer's thread, not yet in Redis
        writer.record("s", row(n), 1000, [("a", "op", "status", "200")])
    paths = [entry["path"] for entry in reader.journal("s", {}, 1000)]
    assert paths == [f"/things/{n}" for n in range(300)]
    assert reader.coverage("s") == [("a", "op", "status", "200", 300)]


def test_counts_are_shared_and_restart_with_a_new_document(stores: list[RedisStore]) -> None:
    one, two = stores
    one.set_scenarios("s", {"scenarios": []})
    assert one.scenarios("s")[0] == two.scenarios("s")[0] == 1
    counts = [store.increment("s", "rule:0") for store in (one, two, one, two)]
    assert counts == [1, 2, 3, 4]
    one.set_scenarios("s", {"scenarios": []})
    assert two.scenarios("s")[0] == 2
    assert two.increment("s", "rule:0") == 1


def test_a_call_matched_by_rules_replaced_meanwhile_counts_for_nothing(
    stores: list[RedisStore],
) -> None:
    one, two = stores
    one.set_scenarios("s", {"scenarios": []})
    assert two.scenarios("s")[0] == 1  # `two` compiled version 1
    one.set_scenarios("s", {"scenarios": ["new"]})
    assert two.increment("s", "rule:0") > 10**18  # matched with version 1: fires no rule
    assert one.increment("s", "rule:0") == 1  # version 2's count starts exact


def test_any_change_is_seen_by_every_instance_even_after_redis_is_emptied(
    stores: list[RedisStore], redis_server: RedisServer
) -> None:
    one, two = stores
    before = two.scenarios_changes()
    one.set_scenarios("s", {"scenarios": []})
    seen = two.scenarios_changes()
    assert seen != before
    with redis_server.client() as client:
        client.flushall()  # a restart with no persistence
    one.set_scenarios("s", {"scenarios": []})  # the count starts again: the epoch differs
    assert two.scenarios_changes() not in (before, seen)


def test_the_byte_bound_drops_the_oldest_entries_of_all_sessions(url: str) -> None:
    store = RedisStore(url, Bounds(journal_bytes=20_000))
    try:
        for n in range(100):
            store.record("old" if n < 50 else "new", row(n, body="x" * 300), 1000, [])
        store.settle()
        old, new = store.journal("old", {}, 1000), store.journal("new", {}, 1000)
        kept = [entry["path"] for entry in old + new]
        assert 30 <= len(kept) < 100  # ~450 bytes an entry
        assert kept == [f"/things/{n}" for n in range(100 - len(kept), 100)]  # the newest
        with store.client as client:
            assert int(client.get("mockserver:bytes") or 0) <= 20_000
            evicted = client.hgetall("mockserver:evicted")
            assert sum(int(count) for count in evicted.values()) == 100 - len(kept)
    finally:
        store.close()


def test_sessions_beyond_the_bound_are_forgotten_least_recently_active_first(url: str) -> None:
    store = RedisStore(url, Bounds(sessions=3))
    try:
        for name in ("default", "s1", "s2", "s3", "s4"):
            store.record(name, row(0), 100, [])
            store.settle()  # one batch each: an order of activity
        with store.client as client:
            kept = {s.decode() for s in client.zrange("mockserver:sessions", 0, -1)}
        assert kept == {"default", "s3", "s4"}  # "default" is never forgotten
        assert store.journal("s1", {}, 10) == [] and len(store.journal("s4", {}, 10)) == 1
    finally:
        store.close()


def test_a_password_in_the_url_is_used_and_never_shown(own_redis: RedisServer) -> None:
    with own_redis.client() as client:
        client.config_set("requirepass", "s3cret")
    good = RedisStore(f"redis://:s3cret@127.0.0.1:{own_redis.port}/0")
    good.check()
    assert good.health().ok is True
    assert "s3cret" not in str(good.health())
    with pytest.raises(StateUnavailable) as refused:
        RedisStore.from_url(f"redis://:wrong@127.0.0.1:{own_redis.port}/0")
    assert "wrong" not in str(refused.value) and ":***@" in str(refused.value)
    good.close()


def test_redact() -> None:
    assert redact("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact("rediss://user:pw@h:1/2") == "rediss://user:***@h:1/2"
    assert redact("redis://h:1/0") == "redis://h:1/0"


def test_with_redis_away_calls_fail_at_once_and_the_last_scenarios_are_used(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisStore(own_redis.url)
    try:
        store.set_scenarios("known", {"scenarios": ["x"]})
        assert store.scenarios("known") == (1, {"scenarios": ["x"]})
        monkeypatch.setattr(redis_store, "RETRY_AFTER", 3600.0)
        own_redis.stop()
        first, second = store.scenarios_changes(), store.scenarios_changes()
        assert first < 0 and second < 0 and first != second  # never taken for fresh
        assert store.scenarios("known") == (1, {"scenarios": ["x"]})
        assert store.scenarios("never-read") == (0, None)
        tries = []
        monkeypatch.setattr(store, "_increment", lambda **kw: tries.append(kw))
        for _ in range(100):
            with pytest.raises(StateUnavailable, match=r"Redis at redis://127\.0\.0\.1") as down:
                store.increment("known", "rule:0")
        assert tries == []  # within the retry window Redis is not even tried
        assert down.value.status == 503 and down.value.extra == {"backend": "redis"}
        assert store.health().ok is False
        monkeypatch.undo()
        own_redis.start()  # empty: no persistence
        store._down_until = 0.0  # the retry window is over
        assert store.health().ok is True
        assert store.scenarios("known") == (0, None)
        store.set_scenarios("known", {"scenarios": ["x"]})
        assert store.increment("known", "rule:0") == 1
    finally:
        store.close()
