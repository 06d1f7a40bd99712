"""Hold specs/harness-iacm.yaml to its source docs (seeds 000 and 001, Harness IaCM API 1.0).

Every table below is written out from the docs, not read from the spec.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .helpers import (
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

API = "harness-iacm"

# --------------------------------------------------------------------------- tables from the docs

INFO = {
    "title": "Harness IaCM API",
    "version": "1.0",
    "x-source": ["000_3edeed26e6ececfc.txt", "001_353418e7dc355d19.txt"],
}

MODULE_PATH = "/iacm/api/modules/{moduleId}/events"
WORKSPACE_PATH = "/iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}/events"

# operationId -> (method, path, summary)
OPERATIONS = {
    "sendModuleEvent": ("POST", MODULE_PATH, "Send an event related with a module execution"),
    "sendWorkspaceEvent": ("POST", WORKSPACE_PATH, "Send event"),
}

ERROR_MEDIA_TYPE = "application/vnd.goa.error"
ERROR_STATUSES = ["400", "401", "403", "404", "408", "409", "423", "499", "500", "502"]
STATUSES = ["200", *ERROR_STATUSES]

# operationId -> {(in, name): (type, required, example)}
PARAMETERS = {
    "sendModuleEvent": {
        ("path", "moduleId"): ("string", True, "146"),
    },
    "sendWorkspaceEvent": {
        ("path", "org"): ("string", True, "yvt"),
        ("path", "project"): ("string", True, "n"),
        ("path", "workspace"): ("string", True, "vx"),
        ("header", "Harness-Account"): ("string", True, "g6"),
    },
}

# The doc's drift_counts children: name -> required. output_counts and resource_counts list
# no children in the doc; their examples have exactly this shape.
COUNTS = {
    "added": True,
    "changed": True,
    "deleted": True,
    "imported": False,
    "removed": False,
    "unchanged": True,
}
COUNTS_FIELDS = {
    f"metadata.{parent}.{name}": ("integer", "int64", required, False)
    for parent in ("drift_counts", "output_counts", "resource_counts")
    for name, required in COUNTS.items()
}

# operationId -> {dotted field: (type, format, required, deprecated)}
REQUEST_FIELDS: dict[str, dict[str, tuple[str, str | None, bool, bool]]] = {
    "sendModuleEvent": {
        "account": ("string", None, True, False),
        "eventType": ("string", None, True, False),
        "metadata": ("object", None, False, False),
        "metadata.pipeline": ("string", None, False, False),
        "metadata.pipeline_execution_id": ("string", None, False, False),
        "metadata.pipeline_execution_number": ("string", None, False, False),
        "metadata.pipeline_name": ("string", None, False, False),
        "metadata.pipeline_stage_id": ("string", None, False, False),
        "metadata.trigger": ("object", None, False, False),
        "org": ("string", None, True, False),
        "project": ("string", None, True, False),
    },
    "sendWorkspaceEvent": {
        "data": ("object", None, False, False),
        "event_type": ("string", None, True, False),
        "metadata": ("object", None, False, False),
        "metadata.PlannedChangesCount": ("integer", "int64", False, True),
        "metadata.activity_status": ("string", None, False, False),
        "metadata.activity_type": ("string", None, False, False),
        "metadata.cost_breakdown_uuid": ("string", None, False, False),
        "metadata.cost_currency": ("string", None, False, False),
        "metadata.cost_diff_total_monthly": ("string", None, False, False),
        "metadata.cost_diff_uuid": ("string", None, False, False),
        "metadata.cost_past_total_monthly": ("string", None, False, False),
        "metadata.cost_total_monthly": ("string", None, False, False),
        "metadata.cost_total_monthly_percentage_change": ("string", None, False, False),
        "metadata.drift_counts": ("object", None, False, False),
        "metadata.enable_solutions_factory": ("boolean", None, False, False),
        "metadata.git_branch": ("string", None, False, False),
        "metadata.git_commit_message": ("string", None, False, False),
        "metadata.git_commit_sha": ("string", None, False, False),
        "metadata.git_repo": ("string", None, False, False),
        "metadata.modules_uuid": ("string", None, False, False),
        "metadata.output_counts": ("object", None, False, False),
        "metadata.pipeline": ("string", None, False, False),
        "metadata.pipeline_execution_id": ("string", None, False, False),
        "metadata.pipeline_execution_number": ("string", None, False, False),
        "metadata.pipeline_name": ("string", None, False, False),
        "metadata.pipeline_stage_id": ("string", None, False, False),
        "metadata.plan_uuid": ("string", None, False, False),
        "metadata.providers_uuid": ("string", None, False, False),
        "metadata.provisioner": ("string", None, False, False),
        "metadata.provisioner_version": ("string", None, False, False),
        "metadata.resource_counts": ("object", None, False, False),
        "metadata.state_checksum": ("string", None, False, False),
        "metadata.state_uuid": ("string", None, False, False),
        "metadata.trigger": ("object", None, False, False),
        "pipeline_execution_id": ("string", None, False, True),
        "pipeline_stage_id": ("string", None, False, True),
        **COUNTS_FIELDS,
    },
}

# Objects whose values are strings (judged from the docs' examples): not descended into.
STRING_MAPS = {
    ("sendModuleEvent", "metadata.trigger"),
    ("sendWorkspaceEvent", "metadata.trigger"),
    ("sendWorkspaceEvent", "data"),
}

ENUMS = {
    ("sendWorkspaceEvent", "event_type"): [
        "plan",
        "drifted",
        "provisioning",
        "destroying",
        "active",
        "inactive",
        "apply_needed",
        "failed",
        "stage-complete",
    ],
    ("sendWorkspaceEvent", "metadata.activity_status"): ["success", "failure"],
    ("sendWorkspaceEvent", "metadata.activity_type"): [
        "apply",
        "destroy",
        "plan",
        "drifted",
        "import",
    ],
}

# The goa error body, the same for every error status: field -> type (all required).
GOA_ERROR_FIELDS = {
    "fault": "boolean",
    "id": "string",
    "message": "string",
    "name": "string",
    "temporary": "boolean",
    "timeout": "boolean",
}

# The doc's field examples for the error body (fault/temporary have none: false).
DOC_ERROR_EXAMPLE = {
    "fault": False,
    "id": "123abc",
    "message": "parameter 'p' must be an integer",
    "name": "bad_request",
    "temporary": False,
    "timeout": True,
}

# status -> (fault, temporary, timeout) in its x-error-template
TEMPLATE_FLAGS = {
    "400": (False, False, False),
    "401": (False, False, False),
    "403": (False, False, False),
    "404": (False, False, False),
    "408": (False, True, True),
    "409": (False, False, False),
    "423": (False, False, False),
    "499": (False, False, False),
    "500": (True, False, False),
    "502": (True, True, False),
}

DOC_MODULE_REQUEST = {
    "account": "7",
    "eventType": "Et aut autem dolorum explicabo quo non.",
    "metadata": {
        "pipeline": "Repudiandae ut non vitae omnis et.",
        "pipeline_execution_id": "Nobis dolor autem nobis magni eum.",
        "pipeline_execution_number": "Tenetur exercitationem amet similique.",
        "pipeline_name": "Minus nostrum dolor magni sapiente distinctio aut.",
        "pipeline_stage_id": "Dicta et et voluptatum.",
        "trigger": {"Modi voluptas inventore.": "Tempora non."},
    },
    "org": "v",
    "project": "7ja",
}

DOC_WORKSPACE_DATA = {
    "Aut doloribus sint eaque ipsam dolorum adipisci.": "Libero odio inventore.",
    "Distinctio ut porro consequuntur reiciendis vitae.": "Quo nam possimus.",
    "Voluptatum repellendus soluta veniam voluptas.": "Natus sit eaque molestias rem.",
}
_DOC_COUNTS = {
    "added": 7449910667089618000,
    "changed": 148315669190400480,
    "deleted": 5683600417193213000,
    "imported": 3265651565371067000,
    "removed": 1371487732313499000,
    "unchanged": 4655105961323145000,
}
DOC_WORKSPACE_METADATA = {
    "PlannedChangesCount": 7409014449808088000,
    "activity_status": "success",
    "activity_type": "destroy",
    "cost_breakdown_uuid": "Dolorem ipsam incidunt quae.",
    "cost_currency": "Distinctio magnam non.",
    "cost_diff_total_monthly": "Delectus ipsam unde ea.",
    "cost_diff_uuid": "Repudiandae voluptatum at dolorem voluptatem consequuntur voluptatem.",
    "cost_past_total_monthly": "Eum quasi quisquam sed.",
    "cost_total_monthly": "Animi necessitatibus voluptas similique.",
    "cost_total_monthly_percentage_change": "Qui quia est molestiae cumque eius sit.",
    "drift_counts": _DOC_COUNTS,
    "enable_solutions_factory": True,
    "git_branch": "Est et sequi ut harum.",
    "git_commit_message": "Repudiandae neque ut porro voluptate qui.",
    "git_commit_sha": "Occaecati totam.",
    "git_repo": "Asperiores nisi.",
    "modules_uuid": "Voluptatem dolorem quia id.",
    "output_counts": _DOC_COUNTS,
    "pipeline": "Perspiciatis dolor mollitia nemo qui facere.",
    "pipeline_execution_id": "Et veniam officiis et occaecati quis architecto.",
    "pipeline_execution_number": "Atque magnam est aut.",
    "pipeline_name": "Nostrum tempore harum tempore.",
    "pipeline_stage_id": "Laboriosam repudiandae nesciunt autem.",
    "plan_uuid": "Numquam fugiat voluptas et.",
    "providers_uuid": "Et alias aspernatur nam.",
    "provisioner": "Voluptatibus dolore est fugiat mollitia dolor adipisci.",
    "provisioner_version": "Ut sunt sunt atque quaerat voluptatem.",
    "resource_counts": _DOC_COUNTS,
    "state_checksum": "Aut ducimus a explicabo nobis ipsum.",
    "state_uuid": "Iure aperiam quis qui.",
    "trigger": {
        "Corporis impedit repudiandae debitis perspiciatis vel.": (
            "Voluptatibus dolorem dolores voluptatem accusamus."
        ),
        "Repellat illo quo sit corrupti reiciendis neque.": "Qui et beatae corporis hic aut.",
        "Sapiente illum deserunt aliquam dicta.": "Libero temporibus eaque.",
    },
}
DOC_WORKSPACE_DEPRECATED = {
    "pipeline_execution_id": "Aut assumenda in saepe non.",
    "pipeline_stage_id": "Aspernatur eligendi quisquam voluptate et non quidem.",
}

# Shared shapes: operationId -> dotted field -> the component it must $ref.
SHARED_SCHEMAS = {
    ("sendModuleEvent", "metadata"): "#/components/schemas/PipelineMetadata",
    ("sendWorkspaceEvent", "metadata.drift_counts"): "#/components/schemas/ChangeCounts",
    ("sendWorkspaceEvent", "metadata.output_counts"): "#/components/schemas/ChangeCounts",
    ("sendWorkspaceEvent", "metadata.resource_counts"): "#/components/schemas/ChangeCounts",
}

# Additions the docs do not state, which must be marked x-derived.
EXPECTED_DERIVED = [
    ("components", "responses", "EventSent"),
]

# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec(API)


def _op(spec: dict[str, Any], op_id: str) -> dict[str, Any]:
    return operations(spec)[op_id][2]


def _request_schema(spec: dict[str, Any], op_id: str) -> dict[str, Any]:
    body = resolve(spec, _op(spec, op_id)["requestBody"])
    return body["content"]["application/json"]["schema"]


Merged = tuple[dict[str, Any], set[str], str | None]


def _merged(spec: dict[str, Any], schema: dict[str, Any]) -> Merged:
    """(properties, required, type) of `schema`, following $ref and merging allOf members."""
    schema = resolve(spec, schema)
    props: dict[str, Any] = dict(schema.get("properties", {}))
    required = set(schema.get("required", []))
    kind = schema.get("type")
    for part in schema.get("allOf", []):
        p, r, t = _merged(spec, part)
        props.update(p)
        required |= r
        kind = kind or t
    return props, required, kind


def _raw_field(spec: dict[str, Any], op_id: str, dotted: str) -> dict[str, Any]:
    """The (unresolved) schema of a dotted request field."""
    node: dict[str, Any] = _request_schema(spec, op_id)
    for part in dotted.split("."):
        props, _, _ = _merged(spec, node)
        node = props[part]
    return node


def _flatten(spec: dict[str, Any], op_id: str) -> dict[str, tuple[str, str | None, bool, bool]]:
    """Every request field, dotted, with (type, format, required, deprecated)."""
    out: dict[str, tuple[str, str | None, bool, bool]] = {}

    def walk(schema: dict[str, Any], prefix: str) -> None:
        props, required, _ = _merged(spec, schema)
        for name, raw in props.items():
            dotted = f"{prefix}{name}"
            sub = resolve(spec, raw)
            _, _, kind = _merged(spec, raw)
            deprecated = bool(raw.get("deprecated") or sub.get("deprecated"))
            out[dotted] = (kind, sub.get("format"), name in required, deprecated)
            if kind == "object" and (op_id, dotted) not in STRING_MAPS:
                walk(raw, dotted + ".")

    walk(_request_schema(spec, op_id), "")
    return out


def _error_media(spec: dict[str, Any], op_id: str, status: str) -> dict[str, Any]:
    response = resolve(spec, _op(spec, op_id)["responses"][status])
    return response["content"][ERROR_MEDIA_TYPE]


# --------------------------------------------------------------------------- tests


def test_info(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.1.0"
    for key, value in INFO.items():
        assert spec["info"][key] == value


def test_operations_are_exactly_the_documented_ones(spec: dict[str, Any]) -> None:
    found = {(m, p, op_id) for op_id, (m, p, _) in operations(spec).items()}
    assert found == {(m, p, op_id) for op_id, (m, p, _) in OPERATIONS.items()}


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_summary_and_tags(spec: dict[str, Any], op_id: str) -> None:
    op = _op(spec, op_id)
    assert op["summary"] == OPERATIONS[op_id][2]
    declared = {tag["name"] for tag in spec["tags"]}
    assert op["tags"] and set(op["tags"]) <= declared


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_security_is_the_api_key_header(spec: dict[str, Any], op_id: str) -> None:
    assert _op(spec, op_id)["security"] == [{"x-api-key": []}]
    scheme = spec["components"]["securitySchemes"]["x-api-key"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "x-api-key")


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_parameters(spec: dict[str, Any], op_id: str) -> None:
    method, path, _ = OPERATIONS[op_id]
    item = spec["paths"][path]
    params = parameters(spec, item[method.lower()], item)
    assert set(params) == set(PARAMETERS[op_id])
    for key, (kind, required, example) in PARAMETERS[op_id].items():
        param = params[key]
        assert param["schema"]["type"] == kind, key
        assert param.get("required", False) is required, key
        assert param["example"] == example, key


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_documented_statuses_and_media_types(spec: dict[str, Any], op_id: str) -> None:
    responses = _op(spec, op_id)["responses"]
    assert set(responses) == set(STATUSES)
    ok = resolve(spec, responses["200"])
    assert "content" not in ok, "the 200 lists no fields: no body"
    for status in ERROR_STATUSES:
        response = resolve(spec, responses[status])
        assert list(response["content"]) == [ERROR_MEDIA_TYPE], status


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_error_responses_are_shared_components(spec: dict[str, Any], op_id: str) -> None:
    for status in STATUSES:
        assert _op(spec, op_id)["responses"][status]["$ref"].startswith("#/components/responses/")


@pytest.mark.parametrize("op_id", OPERATIONS)
@pytest.mark.parametrize("status", ERROR_STATUSES)
def test_goa_error_schema(spec: dict[str, Any], op_id: str, status: str) -> None:
    media = _error_media(spec, op_id, status)
    assert media["schema"] == {"$ref": "#/components/schemas/GoaError"}
    props, required, kind = _merged(spec, media["schema"])
    assert kind == "object"
    assert required == set(GOA_ERROR_FIELDS)
    assert {name: resolve(spec, p)["type"] for name, p in props.items()} == GOA_ERROR_FIELDS


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_request_fields(spec: dict[str, Any], op_id: str) -> None:
    body = resolve(spec, _op(spec, op_id)["requestBody"])
    assert list(body["content"]) == ["application/json"]
    assert _flatten(spec, op_id) == REQUEST_FIELDS[op_id]


@pytest.mark.parametrize(("op_id", "dotted"), sorted(STRING_MAPS))
def test_string_maps(spec: dict[str, Any], op_id: str, dotted: str) -> None:
    schema = resolve(spec, _raw_field(spec, op_id, dotted))
    assert schema["type"] == "object"
    assert schema["additionalProperties"] == {"type": "string"}
    validator = validator_for(spec, schema)
    assert validator.is_valid({"k": "v"})
    assert not validator.is_valid({"k": 1})


@pytest.mark.parametrize(("op_id", "dotted"), sorted(ENUMS))
def test_enums(spec: dict[str, Any], op_id: str, dotted: str) -> None:
    schema = resolve(spec, _raw_field(spec, op_id, dotted))
    assert schema["enum"] == ENUMS[(op_id, dotted)]


@pytest.mark.parametrize(("op_id", "dotted"), sorted(SHARED_SCHEMAS))
def test_shared_shapes_are_refs(spec: dict[str, Any], op_id: str, dotted: str) -> None:
    assert _raw_field(spec, op_id, dotted)["$ref"] == SHARED_SCHEMAS[(op_id, dotted)]


def test_workspace_metadata_extends_the_shared_pipeline_metadata(spec: dict[str, Any]) -> None:
    raw = resolve(spec, _raw_field(spec, "sendWorkspaceEvent", "metadata"))
    assert {"$ref": "#/components/schemas/PipelineMetadata"} in raw["allOf"]


# --- the request body is enforced: required fields, enums, int64 counts


def _valid_request(op_id: str) -> dict[str, Any]:
    if op_id == "sendModuleEvent":
        return json.loads(json.dumps(DOC_MODULE_REQUEST))
    return {"event_type": "plan", "metadata": {"drift_counts": dict(_DOC_COUNTS)}}


@pytest.mark.parametrize(
    ("op_id", "dotted"),
    [(op, f) for op, fields in REQUEST_FIELDS.items() for f, v in fields.items() if v[2]],
)
def test_missing_required_field_is_rejected(spec: dict[str, Any], op_id: str, dotted: str) -> None:
    validator = validator_for(spec, _request_schema(spec, op_id))
    body = _valid_request(op_id)
    assert validator.is_valid(body)
    parent_path, _, leaf = dotted.rpartition(".")
    parent = body
    for part in parent_path.split(".") if parent_path else []:
        parent = parent.setdefault(part, {})
        if part.endswith("_counts") and not parent:
            parent.update(_DOC_COUNTS)
    assert validator.is_valid(body)
    del parent[leaf]
    assert not validator.is_valid(body)


@pytest.mark.parametrize(("op_id", "dotted"), sorted(ENUMS))
def test_value_outside_enum_is_rejected(spec: dict[str, Any], op_id: str, dotted: str) -> None:
    validator = validator_for(spec, resolve(spec, _raw_field(spec, op_id, dotted)))
    for value in ENUMS[(op_id, dotted)]:
        assert validator.is_valid(value)
    assert not validator.is_valid("not-a-documented-value")


def test_counts_are_integers(spec: dict[str, Any]) -> None:
    validator = validator_for(spec, _raw_field(spec, "sendWorkspaceEvent", "metadata.drift_counts"))
    assert validator.is_valid(_DOC_COUNTS)
    assert not validator.is_valid({**_DOC_COUNTS, "added": "7"})
    assert not validator.is_valid({**_DOC_COUNTS, "added": 1.5})


# --- examples and fixtures


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_every_named_example_validates(spec: dict[str, Any], op_id: str) -> None:
    op = _op(spec, op_id)
    media_types = [resolve(spec, op["requestBody"])["content"]["application/json"]]
    for response in op["responses"].values():
        media_types += list(resolve(spec, response).get("content", {}).values())
    for media in media_types:
        assert "example" not in media, "examples are named"
        validator = validator_for(spec, media["schema"])
        for name, example in media.get("examples", {}).items():
            example = resolve(spec, example)
            assert example["summary"], name
            errors = list(validator.iter_errors(example["value"]))
            assert not errors, (name, errors)


def test_module_request_example_is_the_docs(spec: dict[str, Any]) -> None:
    body = resolve(spec, _op(spec, "sendModuleEvent")["requestBody"])
    media = body["content"]["application/json"]
    assert media["examples"]["fromDoc"]["value"] == DOC_MODULE_REQUEST


def test_workspace_request_example_is_the_docs(spec: dict[str, Any]) -> None:
    body = resolve(spec, _op(spec, "sendWorkspaceEvent")["requestBody"])
    media = body["content"]["application/json"]
    value = media["examples"]["fromDoc"]["value"]
    assert value["data"] == DOC_WORKSPACE_DATA
    assert value["metadata"] == DOC_WORKSPACE_METADATA
    assert {k: value[k] for k in DOC_WORKSPACE_DEPRECATED} == DOC_WORKSPACE_DEPRECATED
    assert value["event_type"] in ENUMS[("sendWorkspaceEvent", "event_type")]


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_400_example_is_the_docs(spec: dict[str, Any], op_id: str) -> None:
    media = _error_media(spec, op_id, "400")
    assert media["examples"]["fromDoc"]["value"] == DOC_ERROR_EXAMPLE


@pytest.mark.parametrize("op_id", OPERATIONS)
def test_400_fixture(spec: dict[str, Any], op_id: str) -> None:
    body = load_fixture(FIXTURES / API / op_id / "400.json")
    assert body == DOC_ERROR_EXAMPLE
    validator = validator_for(spec, _error_media(spec, op_id, "400")["schema"])
    assert not list(validator.iter_errors(body))


def test_every_fixture_validates(spec: dict[str, Any]) -> None:
    files = sorted((FIXTURES / API).glob("*/*.json"))
    assert files
    ops = operations(spec)
    for path in files:
        op_id, status = path.parent.name, path.name.split(".")[0]
        response = resolve(spec, ops[op_id][2]["responses"][status])
        (media,) = response["content"].values()
        errors = list(validator_for(spec, media["schema"]).iter_errors(load_fixture(path)))
        assert not errors, (path, errors)


# --- error templates


@pytest.mark.parametrize("op_id", OPERATIONS)
@pytest.mark.parametrize("status", ERROR_STATUSES)
def test_error_template(spec: dict[str, Any], op_id: str, status: str) -> None:
    media = _error_media(spec, op_id, status)
    template = media["x-error-template"]
    assert template["message"] == "{message}"
    flags = (template["fault"], template["temporary"], template["timeout"])
    assert flags == TEMPLATE_FLAGS[status]
    rendered = render_template(template)
    errors = list(validator_for(spec, media["schema"]).iter_errors(rendered))
    assert not errors, errors


# --- x-derived


def test_every_x_derived_has_a_reason(spec: dict[str, Any]) -> None:
    for path, node in walk(spec):
        if node.get("x-derived"):
            reason = node.get("x-derived-reason")
            assert isinstance(reason, str) and reason.strip(), path


@pytest.mark.parametrize("location", EXPECTED_DERIVED)
def test_additions_are_marked_derived(spec: dict[str, Any], location: tuple[str, ...]) -> None:
    node: Any = spec
    for part in location:
        node = node[part]
    assert node["x-derived"] is True


@pytest.mark.parametrize("dotted", ["metadata.output_counts", "metadata.resource_counts"])
def test_undocumented_count_shapes_are_marked_derived(spec: dict[str, Any], dotted: str) -> None:
    assert _raw_field(spec, "sendWorkspaceEvent", dotted)["x-derived"] is True
