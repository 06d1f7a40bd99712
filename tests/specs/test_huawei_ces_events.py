"""Hold specs/huawei-ces-events.yaml to its seed doc (004_6606929686979bda.txt).

Every table below is written out from the doc, not read from the spec.
"""

from __future__ import annotations

import json
import re
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

API_ID = "huawei-ces-events"
OP_ID = "reportEvents"
PATH = "/V1.0/{project_id}/events"

# --- tables from the doc ---------------------------------------------------

INFO = {
    "title": "Huawei Cloud Eye (CES) API",
    "version": "V1.0",
    "x-source": ["004_6606929686979bda.txt"],
}

OPERATIONS = {("POST", PATH, OP_ID)}
SUMMARY = "Reporting an Event"

# status -> media type (None: no body)
STATUSES = {
    "201": "application/json",
    "400": "application/json",
    "401": "application/json",
    "403": "application/json",
    "408": "application/json",
    "429": "application/json",
    "500": "application/json",
    "503": "application/json",
}

# error status -> the doc's description of the String body
ERROR_TEXTS = {
    "400": "Request error.",
    "401": "The authentication information is not provided or is incorrect.",
    "403": "Access to the requested page is forbidden.",
    "408": "The request timed out.",
    "429": "Too many requests.",
    "500": "Failed to complete the request because of an internal service error.",
    "503": "The system is currently unavailable.",
}

# (in, name) -> (required, type, format, minLength, maxLength)
PARAMETERS = {
    ("path", "project_id"): (True, "string", None, 1, 64),
    ("header", "X-Auth-Token"): (False, "string", None, 1, 16384),
}

# schema name -> required list (None: the doc lists no mandatory fields)
REQUIRED = {
    "CreateEventsRequestBody": ["event_name", "event_source", "time", "detail"],
    "EventItemDetail": None,
    "MetricsDimension": ["name", "value"],
    "Event": None,
}

# schema name -> property names
PROPERTIES = {
    "CreateEventsRequestBody": {"event_name", "event_source", "time", "detail"},
    "EventItemDetail": {
        "content",
        "group_id",
        "resource_id",
        "resource_name",
        "event_state",
        "event_level",
        "event_user",
        "event_type",
        "sub_event_type",
        "dimensions",
    },
    "MetricsDimension": {"name", "value"},
    "Event": {"event_id", "event_name"},
}

# (schema, property) -> enum values (lost by the scrape, filled from Huawei's CES docs;
# EVENT.SYS is left out of event_type because users cannot report it)
ENUMS = {
    ("EventItemDetail", "event_state"): ["normal", "warning", "incident"],
    ("EventItemDetail", "event_level"): ["Critical", "Major", "Minor", "Info"],
    ("EventItemDetail", "event_type"): ["EVENT.CUSTOM"],
    ("EventItemDetail", "sub_event_type"): ["SUB_EVENT.OPS", "SUB_EVENT.PLAN", "SUB_EVENT.CUSTOM"],
}

# (schema, property) -> {keyword: value} from prose constraints
LIMITS = {
    ("CreateEventsRequestBody", "event_name"): {"minLength": 1, "maxLength": 64},
    ("CreateEventsRequestBody", "event_source"): {"minLength": 3, "maxLength": 32},
    ("CreateEventsRequestBody", "time"): {"type": "integer", "format": "int64"},
    ("EventItemDetail", "content"): {"maxLength": 4096},
    ("EventItemDetail", "group_id"): {"minLength": 24, "maxLength": 24},
    ("EventItemDetail", "resource_id"): {"maxLength": 128},
    ("EventItemDetail", "resource_name"): {"maxLength": 128},
    ("EventItemDetail", "event_user"): {"maxLength": 64},
    ("EventItemDetail", "dimensions"): {"type": "array", "maxItems": 4},
    ("MetricsDimension", "name"): {"minLength": 1, "maxLength": 32},
    ("MetricsDimension", "value"): {"minLength": 1, "maxLength": 256},
}

# [now - 1h + 10s, now + 10min - 10s] in ms
TIME_WINDOW = {"unit": "ms", "before": 3_590_000, "after": 590_000}

