"""The pytest plugin, run in real pytest sessions through `pytester`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import requests

from mockserver.pytest_plugin import MockServerProcess, SharedMock, merge_reports
from tests.conftest import ROOT
from tests.notes_sample import write_sample

pytest_plugins = ["pytester"]

CLIENT_TESTS = """
import requests

TENANT = "3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b"


def test_calls_are_seen(mockserver):
    url = mockserver.url + "/iacm/api/modules/146/events"
    body = {"account": "7", "eventType": "apply", "org": "v", "project": "p"}
    answer = requests.post(url, json=body, headers={**mockserver.headers, "x-api-key": "k"})
    assert answer.status_code == 200
    mockserver.assert_called("sendModuleEvent", times=1)
    mockserver.assert_last_body("sendModuleEvent", {"eventType": "apply"})
    (call,) = mockserver.calls()
    assert call.operation_id == "sendModuleEvent" and call.body == body


def test_a_fresh_session_per_test(mockserver):
    assert mockserver.calls() == []
    mockserver.assert_not_called("sendModuleEvent")


def test_scenario_for_this_test_only(mockserver):
    mockserver.scenario({"scenarios": [{"match": {"operationId": "fetchEvent"},
                                        "times": 1, "respond": {"status": 400}}]})
    url = f"{mockserver.url}/event/{TENANT}/events/abc"
    first = requests.get(url, headers=mockserver.headers)
    second = requests.get(url, headers=mockserver.headers)
    other_session = requests.get(url)
    assert (first.status_code, second.status_code, other_session.status_code) == (400, 200, 200)
    assert mockserver.coverage()["totals"]["statuses"]["covered"] == 2
"""


def test_fixtures_work_in_a_real_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_client=CLIENT_TESTS)
    result = pytester.runpytest_subprocess(
        f"--mockserver-specs={ROOT / 'specs'}", f"--mockserver-fixtures={ROOT / 'fixtures'}"
    )
    result.assert_outcomes(passed=3)


def test_failure_messages_show_what_was_sent(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_wrong="""
import requests

def test_wrong_body(mockserver):
    requests.post(mockserver.url + "/internal/create-event", json={"type": "USER_SIGNUP"},
                  headers=mockserver.headers)
    mockserver.assert_last_body("createEvent", {"type": "TEAM_CREATED"})

def test_wrong_count(mockserver):
    requests.get(mockserver.url + "/api/v1/events/query/", headers=mockserver.headers)
    mockserver.assert_called("queryEvents", times=2)
"""
    )
    result = pytester.runpytest_subprocess(f"--mockserver-specs={ROOT / 'specs'}")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*the last body sent to createEvent does not match*",
            '*"type": "USER_SIGNUP"*',
            "*expected queryEvents to be called 2 time(s), it was called 1 time(s)*",
            "*GET /api/v1/events/query/ -> 200 (queryEvents)*",
        ]
    )


def test_ini_options_and_an_existing_server(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"""
[pytest]
mockserver_specs = {ROOT / "specs" / "socotra-events.yaml"}
""")
    pytester.makepyfile(
        test_ini="""
import requests

def test_only_socotra_is_loaded(mockserver, mockserver_url):
    health = requests.get(mockserver_url + "/__mock/health").json()
    assert health["apis"] == ["socotra-events"]
