"""The pytest plugin, run in real pytest sessions through `pytester`."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

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