# (schema, property) -> (values the doc shows as valid, values clearly invalid)
VALUES = {
    ("CreateEventsRequestBody", "event_name"): (
        ["systemInvaded", "a", "A" * 64, "event_1"],
        ["1systemInvaded", "_event", "A" * 65, "system-invaded", "system Invaded", ""],
    ),
    ("CreateEventsRequestBody", "event_source"): (
        ["financial.System", "a.b", "svc_1.item_2", "a" * 15 + "." + "b" * 16],
        [
            "financial",
            "1financial.System",
            "financial.1System",
            "financial.Sys-tem",
            "a" * 16 + "." + "b" * 16,
            "a.",
            ".b",
            "a.b.c",
            "ab",
        ],
    ),
    ("EventItemDetail", "group_id"): (
        ["rg15221211517051YWWkEnVd"],
        ["rg15221211517051YWWkEnV", "rg15221211517051YWWkEnVdX"],
    ),
    ("EventItemDetail", "resource_id"): (
        ["1234567890sjgggad", "6a69bf28-ee62-49f3-9785-845dacd799ec", "a:b_c-d", "x" * 128],
        ["x" * 129, "res id", "res.id", "res/id", "res@id"],
    ),
    ("EventItemDetail", "resource_name"): (
        ["ecs001", "user@host_1-a.b", "x" * 128],
        ["x" * 129, "ecs 001", "ecs:001", "ecs/001"],
    ),
    ("EventItemDetail", "event_user"): (
        ["xiaokong", "xihong", "", "John Smith_1-a", "u" * 64],
        ["u" * 65, "user@host", "user.name", "user:1"],
    ),
    ("EventItemDetail", "content"): (
        ["The financial system was invaded", "", "c" * 4096],
        ["c" * 4097],
    ),
    ("MetricsDimension", "name"): (
        ["instance_id", "a", "disk-name", "n" * 32],
        ["1instance", "_id", "n" * 33, "instance.id", "instance id", ""],
    ),
    ("MetricsDimension", "value"): (
        ["4270ff17-aba3-4138-89fa-820594c39755", "v", "v" * 256],
        ["", "v" * 257],
    ),
    ("EventItemDetail", "event_type"): (["EVENT.CUSTOM"], ["EVENT.SYS", "custom"]),
    ("EventItemDetail", "event_level"): (["Major", "Info"], ["major", "Warning"]),
    ("EventItemDetail", "event_state"): (["normal", "incident"], ["Normal", "ok"]),
}

# the doc's example request and response
EXAMPLE_REQUEST = [
    {
        "event_name": "systemInvaded",
        "event_source": "financial.System",
        "time": 1522121194000,
        "detail": {
            "content": "The financial system was invaded",
            "group_id": "rg15221211517051YWWkEnVd",
            "resource_id": "1234567890sjgggad",
            "resource_name": "ecs001",
            "event_state": "normal",
            "event_level": "Major",
            "event_user": "xiaokong",
        },
    },
    {
        "event_name": "systemInvaded",
        "event_source": "financial.System",
        "time": 1522121194020,
        "detail": {
            "content": "The financial system was invaded",
            "group_id": "rg15221211517051YWWkEnVd",
            "resource_id": "1234567890sjgggad",
            "resource_name": "ecs001",
            "event_state": "normal",
            "event_level": "Major",
            "event_user": "xihong",
        },
    },
]
EXAMPLE_RESPONSE = [
    {"event_id": "evdgiqwgedkkcvhdjcdu346", "event_name": "systemInvaded"},
    {"event_id": "evdgiqwgedkkcvhdjcdu347", "event_name": "systemParalysis"},
]


# --- helpers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec(API_ID)


def _op(spec: dict[str, Any]) -> dict[str, Any]:
    return operations(spec)[OP_ID][2]


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return spec["components"]["schemas"][name]


def _prop(spec: dict[str, Any], schema: str, prop: str) -> dict[str, Any]:
    return resolve(spec, _schema(spec, schema)["properties"][prop])


def _request_media(spec: dict[str, Any]) -> dict[str, Any]:
    return resolve(spec, _op(spec)["requestBody"])["content"]["application/json"]


def _response(spec: dict[str, Any], status: str) -> dict[str, Any]:
    return resolve(spec, _op(spec)["responses"][status])


def _valid_item() -> dict[str, Any]:
    return json.loads(json.dumps(EXAMPLE_REQUEST[0]))


# --- document --------------------------------------------------------------


def test_spec_loads_with_info(spec):
    assert spec["openapi"] == "3.1.0"
    for key, value in INFO.items():
        assert spec["info"][key] == value


def test_operations_are_exactly_the_documented_set(spec):
    found = {(method, path, op_id) for op_id, (method, path, _) in operations(spec).items()}
    assert found == OPERATIONS


