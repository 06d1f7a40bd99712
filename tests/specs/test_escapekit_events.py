"""Hold specs/escapekit-events.yaml to its source doc (seed 003, paths from SOURCES.md).

The tables below are written out from the doc, not read from the spec.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.specs.helpers import (
    FIXTURES,
    load_fixture,
    load_spec,
    operations,
    parameters,
    render_template,
    resolve,
    validator_for,
    walk,
)

API_ID = "escapekit-events"
SEED = "003_1730af520d1bf014.txt"

# ---------------------------------------------------------------------------
# Tables from the doc
# ---------------------------------------------------------------------------

# operationId -> (METHOD, path); the 12 endpoints of SOURCES.md, in the doc's order.
OPERATIONS = {
    "queryEvents": ("GET", "/api/v1/events/query/"),
    "createEvent": ("POST", "/internal/create-event"),
    "queryInventoryEvents": ("GET", "/api/v1/events/query/inventory/"),
    "queryInventoryProjectEvents": ("GET", "/api/v1/events/query/inventory/{project}/"),
    "queryInventoryApplicationEvents": (
        "GET",
        "/api/v1/events/query/inventory/{project}/{application}/",
    ),
    "queryInventoryVersionEvents": (
        "GET",
        "/api/v1/events/query/inventory/{project}/{application}/{version}/",
    ),
    "queryStateEvents": ("GET", "/api/v1/events/query/project/"),
    "queryStateProjectEvents": ("GET", "/api/v1/events/query/project/{project}/"),
    "queryStateEnvironmentEvents": ("GET", "/api/v1/events/query/project/{project}/{environment}/"),
    "queryStateDeploymentEvents": (
        "GET",
        "/api/v1/events/query/project/{project}/{environment}/deployment",
    ),
    "getProjectSubscriptions": ("GET", "/api/v1/events/subscriptions/project/{project}/"),
    "putProjectSubscriptions": ("PUT", "/api/v1/events/subscriptions/project/{project}/"),
}

PAGE_SIZE = ("query", "page_size", False, "integer", "Limits the number of events being returned.")
PAGE_FROM = (
    "query",
    "page_from",
    False,
    "string",
    "The ID to start paging from. Every event will have an ID < page_from.",
)
INV_PROJECT = ("path", "project", True, "string", "The Inventory project.")
INV_APPLICATION = ("path", "application", True, "string", "The Inventory project application.")
INV_VERSION = ("path", "version", True, "string", "The release version.")
STATE_PROJECT = ("path", "project", True, "string", "The state project.")
STATE_ENVIRONMENT = ("path", "environment", True, "string", "The state project environment.")
# The doc shows ?deployment= without a required flag; the spec requires it (x-derived).
DEPLOYMENT = ("query", "deployment", True, "string", "The name of the deployment.")
SUB_PROJECT = ("path", "project", True, "string", None)
FILTERS = [
    ("query", "inventory_project", False, "string", "Filter the events by Inventory project."),
    (
        "query",
        "inventory_application",
        False,
        "string",
        "Filter the events by Inventory application. Only used if inventory_project is set.",
    ),
    (
        "query",
        "inventory_version",
        False,
        "string",
        "Filter the events by release version. Only used if inventory_project and inventory_application are set.",
    ),
    (
        "query",
        "state_project",
        False,
        "string",
        "Filter the events by State project. Only used if inventory_project is not set.",
    ),
    (
        "query",
        "state_environment",
        False,
        "string",
        "Filter the events by State environment. Only used if state_project is set and inventory_project is not set.",
    ),
    (
        "query",
        "state_deployment",
        False,
        "string",
        "Filter the events by State deployment. Only used if state_project and state_environment are set "
        "and inventory_project is not set.",
    ),
]

# operationId -> [(in, name, required, type, description)]
PARAMETERS = {
    "queryEvents": [PAGE_SIZE, PAGE_FROM, *FILTERS],
    "createEvent": [],
    "queryInventoryEvents": [PAGE_SIZE, PAGE_FROM],
    "queryInventoryProjectEvents": [INV_PROJECT, PAGE_SIZE, PAGE_FROM],
    "queryInventoryApplicationEvents": [INV_PROJECT, INV_APPLICATION, PAGE_SIZE, PAGE_FROM],
    "queryInventoryVersionEvents": [
        INV_PROJECT,
        INV_APPLICATION,
        INV_VERSION,
        PAGE_SIZE,
        PAGE_FROM,
    ],
    "queryStateEvents": [PAGE_SIZE, PAGE_FROM],
    "queryStateProjectEvents": [STATE_PROJECT, PAGE_SIZE, PAGE_FROM],
    "queryStateEnvironmentEvents": [STATE_PROJECT, STATE_ENVIRONMENT, PAGE_SIZE, PAGE_FROM],
    "queryStateDeploymentEvents": [
        STATE_PROJECT,
        STATE_ENVIRONMENT,
        DEPLOYMENT,
        PAGE_SIZE,
        PAGE_FROM,
    ],
    "getProjectSubscriptions": [SUB_PROJECT],
    "putProjectSubscriptions": [SUB_PROJECT],
}

JSON = "application/json"
EVENTS_REF = "#/components/schemas/Events"
SUBS_REF = "#/components/schemas/Subscriptions"
ERROR_REF = "#/components/schemas/Error"

# operationId -> {status: (media type or None, schema $ref or None, x-derived?)}
BAD_REQUEST = (JSON, ERROR_REF, True)
EVENTS_PAGE = (JSON, EVENTS_REF, False)
STATUSES = {
    "queryEvents": {"200": EVENTS_PAGE, "400": BAD_REQUEST},
    "createEvent": {"200": (None, None, False), "400": BAD_REQUEST},
    "queryInventoryEvents": {"200": EVENTS_PAGE, "400": BAD_REQUEST},
    "queryInventoryProjectEvents": {"200": EVENTS_PAGE, "400": BAD_REQUEST},
    "queryInventoryApplicationEvents": {"200": EVENTS_PAGE, "400": BAD_REQUEST},
    "queryInventoryVersionEvents": {"200": EVENTS_PAGE, "400": BAD_REQUEST},
    "queryStateEvents": {"200": EVENTS_PAGE, "400": BAD_REQUEST},
    "queryStateProjectEvents": {"200": EVENTS_PAGE, "400": BAD_REQUEST},
    "queryStateEnvironmentEvents": {"200": EVENTS_PAGE, "400": BAD_REQUEST},
    "queryStateDeploymentEvents": {"200": EVENTS_PAGE, "400": BAD_REQUEST},
    "getProjectSubscriptions": {"200": (JSON, SUBS_REF, False)},
    "putProjectSubscriptions": {"200": (None, None, False), "400": BAD_REQUEST},
}

# operationId -> request body schema $ref (body required)
REQUEST_BODIES = {
    "createEvent": "#/components/schemas/Event",
    "putProjectSubscriptions": SUBS_REF,
}

# The event type enum exactly as the doc lists it (UPDATE_INVENTORY_PROJECT_USER_ACL twice).
DOC_EVENT_TYPES = [
    "CREATE_INVENTORY_PROJECT",
    "NEW_INVENTORY_APPLICATION",
    "UPLOAD_INVENTORY_APPLICATION",
    "UPDATE_INVENTORY_PROJECT_USER_ACL",
    "DELETE_INVENTORY_PROJECT_USER_ACL",
    "UPDATE_INVENTORY_PROJECT_USER_ACL",
    "DELETE_INVENTORY_PROJECT_TEAM_ACL",
    "CREATE_STATE_PROJECT",
    "CREATE_STATE_ENVIRONMENT",
    "CREATE_STATE_DEPLOYMENT",
    "UPDATE_STATE_DEPLOYMENT",
    "REDEPLOY_STATE_DEPLOYMENT",
    "RERUN_SMOKE_TESTS",
    "DESTROY_REQUESTED",
    "ADD_BUILD",
    "TRIGGER_BUILD_WEBHOOK",
    "BUILD_FINISHED_EVENT",
    "UPDATE_STATE_PROJECT_USER_ACL",
    "DELETE_STATE_PROJECT_USER_ACL",
    "UPDATE_STATE_PROJECT_TEAM_ACL",
    "DELETE_STATE_PROJECT_TEAM_ACL",
    "USER_SIGNUP",
    "USER_CONFIRMED",
    "TEAM_CREATED",
    "TEAM_DELETED",
    "TEAM_MEMBER_UPDATED",
    "TEAM_MEMBER_DELETED",
    "TEAM_SERVICE_ACCOUNT_CREATED",
]
EVENT_TYPES = list(dict.fromkeys(DOC_EVENT_TYPES))
SUBSCRIPTION_TYPES = ["webhook", "slack"]

# schema -> {property: (type, items type or None, x-derived?)}
EVENT_PROPERTIES = {
    "allowed_groups": ("array", "string", True),
    "allowed_roles": ("array", "string", False),
    "data": ("object", None, False),
    "id": ("string", None, False),
    "inventory_application": ("string", None, False),
    "inventory_namespace": ("string", None, False),
    "inventory_project": ("string", None, True),
    "inventory_version": ("string", None, False),
    "state_deployment": ("string", None, False),
    "state_environment": ("string", None, False),
    "state_project": ("string", None, False),
    "timestamp": (["string", "integer"], None, True),
    "type": ("string", None, False),
    "username": ("string", None, False),
}
SUBSCRIPTION_PROPERTIES = {
    "id": ("array", "string", False),
    "slack_icon": ("string", None, False),
    "slack_username": ("string", None, False),
    "type": ("string", None, False),
    "url": ("string", None, False),
}

# schema -> required list (the doc marks no Event/Subscription field required)
REQUIRED = {
    "Event": [],
    "Subscription": [],
    "Error": ["message", "errors"],
}

# The doc's examples, verbatim.
DOC_EVENT_EXAMPLE = {
    "allowed_groups": ["my-group", "your-group"],
    "id": "123",
    "inventory_project": "test",
    "timestamp": 12343434343434,
    "type": "CREATE_INVENTORY_PROJECT",
    "username": "user",
}
DOC_EVENTS_EXAMPLE = [
    {
        "id": "123",
        "inventory_project": "test",
        "timestamp": 12343434343434,
        "type": "CREATE_INVENTORY_PROJECT",
        "username": "user",
    },
    {
        "allowed_groups": ["my-group", "your-group"],
        "id": "124",
        "state_project": "state-test",
        "timestamp": 12343434343435,
        "type": "CREATE_STATE_PROJECT",
        "username": "user",
    },
]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec(API_ID)


def _op(spec: dict[str, Any], operation_id: str) -> tuple[str, str, dict[str, Any]]:
    return operations(spec)[operation_id]


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return spec["components"]["schemas"][name]


def _media_types(spec: dict[str, Any]):
    """(where, media type object) for every request body and response of every operation."""
    for operation_id, (_, _, op) in operations(spec).items():
        body = resolve(spec, op.get("requestBody"))
        for media, content in (body or {}).get("content", {}).items():
            yield f"{operation_id} request {media}", None, content
        for status, response in op["responses"].items():
            for media, content in resolve(spec, response).get("content", {}).items():
                yield f"{operation_id} {status} {media}", status, content


# ---------------------------------------------------------------------------
# Document
# ---------------------------------------------------------------------------


def test_info(spec):
    info = spec["info"]
    assert spec["openapi"] == "3.1.0"
    assert info["title"] == "Ankyra EscapeKit Event Service"
    assert info["version"] == "1.0"
    assert info["x-derived"] is True  # the doc gives no version
    assert info["x-source"] == [SEED]


def test_operation_set(spec):
    found = {(method, path, op_id) for op_id, (method, path, _) in operations(spec).items()}
    assert found == {(method, path, op_id) for op_id, (method, path) in OPERATIONS.items()}


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_operation_has_summary_and_declared_tags(spec, operation_id):
    _, _, op = _op(spec, operation_id)
    declared = {tag["name"] for tag in spec["tags"]}
    assert op["summary"]
    assert op["tags"] and set(op["tags"]) <= declared


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_parameters(spec, operation_id):
    _, path, op = _op(spec, operation_id)
    params = parameters(spec, op, spec["paths"][path])
    assert set(params) == {(where, name) for where, name, *_ in PARAMETERS[operation_id]}
    for where, name, required, type_, description in PARAMETERS[operation_id]:
        param = params[(where, name)]
        assert param.get("required", False) is required, name
        assert param["schema"]["type"] == type_, name
        assert "format" not in param["schema"], name  # the doc gives no formats
        if description is not None:
            assert param["description"] == description, name


def test_shared_parameters_are_refs(spec):
    for operation_id, (_, _, op) in operations(spec).items():
        for raw in op.get("parameters", []):
            assert "$ref" in raw and raw["$ref"].startswith("#/components/parameters/"), (
                operation_id
            )


def test_deployment_required_is_derived(spec):
    _, path, op = _op(spec, "queryStateDeploymentEvents")
    param = parameters(spec, op, spec["paths"][path])[("query", "deployment")]
    assert param["required"] is True
    assert param["x-derived"] is True and param["x-derived-reason"]


# ---------------------------------------------------------------------------
# Bodies and responses
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_request_body(spec, operation_id):
    _, _, op = _op(spec, operation_id)
    if operation_id not in REQUEST_BODIES:
        assert "requestBody" not in op
        return
    body = resolve(spec, op["requestBody"])
    assert body["required"] is True
    assert list(body["content"]) == [JSON]
    assert body["content"][JSON]["schema"] == {"$ref": REQUEST_BODIES[operation_id]}


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_statuses(spec, operation_id):
    _, _, op = _op(spec, operation_id)
    assert set(op["responses"]) == set(STATUSES[operation_id])
    for status, (media, schema_ref, derived) in STATUSES[operation_id].items():
        response = resolve(spec, op["responses"][status])
        if media is None:
            assert "content" not in response, status
        else:
            assert list(response["content"]) == [media], status
            assert response["content"][media]["schema"] == {"$ref": schema_ref}, status
        assert (response.get("x-derived") is True) is derived, status


def test_array_schemas(spec):
    assert _schema(spec, "Events") == {
        **_schema(spec, "Events"),
        "type": "array",
        "items": {"$ref": "#/components/schemas/Event"},
    }
    assert _schema(spec, "Subscriptions") == {
        **_schema(spec, "Subscriptions"),
        "type": "array",
        "items": {"$ref": "#/components/schemas/Subscription"},
    }


@pytest.mark.parametrize(
    ("schema_name", "table"),
    [("Event", EVENT_PROPERTIES), ("Subscription", SUBSCRIPTION_PROPERTIES)],
)
def test_properties(spec, schema_name, table):
    props = _schema(spec, schema_name)["properties"]
    assert set(props) == set(table)
    for name, (type_, items_type, derived) in table.items():
        prop = props[name]
        assert prop["type"] == type_, name
        if items_type is not None:
            assert prop["items"]["type"] == items_type, name
        assert (prop.get("x-derived") is True) is derived, name


@pytest.mark.parametrize(("schema_name", "required"), REQUIRED.items())
def test_required_lists(spec, schema_name, required):
    assert sorted(_schema(spec, schema_name).get("required", [])) == sorted(required)


def test_error_item_required(spec):
    item = _schema(spec, "Error")["properties"]["errors"]["items"]
    assert sorted(item["required"]) == ["in", "message", "name", "rule"]


def test_event_type_enum(spec):
    assert len(EVENT_TYPES) == 27
    assert _schema(spec, "Event")["properties"]["type"]["enum"] == EVENT_TYPES


def test_subscription_type_enum(spec):
    assert _schema(spec, "Subscription")["properties"]["type"]["enum"] == SUBSCRIPTION_TYPES


def test_subscription_url_is_uri(spec):
    assert _schema(spec, "Subscription")["properties"]["url"]["format"] == "uri"


@pytest.mark.parametrize("value", ["12343434343434", 12343434343434, 0, "0"])
def test_timestamp_accepts(spec, value):
    validator_for(spec, {"$ref": "#/components/schemas/Event"}).validate({"timestamp": value})


@pytest.mark.parametrize("value", ["yesterday", "-1", -1, 1.5, "", None])
def test_timestamp_rejects(spec, value):
    assert not validator_for(spec, {"$ref": "#/components/schemas/Event"}).is_valid(
        {"timestamp": value}
    )


def test_event_rejects_unknown_type(spec):
    validator = validator_for(spec, {"$ref": "#/components/schemas/Event"})
    assert not validator.is_valid({"type": "NOT_A_TYPE"})
    assert not validator.is_valid({"type": "slack"})


def test_subscription_rejects_unknown_type(spec):
    assert not validator_for(spec, {"$ref": "#/components/schemas/Subscription"}).is_valid(
        {"type": "SLACK"}
    )


def test_page_size_rejects_non_integer(spec):
    schema = resolve(spec, spec["components"]["parameters"]["PageSize"])["schema"]
    validator = validator_for(spec, schema)
    assert validator.is_valid(10)
    assert not validator.is_valid("ten")


# ---------------------------------------------------------------------------
# Examples and fixtures
# ---------------------------------------------------------------------------


def test_create_event_request_example(spec):
    _, _, op = _op(spec, "createEvent")
    examples = op["requestBody"]["content"][JSON]["examples"]
    values = [resolve(spec, example)["value"] for example in examples.values()]
    assert DOC_EVENT_EXAMPLE in values


@pytest.mark.parametrize(
    "operation_id", [op for op, statuses in STATUSES.items() if statuses["200"] == EVENTS_PAGE]
)
def test_events_response_example(spec, operation_id):
    _, _, op = _op(spec, operation_id)
    content = resolve(spec, op["responses"]["200"])["content"][JSON]
    refs = [example.get("$ref") for example in content["examples"].values()]
    assert "#/components/examples/EventsPage" in refs
    assert spec["components"]["examples"]["EventsPage"]["value"] == DOC_EVENTS_EXAMPLE


def test_every_named_example_validates(spec):
    seen = 0
    for where, _, content in _media_types(spec):
        assert "example" not in content, where
        validator = validator_for(spec, content["schema"])
        for name, example in content.get("examples", {}).items():
            example = resolve(spec, example)
            assert example["summary"], (where, name)
            errors = list(validator.iter_errors(example["value"]))
            assert not errors, (where, name, errors)
            seen += 1
    assert seen == 10  # the request example + the events example on nine responses


def test_fixture_is_the_doc_example():
    assert load_fixture(FIXTURES / API_ID / "queryEvents" / "200.json") == DOC_EVENTS_EXAMPLE


def test_every_fixture_validates(spec):
    files = sorted((FIXTURES / API_ID).glob("*/*.json"))
    assert files
    ops = operations(spec)
    for file in files:
        operation_id = file.parent.name
        status = file.name.split(".")[0]
        assert operation_id in ops, file
        response = resolve(spec, ops[operation_id][2]["responses"][status])
        validator = validator_for(spec, response["content"][JSON]["schema"])
        errors = list(validator.iter_errors(load_fixture(file)))
        assert not errors, (file, errors)


# ---------------------------------------------------------------------------
# Errors and derived elements
# ---------------------------------------------------------------------------


def test_every_error_template_validates(spec):
    seen = 0
    for where, status, content in _media_types(spec):
        if status is None or int(status) < 400:
            continue
        template = content["x-error-template"]
        assert "{message}" in json.dumps(template), where
        rendered = render_template(template)
        errors = list(validator_for(spec, content["schema"]).iter_errors(rendered))
        assert not errors, (where, errors)
        seen += 1
    assert seen == sum("400" in statuses for statuses in STATUSES.values())


def test_every_derived_element_has_a_reason(spec):
    derived = [(where, node) for where, node in walk(spec) if node.get("x-derived") is True]
    assert derived
    for where, node in derived:
        reason = node.get("x-derived-reason")
        assert isinstance(reason, str) and reason.strip(), where
