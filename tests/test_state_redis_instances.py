"""Several `mockserver serve` instances on one real Redis behave as one mock (issue 19).

Each instance is its own `mockserver serve --state redis://...` process with its own
workers, on its own free port. Requests are spread over them round-robin from several
client threads; reads go to any one instance. No sleeps: waiting is on real answers.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, LiveServer
from tests.redis_server import (
    RedisServer,
    free_port,
    own_redis,
    redis_server,
    running_redis,
    tls_redis,
)

__all__ = ["own_redis", "redis_server", "tls_redis"]  # fixtures, used by name below

STATELESS = "/api/v1/events/subscriptions/project/p1/"  # getProjectSubscriptions
RULED = "/api/v1/events/query/"  # queryEvents: the scenarios below match it
PETS = """\
openapi: 3.1.0
info: {title: Reloaded, version: "1"}
paths:
  /pets:
    get:
      operationId: listThem
      responses:
        "200": {description: ok}
"""


def start_instances(count: int, *args: str) -> list[LiveServer]:
    """`count` instances started at once (each takes a second or two to start)."""
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: LiveServer(*args), range(count)))


def stop_all(servers: list[LiveServer]) -> None:
    codes = [server.stop() for server in servers]
    assert codes == [0] * len(servers), [s.output()[-800:] for s in servers]


def spread(
    servers: list[LiveServer],
    total: int,
    send: Callable[[requests.Session, str, int], requests.Response],
    clients: int = 6,
) -> list[tuple[int, int, requests.Response]]:
    """`total` calls, round-robin over the instances, from `clients` threads: (client,
    call number, response) for each, every client's calls in the order it made them."""
    numbers = iter(range(total))

    def client(index: int) -> list[tuple[int, int, requests.Response]]:
        done = []
        with requests.Session() as session:
            for n in numbers:  # shared: each call number is taken once
                url = servers[n % len(servers)].url
                done.append((index, n, send(session, url, n)))
        return done

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return [call for part in pool.map(client, range(clients)) for call in part]


def call_number(entry: dict[str, Any]) -> int:
    headers = {key.lower(): value for key, value in entry["headers"].items()}
    return int(headers["x-test-call"])


