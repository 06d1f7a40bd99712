"""The normalisation rules (README "Which specs load"), one test each: Swagger 2.0 and
OpenAPI 3.0 in, OpenAPI 3.1 with JSON Schema 2020-12 out."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from mockserver.spec.bundle import Bundle
from mockserver.spec.errors import Problems, SpecError
from mockserver.spec.normalise import normalise
from mockserver.spec.normalise.schema import convert_node

SOURCE = Path("spec.yaml")


def run(document: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    problems = Problems()
    out = normalise(Bundle(SOURCE, copy.deepcopy(document)), problems)
    return out, [(p.place, p.message) for p in problems]


def schema_of(document: dict[str, Any]) -> Any:
    return run(document)[0]["components"]["schemas"]["S"]


def v30(schema: Any) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {"schemas": {"S": schema}},
    }


def v20(**parts: Any) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}, **parts}


def op20(*params: Any, **extra: Any) -> dict[str, Any]:
    responses = extra.pop("responses", {"200": {"description": "ok"}})
    return {"/x": {"post": {"parameters": list(params), "responses": responses, **extra}}}


# -- schemas (3.0 and 2.0) -------------------------------------------------------------
def test_nullable_with_a_type_adds_null() -> None:
    assert schema_of(v30({"type": "string", "nullable": True})) == {"type": ["string", "null"]}


def test_nullable_enum_allows_null_in_the_enum() -> None:
    assert schema_of(v30({"type": "string", "enum": ["a"], "nullable": True})) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }


def test_nullable_without_a_type_becomes_any_of_null() -> None:
    schema = schema_of(v30({"nullable": True, "allOf": [{"$ref": "#/components/schemas/S"}]}))
    assert schema == {"anyOf": [{"allOf": [{"$ref": "#/components/schemas/S"}]}, {"type": "null"}]}


def test_nullable_false_is_dropped() -> None:
    assert schema_of(v30({"type": "integer", "nullable": False})) == {"type": "integer"}


def test_x_nullable_is_nullable() -> None:
    assert convert_node(node := {"type": "number", "x-nullable": True}) is None
    assert node == {"type": ["number", "null"]}


def test_boolean_exclusive_bounds_become_numbers() -> None:
    schema = schema_of(
        v30(
            {
                "type": "number",
                "minimum": 1,
                "exclusiveMinimum": True,
                "maximum": 9,
                "exclusiveMaximum": False,
            }
        )
    )
    assert schema == {"type": "number", "exclusiveMinimum": 1, "maximum": 9}


def test_schema_example_becomes_examples() -> None:
    assert schema_of(v30({"type": "integer", "example": 3})) == {
        "type": "integer",
        "examples": [3],
    }


def test_type_file_is_binary_text() -> None:
    assert convert_node(node := {"type": "file"}) is None
    assert node == {"type": "string", "format": "binary"}


def test_a_discriminator_name_becomes_an_object() -> None:
    assert convert_node(node := {"discriminator": "kind"}) is None
    assert node == {"discriminator": {"propertyName": "kind"}}


def test_subschemas_and_referenced_schemas_are_converted_once() -> None:
    document = v30({"type": "object", "properties": {"a": {"$ref": "#/components/schemas/T"}}})
    document["components"]["schemas"]["T"] = {
        "type": "array",
        "items": {"type": "integer", "nullable": True},
    }
    document["paths"] = {
        "/x": {
            "get": {
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"type": "string", "nullable": True}}
                        },
                    }
                }
            }
        }
    }
    out, problems = run(document)
    assert problems == []
    assert out["openapi"] == "3.1.0"
    assert out["components"]["schemas"]["T"]["items"] == {"type": ["integer", "null"]}
    media = out["paths"]["/x"]["get"]["responses"]["200"]["content"]["application/json"]
    assert media["schema"] == {"type": ["string", "null"]}


def test_openapi_31_schemas_are_left_as_written_but_for_3_0_keywords() -> None:
    document = v30({"type": "string", "example": 1, "minimum": 1})
    document["openapi"] = "3.1.0"
    assert schema_of(document) == {"type": "string", "example": 1, "minimum": 1}
    document = v30({"type": "string", "nullable": True, "example": 1})
    document["openapi"] = "3.1.0"
    assert schema_of(document) == {"type": ["string", "null"], "example": 1}


# -- Swagger 2.0 documents ---------------------------------------------------------------
def test_host_base_path_and_schemes_become_servers() -> None:
    out, _ = run(v20(host="api.example.com", basePath="/v2", schemes=["https", "http"]))
    assert out["servers"] == [
        {"url": "https://api.example.com/v2"},
        {"url": "http://api.example.com/v2"},
    ]
    assert run(v20(basePath="/v1"))[0]["servers"] == [{"url": "/v1"}]
    assert "servers" not in run(v20())[0]


def test_definitions_become_component_schemas_and_refs_follow() -> None:
    out, problems = run(
        v20(
            definitions={
                "Pet": {"type": "object", "properties": {"tag": {"$ref": "#/definitions/Tag"}}},
                "Tag": {"type": "string"},
            },
        )
    )
    assert problems == []
    assert out["components"]["schemas"]["Pet"]["properties"]["tag"] == {
        "$ref": "#/components/schemas/Tag"
    }


def test_security_definitions_become_security_schemes() -> None:
    out, _ = run(
        v20(
            securityDefinitions={
                "basic": {"type": "basic"},
                "key": {"type": "apiKey", "name": "X-Key", "in": "header"},
                "oauth": {
                    "type": "oauth2",
                    "flow": "accessCode",
                    "authorizationUrl": "https://a",
                    "tokenUrl": "https://t",
                    "scopes": {"read": "r"},
                },
                "app": {
                    "type": "oauth2",
                    "flow": "application",
                    "tokenUrl": "https://t",
                    "scopes": {},
                },
            }
        )
    )
    schemes = out["components"]["securitySchemes"]
    assert schemes["basic"] == {"type": "http", "scheme": "basic"}
    assert schemes["key"] == {"type": "apiKey", "name": "X-Key", "in": "header"}
    assert schemes["oauth"] == {
        "type": "oauth2",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": "https://a",
                "tokenUrl": "https://t",
                "scopes": {"read": "r"},
            }
        },
    }
    assert schemes["app"]["flows"] == {"clientCredentials": {"tokenUrl": "https://t", "scopes": {}}}


def test_a_body_parameter_becomes_a_request_body_per_consumes() -> None:
    body = {"in": "body", "name": "b", "required": True, "schema": {"type": "object"}}
    out, _ = run(v20(consumes=["application/json", "application/xml"], paths=op20(body)))
    op = out["paths"]["/x"]["post"]
    assert "parameters" not in op
    assert op["requestBody"] == {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/xml": {"schema": {"type": "object"}},
        },
    }
    op = run(v20(paths=op20(body, consumes=["text/plain"])))[0]["paths"]["/x"]["post"]
    assert list(op["requestBody"]["content"]) == ["text/plain"]


def test_form_data_becomes_an_object_body() -> None:
    name = {"in": "formData", "name": "name", "type": "string", "required": True}
    out, _ = run(v20(paths=op20(name)))
    body = out["paths"]["/x"]["post"]["requestBody"]
    assert body == {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                }
            }
        },
    }


def test_a_file_form_field_makes_the_body_multipart() -> None:
    upload = {"in": "formData", "name": "file", "type": "file", "description": "the file"}
    out, _ = run(v20(paths=op20(upload)))
    content = out["paths"]["/x"]["post"]["requestBody"]["content"]
    assert content == {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "the file"}
                },
            }
        }
    }


def test_parameter_types_move_into_a_schema() -> None:
    limit = {
        "in": "query",
        "name": "limit",
        "type": "integer",
        "format": "int32",
        "minimum": 1,
        "default": 10,
        "x-nullable": True,
    }
    out, _ = run(v20(paths=op20(limit)))
    (param,) = out["paths"]["/x"]["post"]["parameters"]
    assert param == {
        "in": "query",
        "name": "limit",
        "schema": {"type": ["integer", "null"], "format": "int32", "minimum": 1, "default": 10},
    }


@pytest.mark.parametrize(
    ("where", "written", "style", "explode"),
    [
        ("query", None, "form", False),
        ("query", "csv", "form", False),
        ("query", "ssv", "spaceDelimited", False),
        ("query", "pipes", "pipeDelimited", False),
        ("query", "multi", "form", True),
        ("header", "csv", "simple", False),
        ("path", None, "simple", False),
    ],
)
def test_collection_format_becomes_style_and_explode(
    where: str, written: str | None, style: str, explode: bool
) -> None:
    param: dict[str, Any] = {
        "in": where,
        "name": "ids",
        "type": "array",
        "required": True,
        "items": {"type": "integer"},
    }
    if written:
        param["collectionFormat"] = written
    paths = op20(param)
    if where == "path":
        paths = {"/x/{ids}": paths["/x"]}
    out, problems = run(v20(paths=paths))
    (converted,) = next(iter(out["paths"].values()))["post"]["parameters"]
    assert (converted["style"], converted["explode"]) == (style, explode)
    assert converted["schema"] == {"type": "array", "items": {"type": "integer"}}
    assert problems == []


def test_tsv_is_read_as_csv_with_a_warning() -> None:
    param = {
        "in": "query",
        "name": "ids",
        "type": "array",
        "items": {"type": "string"},
        "collectionFormat": "tsv",
    }
    out, problems = run(v20(paths=op20(param)))
    (converted,) = out["paths"]["/x"]["post"]["parameters"]
    assert (converted["style"], converted["explode"]) == ("form", False)
    assert problems == [
        (
            "/paths/~1x/post/parameters/0/collectionFormat",
            "collectionFormat 'tsv' has no OpenAPI 3 equal; read as csv",
        )
    ]


def test_responses_get_content_per_produces_with_examples() -> None:
    responses = {
        "200": {
            "description": "ok",
            "schema": {"type": "object"},
            "examples": {"application/json": {"a": 1}},
            "headers": {"X-Rate": {"type": "integer", "description": "left"}},
        }
    }
    out, _ = run(v20(produces=["application/json", "text/xml"], paths=op20(responses=responses)))
    response = out["paths"]["/x"]["post"]["responses"]["200"]
    assert response == {
        "description": "ok",
        "content": {
            "application/json": {"schema": {"type": "object"}, "example": {"a": 1}},
            "text/xml": {"schema": {"type": "object"}},
        },
        "headers": {"X-Rate": {"schema": {"type": "integer"}, "description": "left"}},
    }


def test_a_response_without_schema_gets_no_content_whatever_produces_lists() -> None:
    """2.0's Response Object: no `schema` means no content is returned, so `produces` gives
    it no media type (the mock answers it with an empty body and no Content-Type)."""
    responses = {"405": {"description": "Invalid input"}}
    out, problems = run(v20(produces=["application/xml"], paths=op20(responses=responses)))
    assert problems == []
    assert out["paths"]["/x"]["post"]["responses"]["405"] == {"description": "Invalid input"}


def test_parameter_and_response_refs_are_followed_and_converted() -> None:
    document = v20(
        parameters={"Limit": {"in": "query", "name": "limit", "type": "integer"}},
        responses={"Gone": {"description": "gone", "schema": {"$ref": "#/definitions/E"}}},
        definitions={"E": {"type": "object"}},
        paths=op20({"$ref": "#/parameters/Limit"}, responses={"410": {"$ref": "#/responses/Gone"}}),
    )
    out, problems = run(document)
    assert problems == []
    op = out["paths"]["/x"]["post"]
    assert op["parameters"] == [{"in": "query", "name": "limit", "schema": {"type": "integer"}}]
    assert op["responses"]["410"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/E"
    }


def test_path_level_parameters_apply_to_each_operation_and_can_be_overridden() -> None:
    document = v20(
        paths={
            "/x/{id}": {
                "parameters": [
                    {"in": "path", "name": "id", "type": "string", "required": True},
                    {"in": "query", "name": "q", "type": "string"},
                ],
                "get": {
                    "parameters": [{"in": "query", "name": "q", "type": "integer"}],
                    "responses": {"200": {"description": "ok"}},
                },
            }
        }
    )
    out, _ = run(document)
    params = out["paths"]["/x/{id}"]["get"]["parameters"]
    assert [(p["name"], p["schema"]["type"]) for p in params] == [
        ("id", "string"),
        ("q", "integer"),
    ]


# -- versions ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("document", "place"),
    [({"openapi": "4.0.0"}, "/openapi"), ({"swagger": "1.2"}, "/swagger"), ({"info": {}}, "")],
)
def test_an_unknown_version_is_refused(document: dict[str, Any], place: str) -> None:
    with pytest.raises(SpecError) as caught:
        run(document)
    assert caught.value.place == place


def test_3_0_keywords_in_a_3_1_document_are_read_as_3_0_reads_them() -> None:
    """Authors mix the two (OpenAI's 3.1 description): `nullable` and boolean bounds are
    adopted with a warning at each schema; a property named `nullable` is a property."""
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {
            "schemas": {
                "S": {
                    "type": "object",
                    "properties": {
                        "n": {"type": "integer", "nullable": True},
                        "rate": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                        "nullable": {"type": "boolean"},
                        "ok": {"type": "number", "exclusiveMinimum": 0},
                    },
                }
            }
        },
    }
    out, problems = run(document)
    props = out["components"]["schemas"]["S"]["properties"]
    assert props["n"] == {"type": ["integer", "null"]}
    assert props["rate"] == {"type": "number", "exclusiveMinimum": 0}
    assert props["nullable"] == {"type": "boolean"}
    assert props["ok"] == {"type": "number", "exclusiveMinimum": 0}
    assert problems == [
        (
            "/components/schemas/S/properties/n",
            "nullable: OpenAPI 3.0's, not 3.1's; read as 3.0 reads it",
        ),
        (
            "/components/schemas/S/properties/rate",
            "exclusiveMinimum: OpenAPI 3.0's, not 3.1's; read as 3.0 reads it",
        ),
    ]
