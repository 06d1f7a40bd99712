"""End to end, through real HTTP to `mockserver serve`: every operation, valid and invalid.

The request tables are written out by hand from the specs; responses are checked with
validators built here from the raw YAML (not the server's compiled ones), so a bug in
the server's loader cannot vouch for itself.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from mockserver.engine import Engine
from tests.conftest import LiveServer
from tests.specs.helpers import load_spec, operations, resolve, validator_for

TENANT = "3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b"
KEY = {"x-api-key": "secret"}


@dataclass(frozen=True)
class Call:
    api: str
    operation_id: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    raw: bytes | None = None

    def send(self, server: LiveServer) -> requests.Response:
        headers = dict(self.headers)
        data = self.raw
        if self.body is not None:
            data = json.dumps(self.body).encode()
            headers.setdefault("Content-Type", "application/json")
        return requests.request(
            self.method, server.url + self.path, headers=headers, data=data, timeout=10
        )


def huawei_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "event_name": "systemInvaded",
        "event_source": "financial.System",
        "time": int(time.time() * 1000),
        "detail": {"event_level": "Major"},
    }
    event.update(overrides)
    return event


def valid_calls() -> list[Call]:
    """One valid request for each of the 25 operations."""
    e, h, w, s = "escapekit-events", "harness-iacm", "huawei-ces-events", "socotra-events"
    q = "/api/v1/events/query"
    t = f"/event/{TENANT}/events"
    job = {"triggerName": "renewal", "triggerGroup": "policies"}
    return [
        Call(e, "queryEvents", "GET", f"{q}/?page_size=10&inventory_project=test"),
        Call(
            e,
            "createEvent",
            "POST",
            "/internal/create-event",
            body={"id": "123", "type": "CREATE_INVENTORY_PROJECT", "username": "user"},
        ),
        Call(e, "queryInventoryEvents", "GET", f"{q}/inventory/"),
        Call(e, "queryInventoryProjectEvents", "GET", f"{q}/inventory/shop/"),
        Call(e, "queryInventoryApplicationEvents", "GET", f"{q}/inventory/shop/web/"),
        Call(e, "queryInventoryVersionEvents", "GET", f"{q}/inventory/shop/web/1.2.0/"),
        Call(e, "queryStateEvents", "GET", f"{q}/project/?page_from=99"),
        Call(e, "queryStateProjectEvents", "GET", f"{q}/project/shop/"),
        Call(e, "queryStateEnvironmentEvents", "GET", f"{q}/project/shop/prod/"),
        Call(
            e,
            "queryStateDeploymentEvents",
            "GET",
            f"{q}/project/shop/prod/deployment?deployment=web",
        ),
        Call(e, "getProjectSubscriptions", "GET", "/api/v1/events/subscriptions/project/shop/"),
        Call(
            e,
            "putProjectSubscriptions",
            "PUT",
            "/api/v1/events/subscriptions/project/shop/",
            body=[{"type": "webhook", "url": "https://hooks.example.com/events"}],
        ),
        Call(
            h,
            "sendModuleEvent",
            "POST",
            "/iacm/api/modules/146/events",
            headers=KEY,
            body={"account": "7", "eventType": "apply", "org": "v", "project": "7ja"},
        ),
        Call(
            h,
            "sendWorkspaceEvent",
            "POST",
            "/iacm/api/orgs/yvt/projects/n/workspaces/vx/events",
            headers={**KEY, "Harness-Account": "g6"},
            body={"event_type": "plan"},
        ),
        Call(
            w,
            "reportEvents",
            "POST",
            "/V1.0/0a1b2c3d/events",
            body=[huawei_event(), huawei_event(event_name="systemParalysis")],
        ),
        Call(s, "fetchEvent", "GET", f"{t}/abc"),
        Call(s, "fetchEventsForRequest", "GET", f"{t}/request/req-1"),
        Call(
            s, "fetchEvents", "GET", f"{t}/list?startTimestamp=2025-01-01T00%3A00%3A00Z&pageSize=5"
        ),
        Call(s, "fetchScheduledPolicyEvents", "GET", f"{t}/schedules/policy/pol-1"),
        Call(s, "resumeFailedScheduledEvent", "POST", f"{t}/schedules/failed/resume", body=job),
        Call(
            s,
            "fetchFailedScheduledTenantEvents",
            "GET",
            f"{t}/schedules/tenant/failed/list?offset=0&count=5",
        ),
        Call(
            s, "fetchFailedScheduledPolicyEvents", "GET", f"{t}/schedules/policy/pol-1/failed/list"
        ),
        Call(s, "fetchFailedScheduledEventsByState", "GET", f"{t}/schedules/failed/queued/list"),
        Call(s, "fetchFailedScheduledEvents", "GET", f"{t}/schedules/failed/list"),
        Call(s, "deleteFailedScheduledEvent", "DELETE", f"{t}/schedules/failed", body=job),
    ]


def documented(api: str, operation_id: str, status: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(raw spec, resolved response object) for a documented status."""
    spec = load_spec(api)
    _, _, op = operations(spec)[operation_id]
    return spec, resolve(spec, op["responses"][str(status)])