def test_operation_summary_and_tags(spec):
    op = _op(spec)
    assert op["summary"] == SUMMARY
    declared = {tag["name"] for tag in spec["tags"]}
    assert op["tags"] and set(op["tags"]) <= declared


# --- parameters ------------------------------------------------------------


def test_parameters_are_exactly_documented(spec):
    params = parameters(spec, _op(spec), spec["paths"][PATH])
    assert set(params) == set(PARAMETERS)


@pytest.mark.parametrize("key", sorted(PARAMETERS))
def test_parameter(spec, key):
    required, type_, format_, min_len, max_len = PARAMETERS[key]
    param = parameters(spec, _op(spec), spec["paths"][PATH])[key]
    schema = resolve(spec, param["schema"])
    assert param.get("required", False) is required
    assert schema["type"] == type_
    assert schema.get("format") == format_
    assert schema["minLength"] == min_len
    assert schema["maxLength"] == max_len


def test_parameters_are_shared_components(spec):
    for raw in _op(spec)["parameters"]:
        assert raw["$ref"].startswith("#/components/parameters/")


def test_content_type_documented_in_request_body(spec):
    body = resolve(spec, _op(spec)["requestBody"])
    assert body["required"] is True
    assert "application/json; charset=UTF-8" in body["description"]


# --- request body ----------------------------------------------------------


def test_request_body_is_non_empty_array_of_items(spec):
    schema = resolve(spec, _request_media(spec)["schema"])
    assert schema["type"] == "array"
    assert schema["minItems"] == 1
    assert "maxItems" not in schema
    assert resolve(spec, schema["items"]) is _schema(spec, "CreateEventsRequestBody")
    validator = validator_for(spec, _request_media(spec)["schema"])
    assert not validator.is_valid([])


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_lists(spec, name):
    schema = _schema(spec, name)
    assert schema.get("required") == REQUIRED[name]
    assert set(schema["properties"]) == PROPERTIES[name]


def test_nested_shapes_are_refs(spec):
    body = _schema(spec, "CreateEventsRequestBody")
    assert body["properties"]["detail"]["$ref"] == "#/components/schemas/EventItemDetail"
    dims = _schema(spec, "EventItemDetail")["properties"]["dimensions"]
    assert dims["items"]["$ref"] == "#/components/schemas/MetricsDimension"


@pytest.mark.parametrize("key", sorted(ENUMS))
def test_enums(spec, key):
    assert _prop(spec, *key)["enum"] == ENUMS[key]


@pytest.mark.parametrize("key", sorted(LIMITS))
def test_limits(spec, key):
    prop = _prop(spec, *key)
    for keyword, value in LIMITS[key].items():
        assert prop.get(keyword) == value, (key, keyword)


def test_time_window(spec):
    assert _prop(spec, "CreateEventsRequestBody", "time")["x-time-window"] == TIME_WINDOW


@pytest.mark.parametrize("key", sorted(VALUES))
def test_values_accepted_and_rejected(spec, key):
    valid, invalid = VALUES[key]
    validator = validator_for(spec, _prop(spec, *key))
    for value in valid:
        assert validator.is_valid(value), (key, value)
    for value in invalid:
        assert not validator.is_valid(value), (key, value)


def test_patterns_are_anchored_and_compile(spec):
    for where, node in walk(spec):
        if isinstance(node.get("pattern"), str):
            assert node["pattern"].startswith("^") and node["pattern"].endswith("$"), where
            re.compile(node["pattern"])


def test_event_item_rejects_bad_items(spec):
    validator = validator_for(spec, _request_media(spec)["schema"])
    dimension = {"name": "instance_id", "value": "4270ff17-aba3-4138-89fa-820594c39755"}

    four = _valid_item()
    four["detail"]["dimensions"] = [dimension] * 4
    assert validator.is_valid([four])

    five = _valid_item()
    five["detail"]["dimensions"] = [dimension] * 5
    assert not validator.is_valid([five])

    for field in REQUIRED["CreateEventsRequestBody"]:
        item = _valid_item()
        del item[field]
        assert not validator.is_valid([item]), field

    for field in REQUIRED["MetricsDimension"]:
        item = _valid_item()
        item["detail"]["dimensions"] = [{k: v for k, v in dimension.items() if k != field}]
        assert not validator.is_valid([item]), field

    system = _valid_item()
    system["detail"]["event_type"] = "EVENT.SYS"
    assert not validator.is_valid([system])

    long_content = _valid_item()
    long_content["detail"]["content"] = "c" * 4097
    assert not validator.is_valid([long_content])

    string_time = _valid_item()
    string_time["time"] = "1522121194000"
    assert not validator.is_valid([string_time])