"""
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_a_bad_spec_fails_the_session_with_a_clear_error(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "bad.yaml"
    bad.write_text("openapi: 3.1.0\ninfo: [\n", encoding="utf-8")
    pytester.makepyfile(test_bad="def test_x(mockserver):\n    pass\n")
    result = pytester.runpytest_subprocess(f"--mockserver-specs={bad}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*mockserver did not start*bad.yaml*"])


def test_works_with_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_client=CLIENT_TESTS)
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        f"--mockserver-specs={ROOT / 'specs'}",
        f"--mockserver-fixtures={ROOT / 'fixtures'}",
    )
    result.assert_outcomes(passed=3)


# -- the run's coverage, one mock for xdist, the session header -------------------------
def _notes(pytester: pytest.Pytester) -> Path:
    return write_sample(pytester.path)


def test_the_run_prints_its_coverage_and_fails_under_the_threshold(
    pytester: pytest.Pytester,
) -> None:
    _notes(pytester)
    result = pytester.runpytest_subprocess(
        "--mockserver-specs=specs",
        "--mockserver-fail-under=80",
        "--mockserver-coverage-report=out/coverage.xml",
    )
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # every test passed: the threshold
    # Every test's journal was cleared at its teardown; what they covered was kept.
    result.stdout.fnmatch_lines(
        [
            "*= mockserver coverage (every session of the mock) =*",
            "statuses 4/6 66.7%  operations 3/3 100.0%  examples 0/0 100.0%",
            "never served (send the header with a request, or load a scenario rule*",
            "  GET /notes (notes.listNotes): X-Mock-Status: 500",
            "  GET /notes/{id} (notes.getNote): X-Mock-Status: 200",
            "FAILED: mockserver status coverage 66.7% is under --mockserver-fail-under 80.0%",
            f"coverage report written to {pytester.path / 'out' / 'coverage.xml'}",
        ]
    )
    junit = ElementTree.parse(pytester.path / "out" / "coverage.xml").getroot()
    assert (junit.get("tests"), junit.get("failures"), junit.get("skipped")) == ("7", "1", "2")
    skipped = junit.findall("testcase[skipped]")
    assert [case.get("name") for case in skipped] == ["GET /notes 500", "GET /notes/{id} 200"]
    assert "send X-Mock-Status: 500" in str(skipped[0].find("skipped").get("message"))  # type: ignore[union-attr]


def test_at_the_threshold_the_run_passes_and_junit_has_no_failure(
    pytester: pytest.Pytester,
) -> None:
    _notes(pytester)
    for report in ("out/coverage.json", "out/coverage.xml"):
        result = pytester.runpytest_subprocess(
            "--mockserver-specs=specs",
            "--mockserver-fail-under=66.7",
            f"--mockserver-coverage-report={report}",
        )
        assert result.ret == pytest.ExitCode.OK
        assert "FAILED" not in result.stdout.str()
    report = json.loads((pytester.path / "out" / "coverage.json").read_text())
    assert report["totals"]["statuses"] == {"covered": 4, "total": 6, "percent": 66.7}
    served = {op["operationId"]: op["statuses"]["served"] for op in report["operations"]}
    assert served == {"listNotes": [200], "createNote": [201, 400], "getNote": [404]}
    junit = ElementTree.parse(pytester.path / "out" / "coverage.xml").getroot()
    assert (junit.get("failures"), junit.get("skipped")) == ("0", "2")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--mockserver-fail-under=lots", "fail-under must be a percent from 0 to 100, not 'lots'"),
        ("--mockserver-fail-under=120", "fail-under must be a percent from 0 to 100, not '120'"),
        ("--mockserver-coverage-report=cov.txt", "name it .json (the JSON report) or .xml"),
    ],
)
def test_a_bad_threshold_or_report_name_is_a_usage_error(
    pytester: pytest.Pytester, option: str, message: str
) -> None:
    _notes(pytester)
    result = pytester.runpytest_subprocess("--mockserver-specs=specs", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_ini_paths_are_taken_from_the_rootdir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _notes(pytester)
    pytester.makeini(
        """
[pytest]
mockserver_specs = specs/notes.yaml
mockserver_fail_under = 50
mockserver_coverage_report = reports/coverage.json
"""
    )
    monkeypatch.chdir(pytester.path / "tests")  # pytest run from a subfolder
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.OK
    report = json.loads((pytester.path / "reports" / "coverage.json").read_text())
    assert [op["api"] for op in report["operations"]] == ["notes"] * 3


def test_a_test_whose_client_forgot_the_header_is_told_how_to_send_it(
    pytester: pytest.Pytester,
) -> None:
    _notes(pytester)
    pytester.makepyfile(
        test_forgot="""
import requests

def test_forgot_the_header(mockserver):
    requests.get(mockserver.url + "/notes/3", timeout=10)  # no mockserver.headers
    mockserver.assert_called("getNote")
