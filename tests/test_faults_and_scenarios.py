"""Network faults on a real socket, and scripted scenarios, against `mockserver serve`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ROOT, LiveServer

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


# -- scenario documents: bounded, checked, stored as compiled (issue 15 H1, M2, M3, L3) ----
def test_an_alias_bomb_is_refused_and_nothing_is_stored(
    live_server: LiveServer, scenarios: str
) -> None:
    from tests.test_yamlsafe import alias_bomb

    response = put(scenarios, alias_bomb())
    assert response.status_code == 400
    assert "expands to more than" in response.json()["detail"]
    assert len(response.content) < 2000
    shown = requests.get(scenarios, timeout=10).json()
    assert (shown["rules"], shown["document"]) == (0, None)
    still_serving(live_server)


def test_unknown_top_level_keys_are_refused(scenarios: str) -> None:
    response = put(scenarios, "scenarios: []\nnotes: {a: [1, 2, 3]}\n")
    assert response.status_code == 400
    assert "unknown top-level keys ['notes']" in response.json()["detail"]


def test_the_document_stored_and_shown_is_the_compiled_one(scenarios: str) -> None:
    text = """
# a comment, anchors and a merge key: none of it is kept as written
base: &base {status: 400}
"""
    assert put(scenarios, text + "scenarios: []\n").status_code == 400  # `base` is unknown
    text = """
scenarios:
  - match: &m {operationId: queryEvents}
    respond: {status: 400, headers: {Retry-After: 1}}
  - match: *m
    times: 2
    respond: {status: 400}
"""
    loaded = put(scenarios, text).json()
    expected = {
        "scenarios": [
            {
                "match": {"operationId": "queryEvents"},
                "respond": {"status": 400, "headers": {"Retry-After": "1"}},
            },
            {"match": {"operationId": "queryEvents"}, "respond": {"status": 400}, "times": 2},
        ]
    }
    assert loaded["document"] == expected
    assert requests.get(scenarios, timeout=10).json()["document"] == expected


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("scenarios:\n  - " + "[" * 1300 + "]" * 1300 + "\n", "nest"),
        (
            "scenarios:\n  - match:\n" + "".join("  " * (i + 3) + "k:\n" for i in range(80)),
            "nest more than 64 deep",
        ),
        ("scenarios: !!binary aGVsbG8=\n", "!!binary"),
        ("scenarios: !!set {a, b}\n", "!!set"),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n    respond: {status: 2024-01-31}",
            "`status` is a whole number",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n"
            "    respond: {status: 400, headers: {X-A: .nan}}",
            ".nan is not a finite number",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n    respond: {status: 400.0}",
            "`status` is a whole number",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n"
            "    respond: {status: 400, headers: {Content-Length: 5}}",
            "Content-Length frames the message",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n"
            "    respond: {status: 400, headers: {Transfer-Encoding: chunked}}",
            "Transfer-Encoding frames the message",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n"
            "    respond: {status: 400, headers: {X-Price: 5 €}}",
            "visible ASCII",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n"
            '    respond: {status: 400, headers: {"X-\\x01": a}}',
            "not a token",
        ),
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n"
            '    respond: {status: 400, headers: {X-Ctl: "a\\x01"}}',
            "visible ASCII",
        ),
    ],
    ids=[
        "deep-flow",
        "deep-block",
        "binary",
        "set",
        "date",
        "nan",
        "float-status",
        "content-length",
        "transfer-encoding",
        "non-ascii-value",
        "control-name",
        "control-value",
    ],
)
def test_hostile_documents_get_a_400_naming_the_problem(
    live_server: LiveServer, scenarios: str, document: str, says: str
) -> None:
    response = put(scenarios, document)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert says in response.json()["detail"]
    still_serving(live_server)


def test_a_float_status_never_reaches_coverage(live_server: LiveServer, scenarios: str) -> None:
    rule = "scenarios:\n  - match: {operationId: queryEvents}\n    respond: {status: 400.0}\n"
    assert put(scenarios, rule).status_code == 400
    assert requests.get(live_server.url + EVENTS, timeout=10).status_code == 200
    assert requests.get(live_server.url + "/__mock/coverage", timeout=10).status_code == 200


def serve_and_fail(*args: str) -> subprocess.CompletedProcess[str]:
    """`mockserver serve` that must stop at start-up."""
    return subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--host", "127.0.0.1", "--port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "scenarios:\n  - match: {operationId: queryEvents}\n"
            "    respond: {status: 2024-01-31}\n",
            "`status` is a whole number",
        ),
        ("scenarios: []\nwhen: 2024-01-31\n", "unknown top-level keys ['when']"),
        ("scenarios:\n  - match: {operationId: queryEvents, query: {x: .inf}}\n", ".inf"),
        ("@@", "not valid YAML"),
    ],
    ids=["date", "unknown-key", "inf", "syntax"],
)
def test_a_bad_scenario_file_is_one_clear_line_and_exit_2(
    tmp_path: Path, text: str, says: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(text, encoding="utf-8")
    done = serve_and_fail("--scenarios", str(rules))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"mockserver: {rules}: " in done.stderr and says in done.stderr
    assert done.stdout == ""


def test_an_alias_bomb_file_stops_start_up_at_once(tmp_path: Path) -> None:
    from tests.test_yamlsafe import alias_bomb

    rules = tmp_path / "rules.yaml"
    rules.write_text(alias_bomb(), encoding="utf-8")
    done = serve_and_fail("--scenarios", str(rules))
    assert (done.returncode, done.stdout) == (2, "")
    assert "expands to more than" in done.stderr and "Traceback" not in done.stderr


# -- richer scenarios (issue 18 item 6) ----------------------------------------------------
TENANT = "3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b"


def test_an_answer_with_a_body_and_headers(live_server: LiveServer, scenarios: str) -> None:
    body = {
        "locator": "01HXK2M7Q9S1U3W5Y7A9C1E3G5",
        "userLocator": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "requestId": "req-1",
        "timestamp": "2024-05-03T09:15:42Z",
        "type": "scripted",
        "data": {},
    }
    rule = {
        "scenarios": [
            {
                "match": {"operationId": "fetchEvent", "params": {"locator": "abc"}},
                "respond": {"body": body, "headers": {"X-Scripted": "yes"}},
            }
        ]
    }
    assert put(scenarios, json.dumps(rule)).status_code == 200
    url = f"{live_server.url}/event/{TENANT}/events/"
    scripted = requests.get(url + "abc", timeout=10)
    assert scripted.status_code == 200 and scripted.json() == body
    assert scripted.headers["X-Scripted"] == "yes"
    assert int(scripted.headers["Content-Length"]) == len(scripted.content)
    other = requests.get(url + "abd", timeout=10)
    assert other.json()["type"] != "scripted" and "X-Scripted" not in other.headers
    invalid = requests.get(f"{live_server.url}/event/not-a-uuid/events/abc", timeout=10)
    assert invalid.status_code == 400  # the documented error, not the scripted body
    entries = requests.get(live_server.url + "/__mock/requests", timeout=10).json()["requests"]
    assert [e["source"] for e in entries[-3:]][:1] == ["scenario"]


def test_an_answer_body_that_breaks_the_schema_is_refused(scenarios: str) -> None:
    rule = "scenarios:\n  - match: {operationId: fetchEvent}\n    respond: {body: {locator: 1}}\n"
    response = put(scenarios, rule)
    assert response.status_code == 400
    assert "does not match the 200 response schema of fetchEvent" in response.json()["detail"]


def test_rules_match_the_request_body_and_query(live_server: LiveServer, scenarios: str) -> None:
    rule = """
