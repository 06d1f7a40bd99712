"""Holds specs/socotra-events.yaml to its source doc, seed 002_2a3286d257394677.txt.

The tables below are written out from the doc (the Events API endpoint index,
the request-parameter tables and the schema blocks), not read from the spec.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.specs.helpers import (
    FIXTURES,
    METHODS,
    load_fixture,
    load_spec,
    operations,
    parameters,
    render_template,
    resolve,
    validator_for,
    walk,
)

API_ID = "socotra-events"
SEED = "002_2a3286d257394677.txt"
JSON = "application/json"
T = "/event/{tenantLocator}/events"

# --- the endpoint index: operationId -> (METHOD, path, summary) -------------------------
OPERATIONS: dict[str, tuple[str, str, str]] = {
    "fetchEvent": ("GET", f"{T}/{{locator}}", "Fetch an Event"),
    "fetchEventsForRequest": ("GET", f"{T}/request/{{locator}}", "Fetch Events for an API Request"),
    "fetchEvents": ("GET", f"{T}/list", "Fetch Multiple Events"),
    "fetchScheduledPolicyEvents": (
        "GET",
        f"{T}/schedules/policy/{{policyLocator}}",
        "Fetch Scheduled Policy Events",
    ),
    "resumeFailedScheduledEvent": (
        "POST",
        f"{T}/schedules/failed/resume",
        "Resume Failed Scheduled Event",
    ),
    "fetchFailedScheduledTenantEvents": (
        "GET",
        f"{T}/schedules/tenant/failed/list",
        "Fetch Failed Scheduled Tenant Events",
    ),
    "fetchFailedScheduledPolicyEvents": (
        "GET",
        f"{T}/schedules/policy/{{policyLocator}}/failed/list",
        "Fetch Failed Scheduled Policy Events",
    ),
    "fetchFailedScheduledEventsByState": (
        "GET",
        f"{T}/schedules/failed/{{failedJobState}}/list",
        "Fetch Failed Scheduled Events By Failed Job State",
    ),
    "fetchFailedScheduledEvents": (
        "GET",
        f"{T}/schedules/failed/list",
        "Fetch Failed Scheduled Events",
    ),
    "deleteFailedScheduledEvent": (
        "DELETE",
        f"{T}/schedules/failed",
        "Delete Failed Scheduled Event",
    ),
}

# --- request parameters: (name, in, required, type, format) -----------------------------
# uuid -> string/uuid; string? -> optional string; int? -> optional int32;
# datetime? -> optional string/date-time.
TENANT = ("tenantLocator", "path", True, "string", "uuid")
LOCATOR = ("locator", "path", True, "string", None)
POLICY = ("policyLocator", "path", True, "string", None)
OFFSET = ("offset", "query", False, "integer", "int32")
COUNT = ("count", "query", False, "integer", "int32")
STATE = ("failedJobState", "path", True, "string", None)

PARAMETERS: dict[str, list[tuple[str, str, bool, str, str | None]]] = {
    "fetchEvent": [TENANT, LOCATOR],
    "fetchEventsForRequest": [TENANT, LOCATOR],
    "fetchEvents": [
        TENANT,
        ("startTimestamp", "query", False, "string", "date-time"),
        ("endTimestamp", "query", False, "string", "date-time"),
        ("type", "query", False, "string", None),
        ("pageSize", "query", False, "integer", "int32"),
        ("pagingToken", "query", False, "string", None),
    ],
    "fetchScheduledPolicyEvents": [TENANT, POLICY],
    "resumeFailedScheduledEvent": [TENANT],
    "fetchFailedScheduledTenantEvents": [TENANT, OFFSET, COUNT],
    "fetchFailedScheduledPolicyEvents": [TENANT, POLICY, OFFSET, COUNT],
    "fetchFailedScheduledEventsByState": [TENANT, STATE, OFFSET, COUNT],
    "fetchFailedScheduledEvents": [TENANT, OFFSET, COUNT],
    "deleteFailedScheduledEvent": [TENANT],
}

# --- responses: operationId -> {status: (media type or None, body shape)} ---------------
# body shape: a component schema name, "Name[]" for an array of it, None for no body.
BAD_REQUEST = (JSON, "ValidationError")  # derived: the doc lists no errors (SOURCES.md)
RESPONSES: dict[str, dict[str, tuple[str | None, str | None]]] = {
    "fetchEvent": {"200": (JSON, "EventResponse"), "400": BAD_REQUEST},
    "fetchEventsForRequest": {"200": (JSON, "EventResponse[]"), "400": BAD_REQUEST},
    "fetchEvents": {"200": (JSON, "EventStreamResponse"), "400": BAD_REQUEST},
    "fetchScheduledPolicyEvents": {"200": (JSON, "ScheduledPolicyEvent[]"), "400": BAD_REQUEST},
    "resumeFailedScheduledEvent": {"200": (None, None), "400": BAD_REQUEST},
    "fetchFailedScheduledTenantEvents": {"200": (JSON, "FailedJobDetails[]"), "400": BAD_REQUEST},
    "fetchFailedScheduledPolicyEvents": {"200": (JSON, "FailedJobDetails[]"), "400": BAD_REQUEST},
    "fetchFailedScheduledEventsByState": {"200": (JSON, "FailedJobDetails[]"), "400": BAD_REQUEST},
    "fetchFailedScheduledEvents": {"200": (JSON, "FailedJobDetails[]"), "400": BAD_REQUEST},
    "deleteFailedScheduledEvent": {"200": (None, None), "400": BAD_REQUEST},
}

# --- request bodies: operationId -> component schema (required, application/json) -------
REQUEST_BODIES: dict[str, str] = {
    "resumeFailedScheduledEvent": "FailedJobRequest",
    "deleteFailedScheduledEvent": "FailedJobRequest",
}

# --- security groups: operationId -> permissions (group "events" for all) ---------------
PERMISSIONS: dict[str, list[str]] = {
    "fetchEvent": ["read"],
    "fetchEventsForRequest": ["read"],
    "fetchEvents": ["read", "list"],
    "fetchScheduledPolicyEvents": ["read"],
    "resumeFailedScheduledEvent": ["write"],
    "fetchFailedScheduledTenantEvents": ["read"],
    "fetchFailedScheduledPolicyEvents": ["read"],
    "fetchFailedScheduledEventsByState": ["read"],
    "fetchFailedScheduledEvents": ["read"],
    "deleteFailedScheduledEvent": ["write"],
}

# --- schemas: name -> (required, {property: (type, format)}) ----------------------------
# type "Name" / "Name[]" is a $ref to a component (array of); "map" is map<string,object>.
SCHEMAS: dict[str, tuple[list[str], dict[str, tuple[Any, str | None]]]] = {
    "EventStreamResponse": (
        ["pagingToken", "events"],
        {"pagingToken": ("string", None), "events": ("EventResponse[]", None)},
    ),
    "EventResponse": (
        ["locator", "userLocator", "requestId", "timestamp", "type", "data"],
        {
            "locator": ("string", None),
            "userLocator": ("string", "uuid"),
            "requestId": ("string", None),
            "timestamp": ("string", "date-time"),
            "type": ("string", None),
            "data": ("map", None),
        },
    ),
    "ScheduledPolicyEvent": (
        ["policyLocator", "transactionLocator", "triggerState", "customEventId"],
        {
            "policyLocator": ("string", None),
            "transactionLocator": ("string", None),
            "triggerState": ("string", None),
            "customEventId": ("string", None),
            "nextEventTime": (["string", "null"], "date-time"),
        },
    ),
    "FailedJobRequest": (
        ["triggerName", "triggerGroup"],
        {"triggerName": ("string", None), "triggerGroup": ("string", None)},
    ),
    "FailedJobDetails": (
        ["triggerName", "failedJobState", "failureCount", "triggerGroup", "updatedAt", "createdAt"],
        {
            "triggerName": ("string", None),
            "failedJobState": ("string", None),
            "failureCount": ("integer", "int32"),
            "triggerGroup": ("string", None),
            "updatedAt": ("string", "date-time"),
            "createdAt": ("string", "date-time"),
        },
    ),
    # derived (not in the doc): the 400 body
    "ValidationError": (
        ["message", "errors"],
        {"message": ("string", None), "errors": ("array", None)},
    ),
}

TRIGGER_STATES = ["BLOCKED", "COMPLETE", "ERROR", "NONE", "NORMAL", "PAUSED"]
FAILED_JOB_STATES = ["queued", "quit"]
VIOLATION_FIELDS = ["in", "name", "rule", "message"]

# fixtures that must exist: (operationId, file name). The doc has no examples, so they are
# named fixtures only (served on `X-Mock-Example: sample`); by default data is generated.
FIXTURE_FILES = [("fetchEvent", "200.sample.json"), ("fetchEvents", "200.sample.json")]

FIXTURE_NAME = re.compile(r"^(?P<status>\d{3})(?:\.(?P<name>[A-Za-z0-9_-]+))?\.json$")


# --- helpers ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec(API_ID)


def _op(spec: dict[str, Any], op_id: str) -> dict[str, Any]:
    return operations(spec)[op_id][2]


def _params(spec: dict[str, Any], op_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    _, path, op = operations(spec)[op_id]
    return parameters(spec, op, spec["paths"][path])


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


def _format_validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return validator_for(spec, schema).evolve(format_checker=Draft202012Validator.FORMAT_CHECKER)


def _assert_shape(spec: dict[str, Any], schema: dict[str, Any], shape: str) -> None:
    """`shape` is "Name" (the component itself) or "Name[]" (an array of it)."""
    if shape.endswith("[]"):
        schema = resolve(spec, schema)
        assert schema["type"] == "array"
        schema = schema["items"]
        shape = shape[:-2]
    assert schema.get("$ref") == f"#/components/schemas/{shape}", schema


def _media_types(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every (label, media type object) of every response and request body."""
    found = []
    for op_id, (_, _, op) in operations(spec).items():
        if "requestBody" in op:
            for mt, media in resolve(spec, op["requestBody"]).get("content", {}).items():
                found.append((f"{op_id} request {mt}", media))
        for status, response in op["responses"].items():
            for mt, media in resolve(spec, response).get("content", {}).items():
                found.append((f"{op_id} {status} {mt}", media))
    return found


