"""No spec content produces a Python traceback: mutations of valid specs (keys deleted,
values of another type, references that lead nowhere, out of the folder, or round in a
circle) either load, or are refused with the one typed error, `SpecError`, naming the
file. Bounded: a fixed number of examples, no deadline flakiness."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.engine import Engine
from mockserver.fixtures import FixtureStore
from mockserver.spec import SpecError, load_apis
from mockserver.spec.errors import Problems
from mockserver.yamlsafe import load_yaml

DATA = Path(__file__).parent / "data"

SWAGGER: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "p", "version": "1"},
    "basePath": "/v1",
    "consumes": ["application/json"],
    "paths": {
        "/pets/{id}": {
            "parameters": [{"in": "path", "name": "id", "type": "string", "required": True}],
            "get": {
                "parameters": [
                    {"in": "query", "name": "tags", "type": "array", "items": {"type": "string"}},
                    {"$ref": "#/parameters/Limit"},
                ],
                "responses": {
                    "200": {"description": "ok", "schema": {"$ref": "#/definitions/Pet"}},
                    "default": {"$ref": "#/responses/Error"},
                },
                "security": [{"key": []}],
            },
            "post": {
                "consumes": ["multipart/form-data"],
                "parameters": [
                    {"in": "formData", "name": "file", "type": "file"},
                    {"in": "formData", "name": "n", "type": "integer", "x-nullable": True},
                ],
                "responses": {"201": {"description": "made"}},
            },
        }
    },
    "parameters": {"Limit": {"in": "query", "name": "limit", "type": "integer", "minimum": 1}},
    "responses": {"Error": {"description": "e", "schema": {"type": "object"}}},
    "definitions": {
        "Pet": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "example": "rex"},
                "parent": {"$ref": "#/definitions/Pet"},
                "age": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
            },
        }
    },
    "securityDefinitions": {"key": {"type": "apiKey", "name": "k", "in": "header"}},
}

OPENAPI30: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "u", "version": "1"},
    "paths": {
        "/users": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/User"}}
                    }
                },
                "responses": {
                    "2XX": {
                        "description": "ok",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/User"},
                                "example": {"name": "a"},
                            }
                        },
                    },
                    "400": {"description": "bad"},
                },
            }
        }
    },
    "components": {
        "schemas": {
            "User": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "name": {"type": "string"},
                    "invitedBy": {"allOf": [{"$ref": "#/components/schemas/User"}]},
                    "pets": {
                        "type": "array",
                        "items": {"oneOf": [{"$ref": "#/components/schemas/User"}, {}]},
                    },
                },
            }
        }
    },
}

BASES = [
    SWAGGER,
    OPENAPI30,
    load_yaml((DATA / "mini.yaml").read_text(encoding="utf-8"), source="mini.yaml"),
]

ODD_VALUES = st.sampled_from(
    [None, True, 0, -1, 3.5, "", "x", "{", [], [None], {}, {"$ref": 5}, {"type": "nope"}]
)
BAD_REFS = st.sampled_from(
    [
        "#/nowhere",
        "#/components/schemas",
        "#",
        "",
        "#/paths/~1users",
        "other.yaml",
        "../../etc/passwd",
        "https://example.com/x.json",
        "#/definitions/Pet/properties/parent",
        "#/components/schemas/User/properties/invitedBy/allOf/0",
    ]
)


def places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node inside `node`."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(places(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(places(value, (*path, index)))
    return found


def at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        targets = places(document)[1:]
        if not targets:
            break
        path = draw(st.sampled_from(targets))
        parent, last = at(document, path[:-1]), path[-1]
        action = draw(st.sampled_from(["delete", "swap", "ref", "cycle"]))
        if action == "delete":
            del parent[last]
        elif action == "swap":
            parent[last] = draw(ODD_VALUES)
        elif action == "ref":
            parent[last] = {"$ref": draw(BAD_REFS)}
        else:  # a reference to the node itself, or to where it hangs
            pointer = "#" + "".join(
                "/" + str(p).replace("~", "~0").replace("/", "~1") for p in path[:-1]
            )
            parent[last] = {"$ref": pointer}
    return document


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(document=mutated(), check=st.booleans())
def test_a_mutated_spec_loads_or_is_refused_with_a_spec_error(
    document: dict[str, Any], check: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "api" / "spec.json"
        path.parent.mkdir()
        (Path(folder) / "api" / "other.yaml").write_text("type: [integer\n", encoding="utf-8")
        path.write_text(json.dumps(document), encoding="utf-8")
        problems = Problems()
        try:
            apis = load_apis([path], check, problems=problems)
        except SpecError as exc:
            assert exc.source and str(exc).startswith(exc.source)
            assert exc.message
            return
        Engine(apis, FixtureStore())  # routes compile too
        for problem in problems:
            assert problem.source.startswith(folder) and problem.message
