"""Journal, coverage and sessions, through `mockserver serve` and the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from mockserver.journal import AccessLog, listing_json, utc_millis
from tests.conftest import ROOT, LiveServer

TENANT = "3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b"
EVENTS = "/api/v1/events/query/"


def session() -> dict[str, str]:
    return {"X-Mock-Session": f"t-{uuid.uuid4().hex[:8]}"}


def journal(server: LiveServer, headers: dict[str, str], **filters: str) -> list[dict]:
    response = requests.get(
        f"{server.url}/__mock/requests", headers=headers, params=filters, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["requests"]


def test_entries_hold_what_was_sent_and_answered(live_server: LiveServer) -> None:
    mine = session()
    requests.post(
        f"{live_server.url}/iacm/api/modules/146/events?trace=1",
        headers={**mine, "X-Mock-Status": "502"},
        json={"account": 7},
        timeout=10,
    )
    (entry,) = journal(live_server, mine)
    assert entry["method"] == "POST"
    assert entry["path"] == "/iacm/api/modules/146/events"
    assert entry["query"] == {"trace": ["1"]}
    assert entry["headers"]["x-mock-status"] == "502"
    assert entry["body"] == {"account": 7}
    assert (entry["api"], entry["operationId"], entry["status"]) == (
        "harness-iacm",
        "sendModuleEvent",
        502,
    )
    assert entry["controls"] == {"status": 502}
    # The forced status hid these problems; the journal still shows them.
    problems = {(p["in"], p["name"], p["rule"]) for p in entry["problems"]}
    assert ("security", "x-api-key", "security") in problems
    assert ("body", "account", "type") in problems
    assert entry["valid"] is False
    assert entry["time"].endswith("Z")


def test_unrouted_requests_are_journaled_too(live_server: LiveServer) -> None:
    mine = session()
    requests.get(f"{live_server.url}/nowhere", headers=mine, timeout=10)
    (entry,) = journal(live_server, mine)
    assert (entry["status"], entry["operationId"], entry["error"]) == (404, None, "no-such-route")


def test_filters_and_clear(live_server: LiveServer) -> None:
    mine = session()
    url = live_server.url
    requests.get(f"{url}{EVENTS}", headers=mine, timeout=10)
    requests.get(f"{url}{EVENTS}?page_size=x", headers=mine, timeout=10)
    requests.get(f"{url}/event/{TENANT}/events/abc", headers=mine, timeout=10)
    assert len(journal(live_server, mine)) == 3
    assert len(journal(live_server, mine, status="400")) == 1
    assert len(journal(live_server, mine, operationId="fetchEvent")) == 1
    assert len(journal(live_server, mine, api="escapekit-events")) == 2
    assert len(journal(live_server, mine, method="get", path=EVENTS)) == 2
    assert journal(live_server, mine, since="2999-01-01T00:00:00Z") == []
    assert len(journal(live_server, mine, since="0")) == 3
    bad = requests.get(f"{url}/__mock/requests", params={"colour": "red"}, timeout=10)
    assert bad.status_code == 400 and "unknown filter" in bad.json()["detail"]
    assert requests.delete(f"{url}/__mock/requests", headers=mine, timeout=10).status_code == 204
    assert journal(live_server, mine) == []


def test_sessions_are_isolated(live_server: LiveServer) -> None:
    first, second = session(), session()
    for _ in range(3):
        requests.get(f"{live_server.url}{EVENTS}", headers=first, timeout=10)
        requests.get(f"{live_server.url}/event/{TENANT}/events/abc", headers=second, timeout=10)
    assert {e["operationId"] for e in journal(live_server, first)} == {"queryEvents"}
    assert {e["operationId"] for e in journal(live_server, second)} == {"fetchEvent"}
    by_query = journal(live_server, {}, session=first["X-Mock-Session"])
    assert len(by_query) == 3


def test_journal_is_complete_and_ordered_across_workers() -> None:
    server = LiveServer("--workers", "3", "--threads", "4")
    try:
        mine = session()

        def send(i: int) -> None:
            requests.get(f"{server.url}{EVENTS}?n={i}", headers=mine, timeout=30)

        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(send, range(30)))
        # One more, strictly after all of those: it must come last.
        requests.get(f"{server.url}{EVENTS}?n=last", headers=mine, timeout=30)
        entries = journal(server, mine)
    finally:
        assert server.stop() == 0
    assert sorted(e["query"]["n"][0] for e in entries[:-1]) == sorted(str(i) for i in range(30))
    assert entries[-1]["query"]["n"] == ["last"]


def test_journal_is_bounded() -> None:
    server = LiveServer("--journal-size", "5")
    try:
        mine = session()
        for i in range(12):
            requests.get(f"{server.url}{EVENTS}?n={i}", headers=mine, timeout=10)
        entries = journal(server, mine)
        coverage = requests.get(f"{server.url}/__mock/coverage", headers=mine, timeout=10).json()
    finally:
        assert server.stop() == 0
    assert [e["query"]["n"][0] for e in entries] == [str(i) for i in range(7, 12)]
    # Coverage is counted apart from the journal and is not trimmed with it.
    op = next(o for o in coverage["operations"] if o["operationId"] == "queryEvents")
    assert op["requests"]["valid"] == 12


def test_coverage_figures(live_server: LiveServer) -> None:
    mine = session()
    url = live_server.url
    module = f"{url}/iacm/api/modules/146/events"
    ok = {"account": "7", "eventType": "x", "org": "v", "project": "p"}
    requests.post(module, headers={**mine, "x-api-key": "k"}, json=ok, timeout=10)  # 200
    requests.post(module, headers=mine, json=ok, timeout=10)  # 401
    requests.post(module, headers={**mine, "x-api-key": "k"}, json={}, timeout=10)  # 400
    requests.post(module, headers={**mine, "X-Mock-Status": "500"}, json=ok, timeout=10)
    report = requests.get(f"{url}/__mock/coverage", headers=mine, timeout=10).json()
    op = next(o for o in report["operations"] if o["operationId"] == "sendModuleEvent")
    assert op["statuses"]["served"] == [200, 400, 401, 500]
    assert op["statuses"]["uncovered"] == [403, 404, 408, 409, 423, 499, 502]
    assert op["requests"] == {"valid": 1, "invalid": 3}
    assert op["examples"] == {
        "documented": ["400.fromDoc"],
        "served": [],
        "uncovered": ["400.fromDoc"],
    }
    totals = report["totals"]
    assert totals["statuses"]["covered"] == 4
    assert totals["statuses"]["total"] == sum(
        len(o["statuses"]["documented"]) for o in report["operations"]
    )
    assert totals["operations"] == {"covered": 1, "total": 25, "percent": 4.0}


def coverage_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockserver", "coverage", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_coverage_cli_formats_and_threshold(live_server: LiveServer) -> None:
    mine = session()
    requests.get(f"{live_server.url}{EVENTS}", headers=mine, timeout=10)
    requests.get(f"{live_server.url}{EVENTS}?page_size=x", headers=mine, timeout=10)
    name = mine["X-Mock-Session"]
    text = coverage_cli("--url", live_server.url, "--session", name)
    assert text.returncode == 0, text.stderr
    line = next(
        row for row in text.stdout.splitlines() if row.startswith("escapekit-events.queryEvents ")
    )
    assert line.split()[1:3] == ["2/2", "-"]
    assert "statuses" in text.stdout.splitlines()[-2]

    as_json = coverage_cli("--url", live_server.url, "--session", name, "--format", "json")
    assert json.loads(as_json.stdout)["totals"]["statuses"]["covered"] == 2

    junit = coverage_cli("--url", live_server.url, "--session", name, "--format", "junit")
    assert junit.stdout.startswith("<?xml") and 'tests="25"' in junit.stdout
    assert 'failures="24"' in junit.stdout

    under = coverage_cli("--url", live_server.url, "--session", name, "--fail-under", "50")
    assert under.returncode == 1 and "under 50.0%" in under.stderr
    over = coverage_cli("--url", live_server.url, "--session", name, "--fail-under", "1")
    assert over.returncode == 0


def test_coverage_cli_cannot_reach() -> None:
    done = coverage_cli("--url", "http://127.0.0.1:9")
    assert done.returncode == 2 and "cannot read coverage" in done.stderr


def test_admin_token() -> None:
    server = LiveServer("--admin-token", "s3cret")
    try:
        url = server.url
        assert requests.get(f"{url}/__mock/health", timeout=10).status_code == 200
        denied = requests.get(f"{url}/__mock/requests", timeout=10)
        assert denied.status_code == 401
        assert denied.headers["Content-Type"] == "application/problem+json"
        wrong = requests.get(
            f"{url}/__mock/requests", headers={"Authorization": "Bearer nope"}, timeout=10
        )
        assert wrong.status_code == 401
        allowed = requests.get(
            f"{url}/__mock/requests", headers={"Authorization": "Bearer s3cret"}, timeout=10
        )
        assert allowed.status_code == 200
        # The APIs themselves are not behind the token.
        assert requests.get(f"{url}{EVENTS}", timeout=10).status_code == 200
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_one_log_line_per_request(log_format: str) -> None:
    server = LiveServer("--log-format", log_format, "--workers", "1")
    requests.get(f"{server.url}{EVENTS}", headers={"X-Mock-Delay": "1"}, timeout=10)
    assert server.stop() == 0
    (line,) = server.printed.splitlines()
    if log_format == "json":
        record = json.loads(line)
        assert record["operationId"] == "queryEvents" and record["status"] == 200
        assert record["controls"] == {"delay_ms": 1} and record["durationMs"] >= 1
    else:
        assert " GET /api/v1/events/query/ escapekit-events.queryEvents 200 " in line
        assert line.endswith("delay_ms=1")


def test_every_answered_request_is_logged_and_journaled_by_the_time_the_server_stops() -> None:
    server = LiveServer("--workers", "2")
    with requests.Session() as session:
        for n in range(40):
            answer = session.get(f"{server.url}{EVENTS}", params={"n": n}, timeout=10)
            assert answer.status_code == 200
    assert server.stop() == 0  # the journal's threads write what they hold as workers exit
    lines = server.printed.splitlines()
    assert len(lines) == 40 and all(EVENTS in line for line in lines)


@pytest.mark.parametrize("pages", [[], [['{"a": 1}']], [['{"a": 1}', '{"a": 2}'], ['{"a": 3}']]])
def test_a_streamed_listing_is_one_json_document(pages: list[list[str]]) -> None:
    text = "".join(listing_json('odd "session"', iter(pages)))
    assert json.loads(text) == {
        "session": 'odd "session"',
        "requests": [json.loads(entry) for page in pages for entry in page],
    }


def log_row(n: int) -> dict[str, Any]:
    return {
        "time": "2026-11-27T12:00:00.000Z",
        "method": "GET",
        "path": f"/items/{n}",
        "api": "demo",
        "operationId": "op",
        "status": 200,
        "durationMs": 1.0,
        "controls": {},
    }


def test_a_stream_nobody_reads_costs_lines_not_the_journal() -> None:
    release = threading.Event()

    class StuckPipe(io.StringIO):
        def write(self, text: str) -> int:
            release.wait(30)  # a full pipe: the writing thread waits here
            return super().write(text)

    stream = StuckPipe()
    access = AccessLog(stream, "text", max_pending=100)
    for n in range(10):
        access([log_row(n)])  # returns at once: the journal's thread is never held up
    release.set()
    access.close()
    lines = stream.getvalue().splitlines()
    kept = [line for line in lines if "/items/" in line]
    (notice,) = [line for line in lines if "dropped" in line]
    dropped = int(notice.split()[1])
    assert dropped > 0 and len(kept) + dropped == 10
    assert kept == sorted(kept, key=lambda line: int(line.split("/items/")[1].split()[0]))


def test_entry_times_are_what_datetime_makes_of_them() -> None:
    def iso(at: float) -> str:
        moment = dt.datetime.fromtimestamp(at, tz=dt.UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    rng = random.Random(7)
    edges = (0.0, 0.0005, 0.0009995, 0.5, 0.9995, 0.9999994, 0.9999995, 0.9999999)
    moments = [rng.uniform(1.7e9, 1.9e9) for _ in range(20_000)]
    moments += [rng.randint(0, 2_000_000_000) + edge for edge in edges for _ in range(500)]
    for at in moments:
        assert utc_millis(at) == iso(at), at


def test_coverage_counts_ranges_and_default_as_documented_statuses() -> None:
    from mockserver.app import Settings, create_app

    specs = (ROOT / "tests" / "data" / "answers.yaml",)
    client = create_app(Settings(specs=specs, fixtures=None)).test_client()
    client.post("/pets", json={"id": 1, "name": "a"}, headers={"X-Mock-Status": "404"})
    client.get("/pets/0")  # rejected: answered 400 from `default`
    client.post("/only-ok", json={})  # the mock's own 400: no documented response
    ops = {op["operationId"]: op for op in client.get("/__mock/coverage").get_json()["operations"]}
    assert ops["createPet"]["statuses"] == {
        "documented": [201, "4XX"],
        "served": ["4XX"],
        "uncovered": [201],
        "counts": {"404": 1},
    }
    assert ops["getPet"]["statuses"]["served"] == ["default"]
    assert ops["onlyOk"]["statuses"]["served"] == []
    assert ops["onlyOk"]["requests"] == {"valid": 0, "invalid": 1}