def assert_conforms(api: str, operation_id: str, response: requests.Response) -> Any:
    """The answer's status is documented, its media type and body are the documented ones."""
    spec, doc = documented(api, operation_id, response.status_code)
    content = doc.get("content")
    if not content:
        assert response.content == b"", response.content[:200]
        return None
    media_type, media = next(iter(content.items()))
    assert response.headers["Content-Type"].split(";")[0] == media_type
    body = response.json()
    errors = [e.message for e in validator_for(spec, media["schema"]).iter_errors(body)]
    assert not errors, errors
    return body


def test_the_table_covers_every_operation(engine: Engine) -> None:
    table = {(c.api, c.operation_id) for c in valid_calls()}
    assert table == {(op.api, op.operation_id) for op in engine.operations}
    assert len(table) == 25


@pytest.mark.parametrize("call", valid_calls(), ids=lambda c: c.operation_id)
def test_valid_request_gets_documented_success(live_server: LiveServer, call: Call) -> None:
    response = call.send(live_server)
    spec = load_spec(call.api)
    _, _, op = operations(spec)[call.operation_id]
    success = min(int(s) for s in op["responses"] if s.startswith("2"))
    assert response.status_code == success, response.text[:500]
    assert_conforms(call.api, call.operation_id, response)


# -- invalid requests: one per rule kind, each naming the field ----------------------------
@dataclass(frozen=True)
class Bad:
    rule: str
    call: Call
    status: int
    mentions: tuple[str, ...]


