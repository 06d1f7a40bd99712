"""Control headers: decoded once, checked against the operation, forced status wins."""

from __future__ import annotations

import json
import time

import pytest
from flask.testing import FlaskClient

from mockserver.controls import Controls, _prefer, decode
from mockserver.engine import Engine
from mockserver.problems import BadControl

MODULE = "/iacm/api/modules/146/events"
KEY = {"x-api-key": "k"}
OK = {"account": "7", "eventType": "x", "org": "v", "project": "p"}


def op(engine: Engine, operation_id: str):
    return next(o for o in engine.operations if o.operation_id == operation_id)


def test_no_headers_no_controls(engine: Engine) -> None:
    assert decode({}, op(engine, "sendModuleEvent"), engine.fixtures) == Controls()


def test_prefer_is_parsed_like_prism() -> None:
    assert _prefer('code=500, example="doc"; dynamic=true') == {
        "code": "500",
        "example": "doc",
        "dynamic": "true",
    }


def test_x_mock_headers_win_over_prefer(engine: Engine) -> None:
    controls = decode(
        {"x-mock-status": "404", "prefer": "code=500"},
        op(engine, "sendModuleEvent"),
        engine.fixtures,
    )
    assert controls.status == 404


@pytest.mark.parametrize(
    ("headers", "control"),
    [
        ({"x-mock-status": "503"}, "X-Mock-Status"),
        ({"x-mock-status": "abc"}, "X-Mock-Status"),
        ({"prefer": "code=201"}, "X-Mock-Status"),
        ({"x-mock-example": "nope"}, "X-Mock-Example"),
        ({"x-mock-dynamic": "maybe"}, "X-Mock-Dynamic"),
        ({"x-mock-seed": "1.5"}, "X-Mock-Seed"),
        ({"x-mock-delay": "-5"}, "X-Mock-Delay"),
        ({"x-mock-delay": "600001"}, "X-Mock-Delay"),
        ({"x-mock-fault": "explode"}, "X-Mock-Fault"),
    ],
)
def test_nonsense_controls_list_what_is_valid(engine: Engine, headers, control) -> None:
    with pytest.raises(BadControl) as caught:
        decode(headers, op(engine, "sendModuleEvent"), engine.fixtures)
    assert caught.value.extra["control"] == control


def test_bad_control_is_a_problem_listing_statuses(client: FlaskClient) -> None:
    response = client.post(MODULE, headers={**KEY, "X-Mock-Status": "418"}, json=OK)
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    body = response.json
    assert body is not None
    assert body["valid"] == [200, 400, 401, 403, 404, 408, 409, 423, 499, 500, 502]
    assert "418" in body["detail"]


def test_forced_status_wins_over_an_invalid_request(client: FlaskClient) -> None:
    response = client.post(MODULE, headers={"X-Mock-Status": "503"}, data=b"{broken")
    assert response.status_code == 400  # 503 is not documented: a bad control
    forced = client.post(MODULE, headers={"X-Mock-Status": "502"}, data=b"{broken")
    assert forced.status_code == 502
    assert forced.content_type == "application/vnd.goa.error"
    assert json.loads(forced.data)["fault"] is True


def test_forced_example_and_dynamic(client: FlaskClient) -> None:
    path = "/event/3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b/events/abc"
    sample = client.get(path, headers={"X-Mock-Example": "sample"})
    assert sample.status_code == 200
    generated = client.get(path)
    assert sample.json != generated.json
    assert client.get(path, headers={"Prefer": "example=sample"}).json == sample.json
    fixture_400 = client.post(MODULE, headers={**KEY, "X-Mock-Status": "400"}, json=OK)
    assert json.loads(fixture_400.data)["message"] == "parameter 'p' must be an integer"
    dynamic = client.post(
        MODULE, headers={**KEY, "X-Mock-Status": "400", "X-Mock-Dynamic": "true"}, json=OK
    )
    assert dynamic.status_code == 400 and dynamic.data != fixture_400.data


def test_seed_gives_the_same_bytes(client: FlaskClient) -> None:
    path = "/event/3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b/events/list"
    one = client.get(path, headers={"X-Mock-Seed": "42"}).data
    assert client.get(path + "?pageSize=3", headers={"X-Mock-Seed": "42"}).data == one
    assert client.get(path, headers={"X-Mock-Seed": "43"}).data != one


def test_delay_waits_at_least_that_long(client: FlaskClient) -> None:
    started = time.monotonic()
    response = client.get("/api/v1/events/query/", headers={"X-Mock-Delay": "200"})
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2