# --- document ---------------------------------------------------------------------------
def test_info(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.1.0"
    info = spec["info"]
    assert info["title"] == "Socotra Events API"
    assert info["version"] == "1.0"
    assert info["x-source"] == [SEED]
    # the doc gives no version number: the assumed one is marked derived
    assert info["x-derived"] is True
    assert info["x-derived-reason"].strip()


def test_operation_set(spec: dict[str, Any]) -> None:
    found = {(m, p, op_id) for op_id, (m, p, _) in operations(spec).items()}
    assert found == {(m, p, op_id) for op_id, (m, p, _) in OPERATIONS.items()}
    count = sum(1 for item in spec["paths"].values() for m in METHODS if m in item)
    assert count == len(OPERATIONS)


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_summary_and_tags(spec: dict[str, Any], op_id: str) -> None:
    op = _op(spec, op_id)
    assert op["summary"] == OPERATIONS[op_id][2]
    declared = {tag["name"] for tag in spec["tags"]}
    assert op["tags"]
    assert set(op["tags"]) <= declared


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_permissions(spec: dict[str, Any], op_id: str) -> None:
    assert _op(spec, op_id)["x-permissions"] == {
        "group": "events",
        "permissions": PERMISSIONS[op_id],
    }


def test_no_invented_security(spec: dict[str, Any]) -> None:
    # 002 names permission groups only; no scheme (and no 401) is documented
    assert "security" not in spec
    assert "securitySchemes" not in spec.get("components", {})
    for op_id, (_, _, op) in operations(spec).items():
        assert "security" not in op, op_id


# --- parameters -------------------------------------------------------------------------
@pytest.mark.parametrize("op_id", OPERATIONS)
def test_parameters(spec: dict[str, Any], op_id: str) -> None:
    params = _params(spec, op_id)
    expected = {(where, name): rest for name, where, *rest in PARAMETERS[op_id]}
    assert set(params) == set(expected)
    for key, (required, type_, format_) in expected.items():
        param = params[key]
        schema = resolve(spec, param["schema"])
        assert param.get("required", False) is required, key
        assert schema["type"] == type_, key
        assert schema.get("format") == format_, key


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_tenant_locator_is_shared(spec: dict[str, Any], op_id: str) -> None:
    _, path, op = operations(spec)[op_id]
    raw = [*spec["paths"][path].get("parameters", []), *op.get("parameters", [])]
    refs = [p.get("$ref") for p in raw]
    assert "#/components/parameters/tenantLocator" in refs
    assert all(p.get("name") != "tenantLocator" for p in raw)


def test_failed_job_state_parameter_enum(spec: dict[str, Any]) -> None:
    param = _params(spec, "fetchFailedScheduledEventsByState")[("path", "failedJobState")]
    assert resolve(spec, param["schema"])["enum"] == FAILED_JOB_STATES


# --- request bodies ---------------------------------------------------------------------
@pytest.mark.parametrize("op_id", OPERATIONS)
def test_request_body(spec: dict[str, Any], op_id: str) -> None:
    op = _op(spec, op_id)
    if op_id not in REQUEST_BODIES:
        assert "requestBody" not in op
        return
    body = resolve(spec, op["requestBody"])
    assert body["required"] is True
    assert set(body["content"]) == {JSON}
    _assert_shape(spec, body["content"][JSON]["schema"], REQUEST_BODIES[op_id])


# --- responses --------------------------------------------------------------------------
@pytest.mark.parametrize("op_id", OPERATIONS)
def test_responses(spec: dict[str, Any], op_id: str) -> None:
    responses = _op(spec, op_id)["responses"]
    assert set(responses) == set(RESPONSES[op_id])
    for status, (media_type, shape) in RESPONSES[op_id].items():
        response = resolve(spec, responses[status])
        if media_type is None:
            assert "content" not in response, (op_id, status)
            continue
        assert set(response["content"]) == {media_type}, (op_id, status)
        assert shape is not None
        _assert_shape(spec, response["content"][media_type]["schema"], shape)


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_bad_request_is_shared_and_derived(spec: dict[str, Any], op_id: str) -> None:
    raw = _op(spec, op_id)["responses"]["400"]
    assert raw == {"$ref": "#/components/responses/BadRequest"}
    response = resolve(spec, raw)
    assert response["x-derived"] is True
    assert response["x-derived-reason"].strip()


def test_no_invented_not_found(spec: dict[str, Any]) -> None:
    for op_id, (_, _, op) in operations(spec).items():
        assert "404" not in op["responses"], op_id


# --- schemas ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCHEMAS)
def test_schema(spec: dict[str, Any], name: str) -> None:
    required, props = SCHEMAS[name]
    schema = _schema(spec, name)
    assert schema["type"] == "object"
    assert schema.get("required", []) == required
    assert set(schema["properties"]) == set(props)
    for prop, (type_, format_) in props.items():
        node = schema["properties"][prop]
        if type_ == "map":
            assert node["type"] == "object"
            assert node["additionalProperties"] == {"type": "object"}
        elif isinstance(type_, str) and type_.endswith("[]"):
            _assert_shape(spec, node, type_)
        else:
            node = resolve(spec, node)
            assert node["type"] == type_, (name, prop)
        assert node.get("format") == format_, (name, prop)


def test_schema_enums(spec: dict[str, Any]) -> None:
    trigger = _schema(spec, "ScheduledPolicyEvent")["properties"]["triggerState"]
    assert resolve(spec, trigger)["enum"] == TRIGGER_STATES
    state = _schema(spec, "FailedJobDetails")["properties"]["failedJobState"]
    assert resolve(spec, state)["enum"] == FAILED_JOB_STATES


def test_next_event_time_is_nullable(spec: dict[str, Any]) -> None:
    validator = _format_validator(spec, {"$ref": "#/components/schemas/ScheduledPolicyEvent"})
    base = {
        "policyLocator": "p",
        "transactionLocator": "t",
        "triggerState": "NORMAL",
        "customEventId": "c",
    }
    for next_time in (None, "2024-06-01T00:00:00Z"):
        validator.validate({**base, "nextEventTime": next_time})
    validator.validate(base)
    assert not validator.is_valid({**base, "nextEventTime": "tomorrow"})
    assert not validator.is_valid({**base, "triggerState": "RUNNING"})


def test_validation_error_items(spec: dict[str, Any]) -> None:
    schema = _schema(spec, "ValidationError")
    assert schema["x-derived"] is True
    items = resolve(spec, schema["properties"]["errors"]["items"])
    assert items["required"] == VIOLATION_FIELDS
    assert all(items["properties"][f]["type"] == "string" for f in VIOLATION_FIELDS)


# --- examples, fixtures, error templates -----------------------------------------------
def test_only_request_bodies_have_examples(spec: dict[str, Any]) -> None:
    # The doc has no examples. Request bodies carry derived ones (clients can copy them);
    # responses carry none, so the mock serves generated data that differs per resource.
    for label, media in _media_types(spec):
        assert "example" not in media, label
        is_request = " request " in label
        assert bool(media.get("examples")) == is_request, label
        for name, example in media.get("examples", {}).items():
            assert example.get("summary"), (label, name)
            assert "value" in example, (label, name)
            # the doc has no examples: every one is derived
            assert example.get("x-derived") is True, (label, name)


def test_examples_validate(spec: dict[str, Any]) -> None:
    for label, media in _media_types(spec):
        validator = _format_validator(spec, media["schema"])
        for name, example in media.get("examples", {}).items():
            errors = list(validator.iter_errors(example["value"]))
            assert not errors, (label, name, [e.message for e in errors])


def test_fixtures_exist() -> None:
    for op_id, filename in FIXTURE_FILES:
        assert (FIXTURES / API_ID / op_id / filename).is_file(), op_id


def test_fixtures_validate(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    files = sorted((FIXTURES / API_ID).glob("*/*"))
    assert files
    for path in files:
        op_id = path.parent.name
        match = FIXTURE_NAME.match(path.name)
        assert op_id in ops and match, path
        response = resolve(spec, ops[op_id][2]["responses"][match["status"]])
        schema = response["content"][JSON]["schema"]
        errors = list(_format_validator(spec, schema).iter_errors(load_fixture(path)))
        assert not errors, (path, [e.message for e in errors])


def test_error_templates(spec: dict[str, Any]) -> None:
    checked = 0
    for op_id, (_, _, op) in operations(spec).items():
        for status, raw in op["responses"].items():
            if int(status) < 400:
                continue
            for mt, media in resolve(spec, raw)["content"].items():
                template = media["x-error-template"]
                assert "{message}" in template["message"], (op_id, status, mt)
                body = render_template(template)
                validator = validator_for(spec, media["schema"])
                errors = list(validator.iter_errors(body))
                assert not errors, (op_id, status, [e.message for e in errors])
                checked += 1
    assert checked == len(OPERATIONS)


def test_derived_elements_have_reasons(spec: dict[str, Any]) -> None:
    marked = [(where, node) for where, node in walk(spec) if node.get("x-derived") is True]
    assert marked
    for where, node in marked:
        reason = node.get("x-derived-reason")
        assert isinstance(reason, str) and reason.strip(), where