def invalid_calls() -> list[Bad]:
    e, h, w, s = "escapekit-events", "harness-iacm", "huawei-ces-events", "socotra-events"
    module = "/iacm/api/modules/146/events"
    workspace = "/iacm/api/orgs/yvt/projects/n/workspaces/vx/events"
    ok_module = {"account": "7", "eventType": "apply", "org": "v", "project": "7ja"}
    t = f"/event/{TENANT}/events"
    q = "/api/v1/events/query"
    return [
        # harness-iacm: goa errors in application/vnd.goa.error
        Bad(
            "security",
            Call(h, "sendModuleEvent", "POST", module, body=ok_module),
            401,
            ("x-api-key",),
        ),
        Bad(
            "required",
            Call(
                h,
                "sendModuleEvent",
                "POST",
                module,
                KEY,
                body={"eventType": "x", "org": "v", "project": "p"},
            ),
            400,
            ("account",),
        ),
        Bad(
            "type",
            Call(h, "sendModuleEvent", "POST", module, KEY, body={**ok_module, "org": 5}),
            400,
            ("org", "string"),
        ),
        Bad(
            "enum",
            Call(
                h,
                "sendWorkspaceEvent",
                "POST",
                workspace,
                {**KEY, "Harness-Account": "g6"},
                body={"event_type": "exploded"},
            ),
            400,
            ("event_type", "exploded"),
        ),
        Bad(
            "required-header",
            Call(h, "sendWorkspaceEvent", "POST", workspace, KEY, body={"event_type": "plan"}),
            400,
            ("Harness-Account",),
        ),
        Bad(
            "nested-required",
            Call(
                h,
                "sendWorkspaceEvent",
                "POST",
                workspace,
                {**KEY, "Harness-Account": "g6"},
                body={"event_type": "plan", "metadata": {"drift_counts": {"added": 1}}},
            ),
            400,
            ("metadata.drift_counts.changed", "metadata.drift_counts.deleted"),
        ),
        Bad(
            "syntax",
            Call(
                h,
                "sendModuleEvent",
                "POST",
                module,
                {**KEY, "Content-Type": "application/json"},
                raw=b'{"account": ',
            ),
            400,
            ("not valid JSON",),
        ),
        Bad(
            "content-type",
            Call(
                h,
                "sendModuleEvent",
                "POST",
                module,
                {**KEY, "Content-Type": "text/plain"},
                raw=b"hello",
            ),
            400,
            ("text/plain", "application/json"),
        ),
        Bad(
            "all-failures",
            Call(h, "sendModuleEvent", "POST", module, KEY, body={}),
            400,
            ("account", "eventType", "org", "project"),
        ),
        # huawei-ces-events: a JSON string body
        Bad(
            "pattern",
            Call(
                w, "reportEvents", "POST", "/V1.0/p1/events", body=[huawei_event(event_name="1st")]
            ),
            400,
            ("[0].event_name",),
        ),
        Bad(
            "maxLength",
            Call(
                w,
                "reportEvents",
                "POST",
                "/V1.0/p1/events",
                body=[huawei_event(detail={"content": "x" * 4097})],
            ),
            400,
            ("[0].detail.content",),
        ),
        Bad(
            "maxItems",
            Call(
                w,
                "reportEvents",
                "POST",
                "/V1.0/p1/events",
                body=[
                    huawei_event(
                        detail={
                            "dimensions": [
                                {"name": "instance_id", "value": str(i)} for i in range(5)
                            ]
                        }
                    )
                ],
            ),
            400,
            ("[0].detail.dimensions", "more than 4 items"),
        ),
        Bad(
            "time-window",
            Call(
                w,
                "reportEvents",
                "POST",
                "/V1.0/p1/events",
                body=[huawei_event(), huawei_event(time=1522121194000)],
            ),
            400,
            ("[1].time", "time window"),
        ),
        Bad(
            "path-length",
            Call(w, "reportEvents", "POST", "/V1.0/" + "p" * 65 + "/events", body=[huawei_event()]),
            400,
            ("project_id",),
        ),
        Bad(
            "minItems", Call(w, "reportEvents", "POST", "/V1.0/p1/events", body=[]), 400, ("body",)
        ),
        # socotra-events: derived ValidationError
        Bad(
            "uuid",
            Call(s, "fetchEvent", "GET", "/event/not-a-uuid/events/abc"),
            400,
            ("tenantLocator", "uuid"),
        ),
        Bad(
            "integer-query",
            Call(s, "fetchEvents", "GET", f"{t}/list?pageSize=abc"),
            400,
            ("pageSize", "integer"),
        ),
        Bad(
            "date-time-query",
            Call(s, "fetchEvents", "GET", f"{t}/list?startTimestamp=yesterday"),
            400,
            ("startTimestamp", "date-time"),
        ),
        Bad(
            "enum-path",
            Call(s, "fetchFailedScheduledEventsByState", "GET", f"{t}/schedules/failed/lost/list"),
            400,
            ("failedJobState",),
        ),
        Bad(
            "body-required",
            Call(
                s,
                "resumeFailedScheduledEvent",
                "POST",
                f"{t}/schedules/failed/resume",
                body={"triggerName": "a"},
            ),
            400,
            ("triggerGroup",),
        ),
        Bad(
            "missing-body",
            Call(s, "deleteFailedScheduledEvent", "DELETE", f"{t}/schedules/failed"),
            400,
            ("body is required",),
        ),
        # escapekit-events: derived Error
        Bad(
            "integer-query",
            Call(e, "queryEvents", "GET", f"{q}/?page_size=ten"),
            400,
            ("page_size",),
        ),
        Bad(
            "required-query",
            Call(e, "queryStateDeploymentEvents", "GET", f"{q}/project/shop/prod/deployment"),
            400,
            ("deployment",),
        ),
        Bad(
            "enum",
            Call(e, "createEvent", "POST", "/internal/create-event", body={"type": "NOT_A_TYPE"}),
            400,
            ("type",),
        ),
        Bad(
            "format-uri",
            Call(
                e,
                "putProjectSubscriptions",
                "PUT",
                "/api/v1/events/subscriptions/project/shop/",
                body=[{"type": "webhook", "url": "not a url"}],
            ),
            400,
            ("[0].url",),
        ),
    ]