# --- responses -------------------------------------------------------------


def test_statuses_are_exactly_documented(spec):
    assert set(_op(spec)["responses"]) == set(STATUSES)


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_status_media_type(spec, status):
    response = _response(spec, status)
    if STATUSES[status] is None:
        assert "content" not in response
    else:
        assert set(response["content"]) == {STATUSES[status]}


def test_success_response_shape(spec):
    schema = resolve(spec, _response(spec, "201")["content"]["application/json"]["schema"])
    assert schema["type"] == "array"
    assert resolve(spec, schema["items"]) is _schema(spec, "Event")
    for prop in PROPERTIES["Event"]:
        assert _prop(spec, "Event", prop)["type"] == "string"


@pytest.mark.parametrize("status", sorted(ERROR_TEXTS))
def test_error_responses(spec, status):
    raw = _op(spec)["responses"][status]
    assert raw["$ref"].startswith("#/components/responses/")
    media = _response(spec, status)["content"]["application/json"]
    schema = resolve(spec, media["schema"])
    assert schema["type"] == "string"
    assert schema["description"] == ERROR_TEXTS[status]
    assert [example["value"] for example in media["examples"].values()] == [ERROR_TEXTS[status]]


@pytest.mark.parametrize("status", sorted(ERROR_TEXTS))
def test_error_template_renders_valid_body(spec, status):
    media = _response(spec, status)["content"]["application/json"]
    template = media["x-error-template"]
    assert "{message}" in json.dumps(template)
    rendered = render_template(template)
    assert validator_for(spec, media["schema"]).is_valid(rendered), rendered


# --- examples and fixtures -------------------------------------------------


def test_doc_request_example_is_present(spec):
    values = [example["value"] for example in _request_media(spec)["examples"].values()]
    assert EXAMPLE_REQUEST in values


def test_doc_response_example_is_present(spec):
    media = _response(spec, "201")["content"]["application/json"]
    assert EXAMPLE_RESPONSE in [example["value"] for example in media["examples"].values()]


def _all_named_examples(spec):
    found = [("request", _request_media(spec))]
    for status in STATUSES:
        for media_type, media in _response(spec, status).get("content", {}).items():
            found.append((f"{status} {media_type}", media))
    for where, media in found:
        assert "example" not in media, where
        for name, example in media.get("examples", {}).items():
            yield f"{where} {name}", media["schema"], example


def test_every_named_example_validates(spec):
    checked = 0
    for where, schema, example in _all_named_examples(spec):
        assert example.get("summary"), where
        assert validator_for(spec, schema).is_valid(example["value"]), where
        checked += 1
    assert checked >= 2 + len(ERROR_TEXTS)


def test_fixtures_validate():
    spec = load_spec(API_ID)
    folder = FIXTURES / API_ID / OP_ID
    files = sorted(folder.glob("*.json"))
    # A named fixture: by default the 201 is generated, one item per reported event.
    assert folder / "201.created.json" in files
    assert load_fixture(folder / "201.created.json") == EXAMPLE_RESPONSE
    for path in files:
        status = path.name.split(".")[0]
        assert re.fullmatch(r"\d{3}(\.[A-Za-z0-9_-]+)?\.json", path.name), path
        schema = _response(spec, status)["content"]["application/json"]["schema"]
        assert validator_for(spec, schema).is_valid(load_fixture(path)), path
    assert {p.name for p in (FIXTURES / API_ID).iterdir()} == {OP_ID}


# --- derived markers -------------------------------------------------------


def test_every_derived_element_has_a_reason(spec):
    derived = [(where, node) for where, node in walk(spec) if node.get("x-derived")]
    assert derived, "the lost enums at least are derived"
    for where, node in derived:
        assert node.get("x-derived") is True, where
        assert isinstance(node.get("x-derived-reason"), str) and node["x-derived-reason"].strip(), (
            where
        )


@pytest.mark.parametrize("key", sorted(ENUMS))
def test_filled_enums_are_marked_derived(spec, key):
    prop = _prop(spec, *key)
    assert prop.get("x-derived") is True
    assert "lost" in prop["x-derived-reason"]


def test_event_type_explains_event_sys(spec):
    assert "EVENT.SYS" in _prop(spec, "EventItemDetail", "event_type")["description"]
