"""Network faults on a real socket, and scripted scenarios, against `mockserver serve`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import LiveServer

EVENTS = "/api/v1/events/query/"
HUAWEI = "/V1.0/p1/events"


def raw_exchange(server: LiveServer, headers: str) -> tuple[bytes, BaseException | None]:
    """Send one GET by hand; return every byte received and the error that ended it."""
    parts = urlsplit(server.url)
    received = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"GET {EVENTS} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError as exc:
            return received, exc
    return received, None


def still_serving(server: LiveServer) -> None:
    assert requests.get(server.url + "/__mock/health", timeout=10).status_code == 200


def test_reset(live_server: LiveServer) -> None:
    received, error = raw_exchange(live_server, "X-Mock-Fault: reset\r\n")
    assert received == b""
    assert isinstance(error, ConnectionResetError)
    with pytest.raises(requests.ConnectionError):
        requests.get(live_server.url + EVENTS, headers={"X-Mock-Fault": "reset"}, timeout=10)
    still_serving(live_server)


def test_empty(live_server: LiveServer) -> None:
    assert raw_exchange(live_server, "X-Mock-Fault: empty\r\n") == (b"", None)
    with pytest.raises(requests.ConnectionError):
        requests.get(live_server.url + EVENTS, headers={"X-Mock-Fault": "empty"}, timeout=10)
    still_serving(live_server)


def test_malformed(live_server: LiveServer) -> None:
    received, error = raw_exchange(live_server, "X-Mock-Fault: malformed\r\n")
    assert error is None
    assert received and not received.startswith(b"HTTP/")
    with pytest.raises(requests.ConnectionError):
        requests.get(live_server.url + EVENTS, headers={"X-Mock-Fault": "malformed"}, timeout=10)
    still_serving(live_server)


def test_truncated(live_server: LiveServer) -> None:
    received, error = raw_exchange(live_server, "X-Mock-Fault: truncated\r\n")
    assert error is None
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    promised = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    assert 0 < len(body) < promised
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(live_server.url + EVENTS, headers={"X-Mock-Fault": "truncated"}, timeout=10)
    still_serving(live_server)


def test_fault_after_a_forced_status(live_server: LiveServer) -> None:
    received, _ = raw_exchange(live_server, "X-Mock-Fault: truncated\r\nX-Mock-Status: 400\r\n")
    assert received.startswith(b"HTTP/1.1 400 ")


# -- scenarios ------------------------------------------------------------------------------
@pytest.fixture
def scenarios(live_server: LiveServer) -> Iterator[str]:
    url = live_server.url + "/__mock/scenarios"
    yield url
    assert requests.delete(url, timeout=10).status_code == 204


def put(url: str, text: str, session: str | None = None) -> requests.Response:
    params = {"session": session} if session else None
    return requests.put(url, data=text.encode(), params=params, timeout=10)


def test_sequence_then_normal(live_server: LiveServer, scenarios: str) -> None:
    rule = """
scenarios:
  - name: rate-limited-once
    match: {method: GET, path: /api/v1/events/query/}
    sequence:
      - {status: 400, headers: {Retry-After: "1"}}
      - {status: 400}
"""
    assert put(scenarios, rule).status_code == 200
    answers = [requests.get(live_server.url + EVENTS, timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 200]
    assert answers[0].headers["Retry-After"] == "1"
    assert "Retry-After" not in answers[1].headers


def test_times_counts_across_worker_processes(tmp_path: Path) -> None:
    rule = tmp_path / "rules.yaml"
    rule.write_text(
        "scenarios:\n  - match: {operationId: queryEvents}\n    times: 7\n"
        "    respond: {status: 400}\n",
        encoding="utf-8",
    )
    server = LiveServer("--workers", "3", "--threads", "2", "--scenarios", str(rule))
    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(
                pool.map(
                    lambda _: requests.get(server.url + EVENTS, timeout=30).status_code, range(40)
                )
            )
    finally:
        assert server.stop() == 0
    assert statuses.count(400) == 7
    assert statuses.count(200) == 33


def test_scenarios_loaded_at_run_time_reach_every_worker_process() -> None:
    server = LiveServer("--workers", "3", "--threads", "2")
    rule = "scenarios:\n  - match: {operationId: queryEvents}\n    respond: {status: 400}\n"

    def statuses() -> list[int]:
        with ThreadPoolExecutor(max_workers=12) as pool:
            return list(
                pool.map(
                    lambda _: requests.get(server.url + EVENTS, timeout=30).status_code, range(30)
                )
            )

    try:
        assert set(statuses()) == {200}  # every worker has cached "no scenarios"
        assert put(server.url + "/__mock/scenarios", rule).status_code == 200
        assert set(statuses()) == {400}
        assert requests.delete(server.url + "/__mock/scenarios", timeout=10).status_code == 204
        assert set(statuses()) == {200}
    finally:
        assert server.stop() == 0


def test_seeded_probability_repeats(live_server: LiveServer, scenarios: str) -> None:
    rule = """