@pytest.mark.parametrize("bad", invalid_calls(), ids=lambda b: f"{b.call.api}-{b.rule}")
def test_invalid_request_gets_documented_error(live_server: LiveServer, bad: Bad) -> None:
    response = bad.call.send(live_server)
    assert response.status_code == bad.status, response.text[:500]
    body = assert_conforms(bad.call.api, bad.call.operation_id, response)
    text = json.dumps(body)
    for needle in bad.mentions:
        assert needle in text, (needle, text[:800])


def test_goa_error_has_every_field(live_server: LiveServer) -> None:
    call = Call(
        "harness-iacm",
        "sendModuleEvent",
        "POST",
        "/iacm/api/modules/146/events",
        KEY,
        body={"account": 7},
    )
    body = call.send(live_server).json()
    assert body["name"] == "bad_request"
    assert body["fault"] is False and body["temporary"] is False and body["timeout"] is False
    assert body["id"]
    assert "account" in body["message"] and "eventType" in body["message"]


def test_same_resource_same_data_other_resource_other_data(live_server: LiveServer) -> None:
    def fetch(locator: str) -> Any:
        return requests.get(f"{live_server.url}/event/{TENANT}/events/{locator}", timeout=10).json()

    first, other, again = fetch("abc"), fetch("xyz"), fetch("abc")
    assert first == again
    assert first != other
    assert first["locator"] == "abc" and other["locator"] == "xyz"


def test_huawei_answers_one_item_per_reported_event(live_server: LiveServer) -> None:
    names = ["alpha", "beta", "gamma"]
    call = Call(
        "huawei-ces-events",
        "reportEvents",
        "POST",
        "/V1.0/p1/events",
        body=[huawei_event(event_name=n) for n in names],
    )
    response = call.send(live_server)
    assert response.status_code == 201
    body = assert_conforms(call.api, call.operation_id, response)
    assert [item["event_name"] for item in body] == names
    assert len({item["event_id"] for item in body}) == 3


def test_unknown_path_and_method_are_problems(live_server: LiveServer) -> None:
    missing = requests.get(f"{live_server.url}/nowhere/{uuid.uuid4()}", timeout=10)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert missing.json()["status"] == 404 and "GET /__mock/apis" in missing.json()["detail"]

    slash = requests.get(f"{live_server.url}/api/v1/events/query", timeout=10)
    assert slash.status_code == 404
    assert "/api/v1/events/query/" in slash.json()["detail"]

    wrong = requests.delete(f"{live_server.url}/api/v1/events/subscriptions/project/p/", timeout=10)
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, HEAD, OPTIONS, PUT"
    assert wrong.headers["Content-Type"] == "application/problem+json"


def test_health(live_server: LiveServer) -> None:
    response = requests.get(f"{live_server.url}/__mock/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["operations"] == 25
    assert sorted(body["apis"]) == [
        "escapekit-events",
        "harness-iacm",
        "huawei-ces-events",
        "socotra-events",
    ]


def every_documented_status() -> list[tuple[Call, int]]:
    cases = []
    for call in valid_calls():
        spec = load_spec(call.api)
        _, _, op = operations(spec)[call.operation_id]
        cases += [(call, int(status)) for status in op["responses"]]
    return cases


@pytest.mark.parametrize(
    ("call", "status"),
    every_documented_status(),
    ids=lambda v: str(v) if isinstance(v, int) else v.operation_id,
)
def test_every_documented_status_can_be_forced(
    live_server: LiveServer, call: Call, status: int
) -> None:
    forced = Call(
        call.api,
        call.operation_id,
        call.method,
        call.path,
        {**call.headers, "X-Mock-Status": str(status)},
        call.body,
        call.raw,
    )
    response = forced.send(live_server)
    assert response.status_code == status, response.text[:300]
    assert_conforms(call.api, call.operation_id, response)


def test_every_status_of_every_operation_is_in_that_table() -> None:
    # Harness 2 x 11, Huawei 8, Socotra 10 x 2, EscapeKit 11 x 2 + 1 (no 400 on the GET
    # of subscriptions): counted from the docs, not from the specs.
    assert len(every_documented_status()) == 22 + 8 + 20 + 23