"""
    )
    result = pytester.runpytest_subprocess("--mockserver-specs=specs", "test_forgot.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*expected getNote to be called at least once, it was called 0 time(s).",
            "*No request reached the mock in this session (X-Mock-Session: pytest-*).",
            "*Send the session header with every request of your client, e.g. "
            "`requests.get(url, headers=mockserver.headers)`*"
            "mockserver.headers is {'X-Mock-Session': 'pytest-*'}.",
            "*Requests that came without the header while this test ran*",
            "*  GET /notes/3 -> 200",
        ]
    )


def _refused(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_one_mock_serves_every_xdist_worker_and_their_coverage_is_summed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _notes(pytester)
    record = pytester.path / "record.txt"
    monkeypatch.setenv("NOTES_RECORD", str(record))
    result = pytester.runpytest_subprocess(
        "-n", "2", "--mockserver-specs=specs", "--mockserver-coverage-report=coverage.json"
    )
    result.assert_outcomes(passed=4)
    rows = [line.split() for line in record.read_text().splitlines()]
    workers = {row[0] for row in rows}
    urls = {row[1] for row in rows}
    assert workers == {"gw0", "gw1"}  # both workers ran tests ...
    assert len(urls) == 1  # ... against the same mock (one port, one process)
    by_worker = {w: {(r[2], int(r[3])) for r in rows if r[0] == w} for w in workers}
    report = json.loads((pytester.path / "coverage.json").read_text())
    served = {
        (op["operationId"], s) for op in report["operations"] for s in op["statuses"]["served"]
    }
    assert served == by_worker["gw0"] | by_worker["gw1"]  # the sum of both workers
    assert by_worker["gw0"] - by_worker["gw1"] and by_worker["gw1"] - by_worker["gw0"]
    assert _refused(urls.pop())  # the last worker stopped it
    states = list(pytester.path.glob("**/mockserver-shared.json"))
    assert len(states) == 1 and json.loads(states[0].read_text()) == {}  # no user left


def test_with_an_outside_mock_the_summary_counts_the_runs_sessions_only(
    pytester: pytest.Pytester,
) -> None:
    root = _notes(pytester)
    server = MockServerProcess(str(root / "specs"), "--workers", "1")
    try:
        other_client = requests.get(f"{server.url}/notes/5", timeout=10)  # not of the run
        assert other_client.status_code == 200
        result = pytester.runpytest_subprocess(
            "-n", "2", f"--mockserver-url={server.url}", "--mockserver-fail-under=60"
        )
        result.assert_outcomes(passed=4)
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines(
            ["*= mockserver coverage (the tests' sessions) =*", "statuses 4/6 66.7%*"]
        )
        everything = requests.get(f"{server.url}/__mock/coverage", timeout=10).json()
        assert everything["totals"]["statuses"]["covered"] == 5  # the other client's too
        # The CLI reads every session by default; --session narrows it.
        for args, covered in (((), "5/6"), (("--session", "default"), "1/6")):
            done = subprocess.run(
                [sys.executable, "-m", "mockserver", "coverage", "--url", server.url, *args],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0 and f"statuses      {covered}" in done.stdout
    finally:
        assert server.stop() == 0


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


@pytest.mark.parametrize("left", ["dead", "cut"])
def test_a_state_file_left_by_a_killed_run_is_not_trusted(tmp_path: Path, left: str) -> None:
    state = tmp_path / "mockserver-shared.json"
    dead = _dead_pid()
    if left == "dead":  # a mock and its user that died without cleaning up
        state.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": dead, "users": [dead]}))
    else:  # a write cut short
        state.write_text('{"url": "http://127.0.0.1:9", "pi')
    started: list[MockServerProcess] = []

    def start() -> MockServerProcess:
        started.append(MockServerProcess(str(ROOT / "tests" / "data" / "mini.yaml")))
        return started[-1]

    shared = SharedMock(tmp_path, start, None)
    url = shared.acquire()
    assert len(started) == 1 and url == started[0].url
    assert json.loads(state.read_text())["users"] == [os.getpid()]  # the dead one dropped
    assert requests.get(f"{url}/shapes", timeout=10).status_code == 200
    report = shared.release()  # the last user: reads the coverage, stops the mock
    assert report is not None and report["totals"]["statuses"]["covered"] == 1
    assert started[0].process.poll() is not None and json.loads(state.read_text()) == {}


def test_a_mock_that_never_answers_at_the_url_is_one_clear_error(
    pytester: pytest.Pytester,
) -> None:
    _notes(pytester)
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = pytester.runpytest_subprocess(
        f"--mockserver-url=http://127.0.0.1:{port}", "--mockserver-url-wait=0.5"
    )
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(
        [f"*no mock answers at http://127.0.0.1:{port} (--mockserver-url; waited 0.5 s)*"]
    )


def test_under_xdist_a_mock_that_cannot_start_is_tried_once_and_told_to_every_worker(
    pytester: pytest.Pytester,
) -> None:
    bad = pytester.path / "bad.yaml"
    bad.write_text("openapi: 3.1.0\ninfo: [\n", encoding="utf-8")
    pytester.makepyfile(
        test_bad="def test_a(mockserver):\n    pass\n\ndef test_b(mockserver):\n    pass\n"
    )
    # -rN: no short summary, whose lines repeat the error as wide as the terminal allows.
    result = pytester.runpytest_subprocess("-n", "2", "-rN", f"--mockserver-specs={bad}")
    result.assert_outcomes(errors=2)
    assert result.stdout.str().count("MockServerError: mockserver did not start") == 2
    (state,) = pytester.path.glob("**/mockserver-shared.json")
    assert "bad.yaml" in json.loads(state.read_text())["error"]  # written once, read by all


def test_a_conftest_that_brings_its_own_mock_gets_no_second_one(
    pytester: pytest.Pytester,
) -> None:
    root = _notes(pytester)
    server = MockServerProcess(str(root / "specs"), "--workers", "1")
    try:
        (root / "tests" / "conftest.py").write_text(
            "import pytest\n\n"
            "@pytest.fixture(scope='session')\n"
            f"def mockserver_url():\n    return {server.url!r}\n"
        )
        result = pytester.runpytest_subprocess("-n", "2", "--mockserver-fail-under=60")
        result.assert_outcomes(passed=4)
        assert result.ret == pytest.ExitCode.OK
        result.stdout.fnmatch_lines(
            ["*= mockserver coverage (the tests' sessions) =*", "statuses 4/6 66.7%*"]
        )
        assert not list(pytester.path.glob("**/mockserver-shared.json"))  # none started
        served = requests.get(f"{server.url}/__mock/coverage", timeout=10).json()
        assert served["totals"]["statuses"]["covered"] == 4  # the tests used this one
    finally:
        assert server.stop() == 0


def _report(served: list[int], counts: dict[str, int], valid: int) -> dict[str, object]:
    documented = [200, 404]
    uncovered = [s for s in documented if s not in served]
    return {
        "operations": [
            {
                "api": "notes",
                "operationId": "getNote",
                "method": "GET",
                "path": "/notes/{id}",
                "statuses": {
                    "documented": documented,
                    "served": served,
                    "uncovered": uncovered,
                    "counts": counts,
                    "reach": {str(s): {"header": f"X-Mock-Status: {s}"} for s in uncovered},
                },
                "examples": {"documented": ["200.one"], "served": [], "uncovered": ["200.one"]},
                "requests": {"valid": valid, "invalid": 0},
            }
        ],
        "totals": {},
    }


def test_reports_of_several_sessions_or_workers_sum_into_one() -> None:
    merged = merge_reports(
        [_report([200], {"200": 2}, 2), _report([], {}, 0), _report([404], {"404": 1}, 1)]
    )
    (op,) = merged["operations"]
    assert op["statuses"]["served"] == [200, 404] and op["statuses"]["uncovered"] == []
    assert op["statuses"]["counts"] == {"200": 2, "404": 1} and op["statuses"]["reach"] == {}
    assert op["requests"] == {"valid": 3, "invalid": 0}
    assert merged["totals"] == {
        "operations": {"covered": 1, "total": 1, "percent": 100.0},
        "statuses": {"covered": 2, "total": 2, "percent": 100.0},
        "examples": {"covered": 0, "total": 1, "percent": 0.0},
    }
    half = merge_reports([_report([], {}, 0), _report([404], {"404": 1}, 1)])
    assert half["operations"][0]["statuses"]["reach"] == {"200": {"header": "X-Mock-Status: 200"}}
    assert half["totals"]["statuses"]["percent"] == 50.0


def test_a_tests_journal_is_cleared_after_it_and_its_coverage_is_kept(
    pytester: pytest.Pytester,
) -> None:
    _notes(pytester)
    pytester.makepyfile(
        test_order="""
import requests

SEEN = {}

def test_first(mockserver):
    requests.get(mockserver.url + "/notes", headers=mockserver.headers, timeout=10)
    SEEN["session"] = mockserver.session

def test_second(mockserver_url):
    query = {"session": SEEN["session"]}
    journal = requests.get(mockserver_url + "/__mock/requests", params=query, timeout=10)
    assert journal.json()["requests"] == []  # cleared at the first test's teardown
    kept = requests.get(mockserver_url + "/__mock/coverage", params=query, timeout=10)
    assert kept.json()["totals"]["statuses"]["covered"] == 1  # its coverage is kept
"""
    )
    result = pytester.runpytest_subprocess("--mockserver-specs=specs", "test_order.py")
    result.assert_outcomes(passed=2)