scenarios:
  - match: {operationId: queryEvents}
    probability: 0.3
    seed: 11
    respond: {status: 400}
"""

    def run() -> list[int]:
        assert put(scenarios, rule).status_code == 200  # loading again restarts the count
        return [requests.get(live_server.url + EVENTS, timeout=10).status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert 0 < first.count(400) < 30


def test_match_on_header_and_fault(live_server: LiveServer, scenarios: str) -> None:
    rule = """
scenarios:
  - match: {operationId: queryEvents, headers: {X-Tenant: flaky}}
    respond: {fault: reset}
"""
    assert put(scenarios, rule).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(live_server.url + EVENTS, headers={"X-Tenant": "flaky"}, timeout=10)
    assert requests.get(live_server.url + EVENTS, timeout=10).status_code == 200


def test_control_headers_win_over_scenarios(live_server: LiveServer, scenarios: str) -> None:
    rule = "scenarios:\n  - match: {operationId: queryEvents}\n    respond: {status: 400}\n"
    assert put(scenarios, rule).status_code == 200
    forced = requests.get(live_server.url + EVENTS, headers={"X-Mock-Status": "200"}, timeout=10)
    assert forced.status_code == 200


def test_sessions_keep_their_own_scenarios(live_server: LiveServer, scenarios: str) -> None:
    rule = "scenarios:\n  - match: {operationId: queryEvents}\n    respond: {status: 400}\n"
    assert put(scenarios, rule, session="worker-a").status_code == 200
    try:
        mine = requests.get(
            live_server.url + EVENTS, headers={"X-Mock-Session": "worker-a"}, timeout=10
        )
        theirs = requests.get(live_server.url + EVENTS, timeout=10)
        assert (mine.status_code, theirs.status_code) == (400, 200)
        listed = requests.get(scenarios, params={"session": "worker-a"}, timeout=10).json()
        assert listed["rules"] == 1
    finally:
        requests.delete(scenarios, params={"session": "worker-a"}, timeout=10)


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("scenarios: [", "YAML"),
        ("rules: []", "`scenarios` list"),
        (
            "scenarios:\n  - match: {operationId: nope}\n    respond: {status: 200}",
            "no operation 'nope'",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n    respond: {status: 503}",
            "documents no status 503",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n    respond: {fault: fire}",
            "unknown fault",
        ),
        ("scenarios:\n  - match: {operationId: queryEvents}\n    respond: {delay: -1}", "delay"),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n    times: 0\n    respond: {}",
            "times",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n"
            "    probability: 2\n    respond: {}",
            "probability",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n    respond: {example: ../x}",
            "example",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n    respond: {headers: {'a b': c}}",
            "header",
        ),
        (
            "scenarios:\n  - match: {method: GET, path: /api/v1/events/query}\n    respond: {}",
            "no operation GET",
        ),
    ],
)
def test_bad_documents_are_refused(scenarios: str, document: str, says: str) -> None:
    response = put(scenarios, document)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert says in response.json()["detail"]


def test_a_bad_scenario_file_stops_start_up(tmp_path: Path) -> None:
    rule = tmp_path / "rules.yaml"
    rule.write_text(
        "scenarios:\n  - match: {operationId: nope}\n    respond: {}\n", encoding="utf-8"
    )
    with pytest.raises(RuntimeError) as caught:
        LiveServer("--scenarios", str(rule))
    assert "rules.yaml" in str(caught.value) and "no operation 'nope'" in str(caught.value)
