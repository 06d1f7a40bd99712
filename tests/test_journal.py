"""Journal, coverage and sessions, through `mockserver serve` and the CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import random
import resource
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import requests

from mockserver.journal import (
    LISTING_OPTIONS,
    MAX_BODY_IN_JOURNAL,
    AccessLog,
    listing_json,
    utc_millis,
)
from mockserver.state import JOURNAL_FILTERS
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
    assert bad.status_code == 400 and "unknown filter 'colour'" in bad.json()["detail"]
    worse = requests.get(
        f"{url}/__mock/requests", params={"colour": "red", "limit": "2", "size": "9"}, timeout=10
    )
    detail = worse.json()["detail"]
    assert worse.status_code == 400 and "unknown filters 'colour', 'size';" in detail
    listed = set(detail.rpartition(": ")[2].split(", "))
    assert listed == {*JOURNAL_FILTERS, *LISTING_OPTIONS}
    assert {"api", "operationId", "status", "since", "limit", "last", "order"} <= listed
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
    assert any(row.startswith("statuses ") for row in text.stdout.splitlines())

    as_json = coverage_cli("--url", live_server.url, "--session", name, "--format", "json")
    assert json.loads(as_json.stdout)["totals"]["statuses"]["covered"] == 2

    junit = coverage_cli("--url", live_server.url, "--session", name, "--format", "junit")
    assert junit.stdout.startswith("<?xml")
    assert 'failures="0"' in junit.stdout  # without a threshold nothing fails

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
        "scenario": None,
        "valid": True,
    }


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_stream_nobody_reads_costs_lines_not_the_journal(log_format: str) -> None:
    release = threading.Event()

    class StuckPipe(io.StringIO):
        def write(self, text: str) -> int:
            release.wait(30)  # a full pipe: the writing thread waits here
            return super().write(text)

    stream = StuckPipe()
    access = AccessLog(stream, log_format, max_pending=100 if log_format == "text" else 200)
    for n in range(10):
        access([log_row(n)])  # returns at once: the journal's thread is never held up
    release.set()
    access.close()
    lines = stream.getvalue().splitlines()
    kept = [line for line in lines if "/items/" in line]
    (notice,) = [line for line in lines if "dropped" in line]
    if log_format == "json":  # every line is JSON, the notice too
        assert all(isinstance(json.loads(line), dict) for line in lines)
        dropped = json.loads(notice)["dropped"]
        kept = [json.loads(line)["path"] + " " for line in kept]
    else:
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
        "reach": {
            "201": {
                "header": "X-Mock-Status: 201",
                "scenario": {
                    "match": {"api": "answers", "operationId": "createPet"},
                    "respond": {"status": 201},
                },
            }
        },
    }
    assert ops["getPet"]["statuses"]["served"] == ["default"]
    # An uncovered range is reached by its own name, or by a scenario with its status.
    ranged = [
        (op, key)
        for op in ops.values()
        for key in op["statuses"]["uncovered"]
        if isinstance(key, str)
    ]
    assert ranged, "answers.yaml documents a range or default nobody served"
    op, key = ranged[0]
    assert op["statuses"]["reach"][key]["header"] == f"X-Mock-Status: {key}"
    status = op["statuses"]["reach"][key]["scenario"]["respond"]["status"]
    assert isinstance(status, int) and 100 <= status <= 599
    assert ops["onlyOk"]["statuses"]["served"] == []
    assert ops["onlyOk"]["requests"] == {"valid": 0, "invalid": 1}


def server_pids(server: LiveServer) -> list[int]:
    """The server's master and its workers."""
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def listing(server: LiveServer, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = requests.get(
        f"{server.url}/__mock/requests", headers=headers, params=params, timeout=30
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_full_disk_costs_journal_entries_only_and_says_so() -> None:
    server = LiveServer("--workers", "2")
    try:
        mine = session()
        rule = {
            "scenarios": [{"match": {"operationId": "queryEvents"}, "respond": {"status": 400}}]
        }
        put = requests.put(f"{server.url}/__mock/scenarios", headers=mine, json=rule, timeout=30)
        assert put.status_code == 200, put.text
        # As on a full disk: no file of the server may grow past 256 KiB from now on.
        for pid in server_pids(server):
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))
        filler = {"X-Mock-Session": "filler"}
        module = f"{server.url}/iacm/api/modules/146/events"
        with requests.Session() as client:
            for _ in range(40):  # ~40 x 60 KB of journal: far past the limit
                sent = client.post(module, headers=filler, data="a" * 60_000, timeout=30)
                assert sent.status_code < 500, sent.text  # an answer, whatever it is
            for _ in range(5):  # scenario-matched: its counter lives in the state file
                matched = client.get(f"{server.url}{EVENTS}", headers=mine, timeout=30)
                assert matched.status_code == 400, matched.text
                assert matched.headers["Content-Type"] != "text/plain"
            # Health says what the last write met: make it one that cannot fit however
            # the journal's files were reused (a WAL restarts at its start after a
            # checkpoint): ~60 KB of new frames, with no file allowed past 4 KiB.
            for pid in server_pids(server):
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
            client.post(module, headers=filler, data="a" * 60_000, timeout=30)
        lost = listing(server, filler)
        assert lost["dropped"] > 0 and len(lost["requests"]) < 40
        health = requests.get(f"{server.url}/__mock/health", timeout=30)
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["state"]["dropped"] == lost["dropped"]
        for pid in server_pids(server):  # back to the 256 KiB disk, where deleting fits
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))
        cleared = requests.delete(f"{server.url}/__mock/requests", headers=filler, timeout=30)
        assert cleared.status_code == 204
        assert listing(server, filler)["requests"] == []
        log = server.output()  # the journal's error, as SQLite gave it, not ROLLBACK's
        assert "could not write" in log and "they are lost" in log
        assert "disk I/O error" in log or "database or disk is full" in log
        assert "cannot rollback" not in log
    finally:
        assert server.stop() == 0


