"""Small helpers for the tests that hold each spec to its source doc.

They read the YAML directly (not through the server's loader) so that a bug in
the loader cannot hide a gap in a spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
FIXTURES = ROOT / "fixtures"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load_spec(api_id: str) -> dict[str, Any]:
    """Load `specs/<api_id>.yaml` and check it is a valid OpenAPI document."""
    with (SPECS / f"{api_id}.yaml").open(encoding="utf-8") as handle:
        spec: dict[str, Any] = yaml.safe_load(handle)
    validate(spec)
    return spec


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s until `node` is not a reference."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local refs are used: {ref}"
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operations(spec: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (METHOD, path, operation object)."""
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                op = item[method]
                found[op["operationId"]] = (method.upper(), path, op)
    return found


def parameters(
    spec: dict[str, Any], op: dict[str, Any], path_item: dict[str, Any]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(in, name) -> resolved parameter, path-item level first, operation level overriding."""
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*path_item.get("parameters", []), *op.get("parameters", [])]:
        param = resolve(spec, raw)
        params[(param["in"], param["name"])] = param
    return params


def validator_for(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for `schema` whose `#/components/...` refs resolve inside `spec`."""
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource("urn:spec", resource)
    root = dict(schema)
    root.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
    return Draft202012Validator(
        _rebase(root), registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _rebase(node: Any) -> Any:
    """Rewrite local refs `#/x` to `urn:spec#/x` so they resolve against the whole spec."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out[key] = "urn:spec" + value
            else:
                out[key] = _rebase(value)
        return out
    if isinstance(node, list):
        return [_rebase(item) for item in node]
    return node


def load_fixture(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


SAMPLE_VIOLATIONS = [{"in": "body", "name": "x", "rule": "required", "message": "m"}]
_SAMPLE_PLACEHOLDERS = {
    "{message}": "body field 'x' is required",
    "{status}": "400",
    "{slug}": "bad_request",
    "{request_id}": "abc123",
}


def render_template(node: Any) -> Any:
    """An `x-error-template` with its placeholders filled by sample values."""
    if node == "{violations}":
        return [dict(v) for v in SAMPLE_VIOLATIONS]
    if isinstance(node, str):
        for placeholder, sample in _SAMPLE_PLACEHOLDERS.items():
            node = node.replace(placeholder, sample)
        return node
    if isinstance(node, dict):
        return {key: render_template(value) for key, value in node.items()}
    if isinstance(node, list):
        return [render_template(item) for item in node]
    return node


def walk(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping inside `node`, with its JSON-pointer-like location."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from walk(item, f"{where}/{index}")