scenarios:
  - name: signups-fail
    match: {operationId: createEvent, body: {type: USER_SIGNUP}}
    respond: {status: 400}
  - name: big-pages-fail
    match: {operationId: queryEvents, query: {page_size: 50}}
    respond: {status: 400}
"""
    assert put(scenarios, rule).status_code == 200
    create = live_server.url + "/internal/create-event"
    signup = {"type": "USER_SIGNUP", "data": {"user": "u1"}}
    assert requests.post(create, json=signup, timeout=10).status_code == 400
    assert (
        requests.post(create, json={**signup, "type": "TEAM_CREATED"}, timeout=10).status_code
        == 200
    )
    query = live_server.url + EVENTS
    assert requests.get(query, params={"page_size": "50"}, timeout=10).status_code == 400
    assert requests.get(query, params={"page_size": "5"}, timeout=10).status_code == 200


def test_a_load_error_names_paths_of_the_loaded_specs_only(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "scenarios:\n  - match: {method: GET, path: /nope}\n    respond: {}\n", encoding="utf-8"
    )
    done = serve_and_fail(str(ROOT / "specs" / "socotra-events.yaml"), "--scenarios", str(rules))
    assert done.returncode == 2
    assert "/event/{tenantLocator}/events/list" in done.stderr
    assert "/V1.0" not in done.stderr


# -- numbers JSON cannot hold (issue 15 L11) -----------------------------------------------
def test_a_number_out_of_range_is_named_and_never_journaled_as_infinity(
    live_server: LiveServer,
) -> None:
    session = {"X-Mock-Session": "l11"}
    response = requests.post(
        live_server.url + "/internal/create-event",
        data=b'{"type": "USER_SIGNUP", "data": {"n": 1e400}}',
        headers={"Content-Type": "application/json", **session},
        timeout=10,
    )
    assert response.status_code == 400
    assert "1e400, out of the range of a double" in response.text
    assert "null" not in response.text
    listing = requests.get(live_server.url + "/__mock/requests", headers=session, timeout=10)

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the journal listing")

    entries = json.loads(listing.text, parse_constant=refuse)["requests"]
    assert entries[-1]["problems"][0]["rule"] == "range"
    requests.delete(live_server.url + "/__mock/requests", headers=session, timeout=10)