def test_a_large_body_is_stored_cut_with_its_size_and_hash(live_server: LiveServer) -> None:
    mine = session()
    body = {"account": "7", "eventType": "x" * 1_000_000, "org": "v", "project": "p"}
    sent = json.dumps(body).encode()
    requests.post(
        f"{live_server.url}/iacm/api/modules/146/events",
        headers={**mine, "x-api-key": "k", "Content-Type": "application/json"},
        data=sent,
        timeout=30,
    )
    (entry,) = journal(live_server, mine)
    assert isinstance(entry["body"], str) and len(entry["body"].encode()) <= MAX_BODY_IN_JOURNAL
    assert sent.decode().startswith(entry["body"])
    assert entry["bodyTruncated"] == {
        "size": len(sent),
        "kept": MAX_BODY_IN_JOURNAL,
        "sha256": hashlib.sha256(sent).hexdigest(),
    }
    small = session()
    requests.post(
        f"{live_server.url}/iacm/api/modules/146/events", headers=small, json={"a": 1}, timeout=30
    )
    (entry,) = journal(live_server, small)
    assert entry["body"] == {"a": 1} and entry["bodyTruncated"] is None


def test_one_busy_session_does_not_evict_another_s_entries() -> None:
    server = LiveServer("--journal-size", "100")
    try:
        quiet, busy = session(), session()
        with requests.Session() as client:
            for i in range(3):
                client.get(f"{server.url}{EVENTS}?n={i}", headers=quiet, timeout=30)
            for i in range(150):
                client.get(f"{server.url}{EVENTS}?n={i}", headers=busy, timeout=30)
        kept = listing(server, quiet)
        crowded = listing(server, busy)
    finally:
        assert server.stop() == 0
    assert [e["query"]["n"][0] for e in kept["requests"]] == ["0", "1", "2"]
    assert kept["evicted"] == 0
    assert len(crowded["requests"]) == 100 and crowded["evicted"] == 50
    assert crowded["requests"][-1]["query"]["n"] == ["149"]


def test_listings_give_the_newest_and_say_when_they_are_cut(live_server: LiveServer) -> None:
    mine = session()
    with requests.Session() as client:
        for i in range(30):
            client.get(f"{live_server.url}{EVENTS}?n={i}", headers=mine, timeout=30)

    def numbers(body: dict[str, Any]) -> list[int]:
        return [int(e["query"]["n"][0]) for e in body["requests"]]

    first = listing(live_server, mine, limit="10")
    assert numbers(first) == list(range(10))
    assert (first["matched"], first["cut"], first["order"]) == (30, True, "asc")
    last = listing(live_server, mine, last="5")
    assert numbers(last) == list(range(25, 30)) and last["cut"] is True
    newest = listing(live_server, mine, order="desc", limit="3")
    assert numbers(newest) == [29, 28, 27]
    whole = listing(live_server, mine)
    assert len(whole["requests"]) == 30 and whole["cut"] is False
    assert numbers(listing(live_server, mine, last="2", limit="9")) == [28, 29]  # last wins
    for bad in ({"order": "sideways"}, {"last": "x"}, {"limit": "-1"}):
        refused = requests.get(
            f"{live_server.url}/__mock/requests", headers=mine, params=bad, timeout=30
        )
        assert refused.status_code == 400, bad


