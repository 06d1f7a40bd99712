"""The lenient repairs (`spec/normalise/lenient.py`), one test each: the warning's place
and what is served; and `strict`, which refuses the same list."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mockserver.spec import SpecError, load_apis
from mockserver.spec.bundle import Bundle
from mockserver.spec.errors import Problems
from mockserver.spec.normalise import normalise


def spec(paths: Any, **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def get(**op: Any) -> dict[str, Any]:
    op.setdefault("responses", {"200": {"description": "ok"}})
    return {"/a": {"get": op}}


def run(document: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    problems = Problems()
    out = normalise(Bundle(Path("s.yaml"), copy.deepcopy(document)), problems)
    return out, [(p.place, p.message) for p in problems]


def test_paths_that_are_not_an_object_serve_nothing() -> None:
    out, problems = run(spec([1]))
    assert out["paths"] == {}
    assert problems == [("/paths", "paths must be an object; no operation is served")]


def test_a_path_not_starting_with_a_slash_is_left_out() -> None:
    out, problems = run(spec({"a": {"get": {"responses": {"200": {"description": ""}}}}}))
    assert out["paths"] == {}
    assert problems == [("/paths/a", "a path must start with '/'; left out")]


def test_a_path_item_or_operation_that_is_not_an_object_is_left_out() -> None:
    out, problems = run(spec({"/a": 5, "/b": {"get": "x"}}))
    assert out["paths"] == {"/b": {}}
    assert [p for p, _ in problems] == ["/paths/~1a", "/paths/~1b/get"]


def test_no_responses_is_default_with_no_body() -> None:
    out, problems = run(spec({"/a": {"get": {}}}))
    assert out["paths"]["/a"]["get"]["responses"] == {"default": {"description": ""}}
    assert [p for p, _ in problems] == ["/paths/~1a/get/responses"]


def test_a_key_that_is_no_status_is_left_out() -> None:
    out, problems = run(spec(get(responses={"200": {"description": ""}, "ok": {}})))
    assert list(out["paths"]["/a"]["get"]["responses"]) == ["200"]
    assert problems == [
        ("/paths/~1a/get/responses/ok", "'ok' is not a status, a range (4XX) or 'default'")
    ]


def test_a_response_that_is_not_an_object_has_no_body() -> None:
    out, problems = run(spec(get(responses={"200": "fine"})))
    assert out["paths"]["/a"]["get"]["responses"] == {"200": {"description": ""}}
    assert [p for p, _ in problems] == ["/paths/~1a/get/responses/200"]


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("q", "a parameter must be an object; left out"),
        ({"in": "query"}, "a parameter needs a name; left out"),
        (
            {"name": "q", "in": "body"},
            "parameter 'q': 'in' must be one of query, header, path, cookie; left out",
        ),
    ],
)
def test_an_unusable_parameter_is_left_out(param: Any, message: str) -> None:
    out, problems = run(spec(get(parameters=[param])))
    assert out["paths"]["/a"]["get"]["parameters"] == []
    assert problems == [("/paths/~1a/get/parameters/0", message)]


def test_content_that_is_not_one_media_type_is_left_out() -> None:
    param = {"name": "q", "in": "query", "content": {}}
    out, problems = run(spec(get(parameters=[param])))
    assert "content" not in out["paths"]["/a"]["get"]["parameters"][0]
    assert [p for p, _ in problems] == [
        "/paths/~1a/get/parameters/0/content",
        "/paths/~1a/get/parameters/0",  # no schema now
    ]


def test_a_declared_path_parameter_not_in_the_path_is_left_out() -> None:
    shared = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    out, problems = run(spec({"/a": {"parameters": [shared], "get": get()["/a"]["get"]}}))
    assert out["paths"]["/a"]["parameters"] == []
    assert problems == [
        ("/paths/~1a/parameters/0", "path parameter 'id' is not in the path /a; left out")
    ]


def test_a_path_parameter_is_always_required() -> None:
    param = {"name": "id", "in": "path", "schema": {"type": "string"}}
    out, _ = run(spec({"/a/{id}": get(parameters=[param])["/a"]}))
    assert out["paths"]["/a/{id}"]["get"]["parameters"][0]["required"] is True


def test_an_unknown_or_unusable_security_scheme_is_left_out_of_the_requirement() -> None:
    schemes = {"key": {"type": "apiKey", "in": "header", "name": "k"}, "bad": {"type": "apiKey"}}
    document = spec(
        get(security=[{"key": [], "nope": []}, {"bad": []}]),
        components={"securitySchemes": schemes},
    )
    out, problems = run(document)
    assert out["paths"]["/a"]["get"]["security"] == [{"key": []}, {}]
    assert problems == [
        ("/components/securitySchemes/bad", "security scheme is not usable"),
        ("/paths/~1a/get/security/0/nope", "unknown security scheme 'nope'"),
        ("/paths/~1a/get/security/1/bad", "unknown security scheme 'bad'"),
    ]


def test_a_bad_example_is_not_served(tmp_path: Path) -> None:
    path = tmp_path / "ex.yaml"
    path.write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        '200':\n          description: ok\n          content:\n"
        "            application/json:\n              schema: {type: integer}\n"
        "              examples: {good: {value: 1}, bad: {value: x}}\n",
        encoding="utf-8",
    )
    problems = Problems()
    (api,) = load_apis([path], problems=problems)
    media = api.operations[0].responses[200].media[0]
    assert dict(media.examples) == {"good": 1}
    assert [(p.place, p.message) for p in problems] == [
        (
            "/paths/~1a/get/responses/200/content/application~1json",
            "example 'bad' does not match its schema; not served",
        )
    ]


def _answering(schema: Any, examples: dict[str, Any]) -> dict[str, Any]:
    """A path item whose GET answers 200 with `schema` and these examples."""
    media = {"schema": schema, "examples": {k: {"value": v} for k, v in examples.items()}}
    return {
        "get": {"responses": {"200": {"description": "ok", "content": {"application/json": media}}}}
    }


@pytest.mark.parametrize("unusable", [False, True], ids=["checked-together", "one-by-one"])
def test_every_bad_example_of_a_big_spec_is_found(tmp_path: Path, unusable: bool) -> None:
    """Examples are checked in batches by one validator; a schema no validator can take
    sends every media type back to being checked on its own, with the same verdicts."""
    ops = 150  # more than one batch of examples
    count = {"$ref": "#/components/schemas/Count"}
    paths = {
        f"/r{i}": _answering(count, {"good": i, **({"bad": "x"} if i % 40 == 7 else {})})
        for i in range(ops)
    }
    if unusable:
        paths["/odd"] = _answering({"type": "integer", "pattern": "("}, {"any": 1})
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": {"Count": {"type": "integer", "minimum": 0}}},
    }
    path = tmp_path / "big.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    problems = Problems()
    (api,) = load_apis([path], check=False, problems=problems)
    refused = sorted(p.place.split("/")[2] for p in problems if "does not match" in p.message)
    expected = sorted(f"~1r{i}" for i in range(ops) if i % 40 == 7)
    assert refused == sorted(expected + (["~1odd"] if unusable else []))
    served = {op.path: dict(op.responses[200].media[0].examples) for op in api.operations}
    assert served["/r7"] == {"good": 7}
    assert served["/r8"] == {"good": 8}


def test_an_operation_that_cannot_be_compiled_is_left_out_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n"
        "  /bad:\n    get:\n      parameters: [{name: q, in: query, schema: {pattern: '('}}]\n"
        "      responses: {'200': {description: ok}}\n"
        "  /good:\n    get:\n      responses: {'200': {description: ok}}\n",
        encoding="utf-8",
    )
    problems = Problems()
    (api,) = load_apis([path], check=False, problems=problems)
    assert [op.path for op in api.operations] == ["/good"]
    (problem,) = problems
    assert problem.place == "/paths/~1bad/get"
    assert problem.message.startswith("GET /bad is not served: ")


def test_strict_refuses_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(
        "openapi: 3.0.3\npaths:\n  /a/{id}:\n    get:\n      responses: {'200': {}}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as caught:
        load_apis([path], strict=True)
    places = [p.place for p in caught.value.problems]
    assert places == [
        "/info",
        "/paths/~1a~1{id}/get/parameters",
        "/paths/~1a~1{id}/get/responses/200/description",
    ]
    assert str(caught.value).count("\n") == 2  # one line per problem
