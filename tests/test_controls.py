"""Control headers: decoded once, checked against the operation, forced status wins."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from mockserver.controls import Controls, _prefer, decode
from mockserver.engine import Engine
from mockserver.problems import BadControl
from tests.conftest import LiveServer

MODULE = "/iacm/api/modules/146/events"
TENANT = "3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b"
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


def test_bad_control_is_a_problem_listing_statuses(live_server: LiveServer) -> None:
    response = post(live_server, {**KEY, "X-Mock-Status": "418"}, OK)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["valid"] == [200, 400, 401, 403, 404, 408, 409, 423, 499, 500, 502]
    assert "418" in body["detail"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Mock-Status", "201"),
        ("Prefer", "code=abc"),
        ("X-Mock-Example", "nope"),
        ("X-Mock-Dynamic", "maybe"),
        ("X-Mock-Seed", "x"),
        ("X-Mock-Delay", "-1"),
        ("X-Mock-Delay", "60001"),
        ("X-Mock-Fault", "explode"),
    ],
)
def test_every_bad_control_value_over_http(
    live_server: LiveServer, header: str, value: str
) -> None:
    response = post(live_server, {**KEY, header: value}, OK)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["control"].lower() in (header.lower(), "x-mock-status")


def test_forced_status_wins_over_an_invalid_request(live_server: LiveServer) -> None:
    for header in ({"X-Mock-Status": "502"}, {"Prefer": "code=502"}):
        forced = post(live_server, header, None, raw=b"{broken")
        assert forced.status_code == 502
        assert forced.headers["Content-Type"] == "application/vnd.goa.error"
        assert forced.json()["fault"] is True


def test_forced_example_and_dynamic(live_server: LiveServer) -> None:
    url = f"{live_server.url}/event/{TENANT}/events/abc"
    sample = requests.get(url, headers={"X-Mock-Example": "sample"}, timeout=10)
    assert sample.status_code == 200
    generated = requests.get(url, timeout=10)
    assert sample.json() != generated.json()
    assert requests.get(url, headers={"Prefer": "example=sample"}, timeout=10).json() == (
        sample.json()
    )
    fixture_400 = post(live_server, {**KEY, "X-Mock-Status": "400"}, OK)
    assert fixture_400.json()["message"] == "parameter 'p' must be an integer"
    for header in ({"X-Mock-Dynamic": "true"}, {"Prefer": "code=400, dynamic=true"}):
        dynamic = post(live_server, {**KEY, "X-Mock-Status": "400", **header}, OK)
        assert dynamic.status_code == 400 and dynamic.content != fixture_400.content
    example = requests.post(
        f"{live_server.url}/V1.0/p1/events",
        json=[],
        headers={"X-Mock-Example": "created", "X-Mock-Status": "201"},
        timeout=10,
    )
    assert [e["event_name"] for e in example.json()] == ["systemInvaded", "systemParalysis"]


def test_seed_gives_the_same_bytes(live_server: LiveServer) -> None:
    url = f"{live_server.url}/event/{TENANT}/events/list"
    one = requests.get(url, headers={"X-Mock-Seed": "42"}, timeout=10).content
    assert (
        requests.get(url + "?pageSize=3", headers={"X-Mock-Seed": "42"}, timeout=10).content == one
    )
    assert requests.get(url, headers={"X-Mock-Seed": "43"}, timeout=10).content != one


def test_delay_waits_at_least_that_long(live_server: LiveServer) -> None:
    started = time.monotonic()
    response = requests.get(
        f"{live_server.url}/api/v1/events/query/", headers={"X-Mock-Delay": "200"}, timeout=10
    )
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


def post(
    server: LiveServer, headers: dict[str, str], body: object, raw: bytes | None = None
) -> requests.Response:
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(
        server.url + MODULE,
        data=data,
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )


def test_ranges_and_default_are_forceable() -> None:
    from mockserver.controls import decode
    from mockserver.engine import Engine
    from mockserver.problems import BadControl

    engine = Engine.from_paths([Path(__file__).parent / "data" / "answers.yaml"], None)
    ops = {op.operation_id: op for op in engine.operations}
    create, get_pet = ops["createPet"], ops["getPet"]
    assert decode({"x-mock-status": "404"}, create, engine.fixtures).status == 404
    assert decode({"x-mock-status": "4xx"}, create, engine.fixtures).status == 400
    assert decode({"x-mock-status": "599"}, get_pet, engine.fixtures).status == 599
    assert decode({"x-mock-status": "Default"}, get_pet, engine.fixtures).status == 500
    for bad in ("503", "4040", "099", "600"):
        with pytest.raises(BadControl) as caught:
            decode({"x-mock-status": bad}, create, engine.fixtures)
        assert caught.value.extra["valid"] == [201, "4XX"]
    with pytest.raises(BadControl) as caught:
        decode({"x-mock-status": "600"}, get_pet, engine.fixtures)
    assert "any status from 100 to 599" in caught.value.detail