def test_coverage_is_kept_per_session_and_read_for_all_or_one() -> None:
    server = LiveServer()
    try:
        url = server.url
        first, second = session(), session()
        requests.get(f"{url}{EVENTS}", headers=first, timeout=30)  # 200
        requests.get(f"{url}{EVENTS}?page_size=x", headers=second, timeout=30)  # 400
        # The plugin clears each test's journal at teardown: coverage must stay.
        for mine in (first, second):
            cleared = requests.delete(f"{url}/__mock/requests", headers=mine, timeout=30)
            assert cleared.status_code == 204

        def served(params: dict[str, str] | None = None, **headers: str) -> list[int]:
            report = requests.get(
                f"{url}/__mock/coverage", params=params, headers=headers, timeout=30
            ).json()
            op = next(o for o in report["operations"] if o["operationId"] == "queryEvents")
            return list(op["statuses"]["served"])

        assert served() == [200, 400]
        assert served({"session": first["X-Mock-Session"]}) == [200]
        assert served(**second) == [400]
        every = coverage_cli("--url", url, "--format", "json")
        report = json.loads(every.stdout)
        assert report["session"] is None and report["sessions"] == "all"
        op = next(o for o in report["operations"] if o["operationId"] == "queryEvents")
        assert op["statuses"]["served"] == [200, 400]
        one = coverage_cli("--url", url, "--format", "json", "--session", first["X-Mock-Session"])
        assert json.loads(one.stdout)["session"] == first["X-Mock-Session"]
        # Every uncovered status says how to reach it.
        other = next(o for o in report["operations"] if o["statuses"]["uncovered"])
        status = other["statuses"]["uncovered"][0]
        assert other["statuses"]["reach"][str(status)] == {
            "header": f"X-Mock-Status: {status}",
            "scenario": {
                "match": {"api": other["api"], "operationId": other["operationId"]},
                "respond": {"status": status},
            },
        }
        text = coverage_cli("--url", url)
        assert f"X-Mock-Status: {status}" in text.stdout
        # Clearing coverage: one session, then all.
        gone = requests.delete(
            f"{url}/__mock/coverage", params={"session": first["X-Mock-Session"]}, timeout=30
        )
        assert gone.status_code == 204
        assert served() == [400]
        assert requests.delete(f"{url}/__mock/coverage", timeout=30).status_code == 204
        assert served() == []
    finally:
        assert server.stop() == 0


def test_the_junit_report_fails_only_below_the_threshold(live_server: LiveServer) -> None:
    mine = session()
    requests.get(f"{live_server.url}{EVENTS}", headers=mine, timeout=30)
    name = mine["X-Mock-Session"]
    plain = coverage_cli("--url", live_server.url, "--session", name, "--format", "junit")
    assert plain.returncode == 0
    suite = ElementTree.fromstring(plain.stdout)
    cases = suite.findall("testcase")
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert suite.get("failures") == "0" and not [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("skipped", "")) == len(skipped) == len(cases) - 1  # one 200 served
    assert all("X-Mock-Status: " in (c.find("skipped").get("message") or "") for c in skipped)  # type: ignore[union-attr]

    under = coverage_cli(
        "--url", live_server.url, "--session", name, "--format", "junit", "--fail-under", "50"
    )
    assert under.returncode == 1
    suite = ElementTree.fromstring(under.stdout)
    (failed,) = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert suite.get("failures") == "1" and failed.get("name") == "status coverage >= 50.0%"
    over = coverage_cli(
        "--url", live_server.url, "--session", name, "--format", "junit", "--fail-under", "0.1"
    )
    assert over.returncode == 0 and 'failures="0"' in over.stdout


def test_sessions_beyond_the_bound_are_forgotten_but_their_coverage_is_not() -> None:
    server = LiveServer("--max-sessions", "3")
    try:
        sessions = [session() for _ in range(6)]
        for mine in sessions:  # one after the other: each is newer than the one before
            requests.get(f"{server.url}{EVENTS}", headers=mine, timeout=30)
            listing(server, mine)  # written before the next one is sent
        kept = [len(listing(server, mine)["requests"]) for mine in sessions]
        report = requests.get(f"{server.url}/__mock/coverage", timeout=30).json()
    finally:
        assert server.stop() == 0
    assert kept == [0, 0, 0, 1, 1, 1]
    op = next(o for o in report["operations"] if o["operationId"] == "queryEvents")
    assert op["requests"]["valid"] == 6