def listing(server: LiveServer, session: str, **query: Any) -> dict[str, Any]:
    response = requests.get(
        f"{server.url}/__mock/requests", params={"session": session, **query}, timeout=30
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def shared(redis_server: RedisServer) -> Iterator[list[LiveServer]]:
    """Three instances with two workers each, on the session's Redis (database 1)."""
    redis_server.flush()
    servers = start_instances(3, "--state", redis_server.url.replace("/0", "/1"), "--workers", "2")
    yield servers
    stop_all(servers)


def test_3000_requests_over_three_instances_are_all_in_the_journal_of_each(
    shared: list[LiveServer],
) -> None:
    session = "spread-3000"

    def send(http: requests.Session, url: str, n: int) -> requests.Response:
        return http.get(url + STATELESS, headers={"X-Mock-Session": session, "X-Test-Call": str(n)})

    calls = spread(shared, 3000, send)
    assert sorted(n for _, n, _ in calls) == list(range(3000))
    assert {r.status_code for _, _, r in calls} == {200}
    made_by = {n: client for client, n, _ in calls}
    for server in shared:  # the same journal, whichever instance is asked
        entries = listing(server, session)["requests"]
        numbers = [call_number(entry) for entry in entries]
        assert sorted(numbers) == list(range(3000)), f"{len(numbers)} of 3000 from {server.url}"
        times = [entry["at"] for entry in entries]
        assert times == sorted(times), "oldest first"
        for client in set(made_by.values()):  # each client's calls in the order it made them
            mine = [n for n in numbers if made_by[n] == client]
            assert mine == sorted(mine)
    coverage = requests.get(f"{shared[0].url}/__mock/coverage?session={session}", timeout=30)
    assert coverage.status_code == 200
    (op,) = [o for o in coverage.json()["operations"] if o["statuses"]["counts"]]
    assert op["operationId"] == "getProjectSubscriptions"
    assert op["statuses"]["counts"] == {"200": 3000}  # exact: every instance's requests


def test_times_77_fires_exactly_77_times_across_instances(shared: list[LiveServer]) -> None:
    session = "times-77"
    document = {
        "scenarios": [
            {"name": "seventy-seven", "match": {"operationId": "queryEvents"}, "times": 77,
             "respond": {"status": 400}},
        ]
    }  # fmt: skip
    loaded = requests.put(
        f"{shared[1].url}/__mock/scenarios?session={session}", data=json.dumps(document),
        timeout=30,
    )  # fmt: skip
    assert loaded.status_code == 200, loaded.text

    def send(http: requests.Session, url: str, n: int) -> requests.Response:
        return http.get(url + RULED, headers={"X-Mock-Session": session})

    calls = spread(shared, 200, send, clients=8)
    statuses = [r.status_code for _, _, r in calls]
    assert statuses.count(400) == 77, statuses
    assert statuses.count(200) == 200 - 77
    entries = listing(shared[2], session)["requests"]
    assert [e["scenario"] for e in entries].count("seventy-seven") == 77
    # Loading the document again restarts its count, for every instance.
    requests.put(
        f"{shared[0].url}/__mock/scenarios?session={session}", data=json.dumps(document),
        timeout=30,
    )  # fmt: skip
    again = [r.status_code for _, _, r in spread(shared, 80, send, clients=4)]
    assert again.count(400) == 77


def test_a_sequence_gives_each_answer_exactly_once_across_instances(
    shared: list[LiveServer],
) -> None:
    session = "sequence-5"
    steps = [{"status": 400, "headers": {"X-Step": str(k)}} for k in range(1, 6)]
    document = {"scenarios": [{"name": "steps", "match": {"operationId": "queryEvents"},
                               "sequence": steps}]}  # fmt: skip
    loaded = requests.put(
        f"{shared[2].url}/__mock/scenarios?session={session}", data=json.dumps(document),
        timeout=30,
    )  # fmt: skip
    assert loaded.status_code == 200, loaded.text

    def send(http: requests.Session, url: str, n: int) -> requests.Response:
        return http.get(url + RULED, headers={"X-Mock-Session": session})

    calls = [r for _, _, r in spread(shared, 60, send, clients=6)]
    answered = sorted(int(r.headers["X-Step"]) for r in calls if r.status_code == 400)
    assert answered == [1, 2, 3, 4, 5]  # the k-th call of all instances got the k-th answer
    assert sum(r.status_code == 200 for r in calls) == 55


def test_sessions_stay_apart_across_instances(shared: list[LiveServer]) -> None:
    def send(session: str) -> Callable[[requests.Session, str, int], requests.Response]:
        return lambda http, url, n: http.get(url + STATELESS, headers={"X-Mock-Session": session})

    spread(shared, 30, send("apart-a"), clients=3)
    spread(shared, 4, send("apart-b"), clients=2)
    assert len(listing(shared[0], "apart-a")["requests"]) == 30
    assert len(listing(shared[1], "apart-b")["requests"]) == 4
    requests.delete(f"{shared[2].url}/__mock/requests?session=apart-a", timeout=30)
    assert listing(shared[0], "apart-a")["requests"] == []
    assert len(listing(shared[0], "apart-b")["requests"]) == 4


@pytest.fixture(scope="module")
def small_redis() -> Iterator[RedisServer]:
    """A Redis of this module's own: the outage test stops and restarts it."""
    yield from running_redis()


@pytest.fixture(scope="module")
def small(small_redis: RedisServer) -> Iterator[list[LiveServer]]:
    """Three instances of one worker each, journals of 40 entries per session."""
    servers = start_instances(
        3, "--state", small_redis.url, "--workers", "1", "--journal-size", "40"
    )
    yield servers
    stop_all(servers)


def test_the_per_session_bound_holds_across_instances(small: list[LiveServer]) -> None:
    def send(session: str) -> Callable[[requests.Session, str, int], requests.Response]:
        return lambda http, url, n: http.get(
            url + STATELESS, headers={"X-Mock-Session": session, "X-Test-Call": str(n)}
        )

    spread(small, 3, send("quiet"), clients=1)
    spread(small, 100, send("busy"), clients=1)  # one client: a known order
    busy = listing(small[0], "busy")["requests"]
    assert [call_number(e) for e in busy] == list(range(60, 100))  # the newest 40, not 3 x 40
    assert len(listing(small[1], "quiet")["requests"]) == 3  # not evicted by "busy"


def wait_for(condition: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    """Poll a real check until it holds (bounded)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"not within {limit} s: {what}"
        time.sleep(0.02)  # between two real checks


def health(server: LiveServer) -> dict[str, Any]:
    body: dict[str, Any] = requests.get(f"{server.url}/__mock/health", timeout=10).json()
    return body


def test_redis_going_away_and_coming_back(
    small_redis: RedisServer, small: list[LiveServer]
) -> None:
    servers, own_redis = small, small_redis
    try:
        document = {"scenarios": [{"name": "always", "match": {"operationId": "queryEvents"},
                                   "respond": {"status": 400}}]}  # fmt: skip
        put = requests.put(
            f"{servers[0].url}/__mock/scenarios?session=ruled", data=json.dumps(document),
            timeout=30,
        )  # fmt: skip
        assert put.status_code == 200
        for server in servers:  # each instance has seen the session's rules once
            ruled = requests.get(server.url + RULED, headers={"X-Mock-Session": "ruled"})
            assert ruled.status_code == 400

        def stateless(http: requests.Session, url: str, n: int) -> requests.Response:
            return http.get(url + STATELESS, headers={"X-Mock-Session": "outage"})

        before = spread(servers, 90, stateless, clients=3)
        assert len(listing(servers[0], "outage")["requests"]) == 40  # all written: 90, bound 40
        own_redis.stop()
        during = spread(servers, 300, stateless, clients=3)
        assert {r.status_code for _, _, r in before + during} == {200}  # no 5xx, ever

        ruled = requests.get(servers[1].url + RULED, headers={"X-Mock-Session": "ruled"})
        assert ruled.status_code == 503
        assert ruled.headers["Content-Type"].startswith("application/problem+json")
        problem = ruled.json()
        assert problem["type"] == "urn:mockserver:problem:state-unavailable"
        assert "Redis at redis://127.0.0.1" in problem["detail"]
        listing_down = requests.get(f"{servers[2].url}/__mock/requests?session=outage", timeout=30)
        assert listing_down.status_code == 503
        assert listing_down.json()["backend"] == "redis"
        states = [health(server) for server in servers]
        assert {s["status"] for s in states} == {"degraded"}
        assert {s["state"]["ok"] for s in states} == {False}
        assert "Redis at redis://127.0.0.1" in states[0]["state"]["detail"]
        # Answered by each instance (one worker) during the outage: 100, and the 503 above
        # by the second; each holds 40 (its journal's size), the rest are dropped. (The
        # writer puts back a batch it could not write an instant after trying it.)
        for server, dropped in zip(servers, (60, 61, 60), strict=True):
            wait_for(lambda s=server, d=dropped: health(s)["state"]["dropped"] == d, "dropped")
        assert "40 journal entries held" in health(servers[0])["state"]["detail"]

        own_redis.start()  # the same port, empty (no persistence)
        for server in servers:
            wait_for(lambda s=server: health(s)["status"] == "ok", "health ok again")
        after = spread(servers, 30, stateless, clients=3)
        assert {r.status_code for _, _, r in after} == {200}
        entries = listing(servers[0], "outage")
        # The last 40 each held were written once Redis was back, and what came after.
        assert len(entries["requests"]) == 40
        assert [health(s)["state"]["dropped"] for s in servers] == [60, 61, 60]
        put = requests.put(
            f"{servers[2].url}/__mock/scenarios?session=ruled", data=json.dumps(document),
            timeout=30,
        )  # fmt: skip
        assert put.status_code == 200
        assert (
            requests.get(servers[0].url + RULED, headers={"X-Mock-Session": "ruled"}).status_code
            == 400
        )
    finally:
        if own_redis.process is None:  # for the tests after this one
            own_redis.start()


def test_redis_stopped_while_requests_are_in_flight(
    small_redis: RedisServer, small: list[LiveServer]
) -> None:
    servers = small
    dropped_before = sum(health(server)["state"]["dropped"] for server in servers)

    def send(http: requests.Session, url: str, n: int) -> requests.Response:
        if n == 150:  # the other clients' requests are in flight meanwhile
            small_redis.stop()
        return http.get(url + STATELESS, headers={"X-Mock-Session": "midway"})

    try:
        calls = spread(servers, 450, send, clients=6)
    finally:
        if small_redis.process is None:
            small_redis.start()
    assert sorted(n for _, n, _ in calls) == list(range(450))
    assert {r.status_code for _, _, r in calls} == {200}  # none waited for Redis, no 5xx
    for server in servers:
        wait_for(lambda s=server: health(s)["status"] == "ok", "health ok again")
    kept = listing(servers[0], "midway")
    assert len(kept["requests"]) == 40  # each instance held its newest 40 and wrote them
    dropped = sum(health(server)["state"]["dropped"] for server in servers) - dropped_before
    assert dropped > 0 and kept["dropped"] > 0  # counted, in the health and in the listing


def test_a_request_that_matches_no_rule_costs_one_round_trip_and_waits_for_no_write(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKSERVER_STATE", own_redis.url)  # the variable, not the flag
    server = LiveServer("--workers", "1")
    try:
        headers = {"X-Mock-Session": "trips"}
        with requests.Session() as http, own_redis.client() as client:
            # Once per session and process: its scenarios read, the journal writer started.
            assert http.get(server.url + STATELESS, headers=headers).status_code == 200
            assert len(listing(server, "trips")["requests"]) == 1
            client.config_resetstat()
            # Redis runs no write from here on (the journal's script waits in Redis): every
            # answer below is sent before its journal entry is written.
            client.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
            try:
                for _ in range(20):
                    assert http.get(server.url + STATELESS, headers=headers).status_code == 200
                stats = client.info("commandstats")
                assert client.zcard("mockserver:j:trips") == 1
            finally:
                client.execute_command("CLIENT", "UNPAUSE")
        calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        ours = {"config|resetstat", "client|pause"}
        assert {name: n for name, n in calls.items() if name not in ours} == {"mget": 20}
        assert len(listing(server, "trips")["requests"]) == 21  # written once Redis could
    finally:
        assert server.stop() == 0


def test_an_instance_on_rediss_keeps_its_state_in_redis_across_a_hot_reload(
    tls_redis: RedisServer, tmp_path: Path
) -> None:
    spec = tmp_path / "api.yaml"
    spec.write_text(PETS)
    server = LiveServer(str(spec), "--workers", "1", "--state", tls_redis.url)
    try:
        session = {"X-Mock-Session": "r"}
        assert requests.get(server.url + "/pets", headers=session).status_code == 200
        version = health(server)["version"]
        spec.write_text(PETS.replace("/pets:", "/owners:"))
        os.kill(server.process.pid, signal.SIGHUP)
        wait_for(lambda: health(server)["version"] != version, "the reloaded version")
        # The old worker may take a last connection while it stops: wait, in another session,
        # until the new version answers every new connection's request.
        probe = {"X-Mock-Session": "probe"}
        wait_for(
            lambda: requests.get(server.url + "/owners", headers=probe).status_code == 200,
            "the reloaded version to answer",
        )
        assert requests.get(server.url + "/owners", headers=session).status_code == 200
        assert [e["path"] for e in listing(server, "r")["requests"]] == ["/pets", "/owners"]
        assert health(server)["state"]["backend"] == "redis"
        with tls_redis.client() as client:
            assert client.zcard("mockserver:j:r") == 2  # in Redis, not in a local file
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("given", ["flag", "variable"])
def test_start_up_with_redis_unreachable_fails_at_once_with_one_line(given: str) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    flag = ["--state", url] if given == "flag" else []
    done = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", *flag],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "MOCKSERVER_STATE": url if given == "variable" else ""},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Redis at redis://:***@127.0.0.1" in lines[0] and "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert time.monotonic() - started < 30


def test_a_state_url_that_is_not_redis_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--state", "postgres://x/y"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "is not a Redis URL" in done.stderr
