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
from tests.redis_server import RedisServer, own_redis, redis_server, tls_redis

__all__ = ["own_redis", "redis_server", "tls_redis"]  # fixtures, used by name below


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
    first = one.scenarios("s")[0]
    assert two.scenarios("s")[0] == first > 0
    counts = [store.increment("s", "rule:0") for store in (one, two, one, two)]
    assert counts == [1, 2, 3, 4]
    one.set_scenarios("s", {"scenarios": []})
    assert two.scenarios("s")[0] > first
    assert two.increment("s", "rule:0") == 1


def test_a_call_matched_by_rules_replaced_meanwhile_counts_for_nothing(
    stores: list[RedisStore],
) -> None:
    one, two = stores
    one.set_scenarios("s", {"scenarios": []})
    assert two.scenarios("s")[0] > 0  # `two` compiled this version
    one.set_scenarios("s", {"scenarios": ["new"]})
    assert two.increment("s", "rule:0") > 10**18  # matched with the old one: fires no rule
    assert one.increment("s", "rule:0") == 1  # version 2's count starts exact


def test_any_change_is_seen_by_every_instance_even_after_redis_is_emptied(
    stores: list[RedisStore], redis_server: RedisServer
) -> None:
    one, two = stores
    before = two.scenarios_changes()
    one.set_scenarios("s", {"scenarios": []})
    seen = two.scenarios_changes()
    assert seen != before
    old_version = two.scenarios("s")[0]
    with redis_server.client() as client:
        client.flushall()  # a restart with no persistence
    one.set_scenarios("s", {"scenarios": ["other"]})  # the count starts again: the epoch differs
    assert two.scenarios_changes() not in (before, seen)
    version, document = two.scenarios("s")
    assert version != old_version and document == {"scenarios": ["other"]}


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


def test_sessions_unused_past_their_ttl_are_forgotten(url: str) -> None:
    store = RedisStore(url, Bounds(session_ttl=0.05))
    try:
        store.set_scenarios("old", {"scenarios": []})
        store.record("old", row(1), 100, [("a", "op", "status", "200")])
        store.settle()
        deadline = time.monotonic() + 10
        while store.journal("old", {}, 10):  # each write forgets the sessions idle past the TTL
            assert time.monotonic() < deadline, "the idle session was not forgotten"
            store.record("new", row(2), 100, [])
            store.settle()
        assert store.scenarios("old") == (0, None)
        assert store.coverage(None) == [("a", "op", "status", "200", 1)]  # folded in
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
        known = store.scenarios("known")
        assert known[1] == {"scenarios": ["x"]}
        monkeypatch.setattr(redis_store, "RETRY_AFTER", 3600.0)
        own_redis.stop()
        first, second = store.scenarios_changes(), store.scenarios_changes()
        assert first < 0 and second < 0 and first != second  # never taken for fresh
        assert store.scenarios("known") == known
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


def test_rediss_connects_with_tls_and_a_password(tls_redis: RedisServer) -> None:
    with tls_redis.client() as client:
        client.config_set("requirepass", "s3cret")
    url = tls_redis.url.replace("rediss://", "rediss://:s3cret@")
    store = RedisStore.from_url(url)
    try:
        store.set_scenarios("s", {"scenarios": []})
        store.record("s", row(1), 10, [])
        assert [entry["path"] for entry in store.journal("s", {}, 10)] == ["/things/1"]
        assert store.health().ok and "s3cret" not in str(store.health())
    finally:
        store.close()
    with pytest.raises(StateUnavailable, match="cannot reach Redis at rediss://:\\*\\*\\*@"):
        # the server's certificate is not trusted without its CA
        RedisStore.from_url(url.split("?")[0])


def test_while_redis_is_lost_requests_leave_the_retrying_to_the_writer(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisStore(own_redis.url)
    try:
        store.record("s", row(1), 10, [])  # this process's writer and settle listener
        store.settle()
        monkeypatch.setattr(redis_store, "RETRY_AFTER", 0.0)  # no retry window at all
        own_redis.stop()
        assert store.scenarios_changes() < 0  # tried, failed: Redis is lost
        tries: list[Any] = []
        monkeypatch.setattr(store, "_quick", lambda *command: tries.append(command))
        for _ in range(50):
            assert store.scenarios_changes() < 0
            with pytest.raises(StateUnavailable):
                store.increment("s", "rule:0")
        assert tries == []  # a request never waits on a Redis that may not answer at all
        monkeypatch.undo()
        own_redis.start()
        deadline = time.monotonic() + 10
        while store.scenarios_changes() < 0:  # the writer's threads find Redis back
            assert time.monotonic() < deadline, "not back within 10 s"
            time.sleep(0.02)  # between two real checks
        assert store.increment("s", "rule:0") == 1
    finally:
        store.close()


def test_a_batch_sent_again_is_written_once(url: str) -> None:
    """The script takes a writer's batch number: the same batch twice (the answer to the
    first lost) changes nothing the second time, a later number is written."""
    store = RedisStore(url)
    try:
        entries = [("s", row(n), 100, [("a", "op", "status", "200")]) for n in range(3)]
        assert store.write(entries, None, ("w", 1)) is True
        assert store.write(entries, None, ("w", 1)) is False
        later = [("s", row(9), 100, [("a", "op", "status", "200")])]
        assert store.write(later, None, ("w", 2)) is True
        paths = [entry["path"] for entry in store.journal("s", {}, 100)]
        assert paths == ["/things/0", "/things/1", "/things/2", "/things/9"]
        assert store.coverage("s") == [("a", "op", "status", "200", 4)]
    finally:
        store.close()


def test_a_write_that_timed_out_after_redis_wrote_it_is_not_journaled_twice(
    stores: list[RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis wrote the batch but its answer did not come in time: the writer sends the
    same batch again, and every entry and count is there once."""
    import redis

    writer, reader = stores
    real = writer._write
    failed: list[int] = []

    def answer_lost(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)  # written in Redis...
        if not failed:
            failed.append(1)
            raise redis.TimeoutError("Timeout reading from socket")  # ...but not told
        return result

    monkeypatch.setattr(writer, "_write", answer_lost)
    for n in range(5):
        writer.record("s", row(n), 1000, [("a", "op", "status", "200")])
    paths = [entry["path"] for entry in reader.journal("s", {}, 1000)]
    assert failed == [1]
    assert paths == [f"/things/{n}" for n in range(5)]
    assert reader.coverage("s") == [("a", "op", "status", "200", 5)]
    assert reader.journal_info("s").dropped == 0
