"""Specs as users write them load and are served (issue 16's known failures, each one).

Each test writes the spec a new user tried, loads it as `serve` does (lenient), and
checks both the warning (file and JSON pointer) and that requests are answered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mockserver.engine import Engine
from mockserver.spec import SpecError, load_apis
from mockserver.spec.errors import Problems
from mockserver.validation import RequestRecord


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def engine_for(path: Path) -> tuple[Engine, Problems]:
    problems = Problems()
    apis = load_apis([path], problems=problems)
    from mockserver.fixtures import FixtureStore

    return Engine(apis, FixtureStore()), problems


def post_json(path: str, body: object) -> RequestRecord:
    return RequestRecord(
        "POST", path, (), {"content-type": "application/json"}, json.dumps(body).encode()
    )


SWAGGER = """swagger: '2.0'
info: {title: Pets, version: '1'}
host: pets.example.com
basePath: /v2
consumes: [application/json]
produces: [application/json]
paths:
  /pets:
    post:
      operationId: addPet
      parameters:
        - {in: body, name: pet, required: true, schema: {$ref: '#/definitions/Pet'}}
      responses:
        200: {description: ok, schema: {$ref: '#/definitions/Pet'}}
        400: {description: invalid}
definitions:
  Pet:
    type: object
    required: [name]
    properties:
      name: {type: string}
      tag: {type: string, x-nullable: true}
"""


def test_swagger_2_loads_and_serves(tmp_path: Path) -> None:
    engine, problems = engine_for(write(tmp_path, "pets.yaml", SWAGGER))
    assert list(problems) == []
    (op,) = engine.operations
    assert (op.method, op.path, op.operation_id) == ("POST", "/pets", "addPet")
    assert op.served_path == "/v2/pets"  # under its basePath
    assert op.body is not None and op.body.required
    good = engine.handle(post_json("/v2/pets", {"name": "Rex", "tag": None}))
    assert good.reply.status == 200
    assert isinstance(good.reply.body, dict) and isinstance(good.reply.body["name"], str)
    bad = engine.handle(post_json("/v2/pets", {"tag": "x"}))
    assert bad.reply.status == 400
    assert any(v.name == "name" for v in bad.checked.violations)


def test_integer_status_keys(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "ints.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        200: {description: ok}\n        404: {description: not found}\n",
    )
    engine, problems = engine_for(spec)
    assert engine.operations[0].statuses == (200, 404)
    assert list(problems) == []


def test_no_info_is_a_warning(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "noinfo.yaml",
        "openapi: 3.0.3\npaths:\n  /a:\n    get:\n      responses:\n"
        "        '200': {description: ok}\n",
    )
    engine, problems = engine_for(spec)
    assert engine.apis[0].title == "noinfo"
    assert [(p.source, p.place) for p in problems] == [(str(spec), "/info")]
    assert engine.handle(RequestRecord("GET", "/a")).reply.status == 200


def test_response_without_description_is_a_warning(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "nodesc.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n"
        "        '200': {content: {application/json: {schema: {type: integer}}}}\n",
    )
    engine, problems = engine_for(spec)
    (problem,) = problems
    assert problem.place == "/paths/~1a/get/responses/200/description"
    assert isinstance(engine.handle(RequestRecord("GET", "/a")).reply.body, int)


def test_parameter_without_schema_is_a_warning(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "noschema.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      parameters: [{name: q, in: query, required: true}]\n"
        "      responses: {'200': {description: ok}, '400': {description: bad}}\n",
    )
    engine, problems = engine_for(spec)
    assert "/paths/~1a/get/parameters/0" in [p.place for p in problems]
    assert engine.handle(RequestRecord("GET", "/a", (("q", "anything"),))).reply.status == 200
    assert engine.handle(RequestRecord("GET", "/a")).reply.status == 400


def test_undeclared_path_parameter_is_a_warning(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "undeclared.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /pets/{petId}:\n    get:\n"
        "      responses: {'200': {description: ok, content: {application/json: "
        "{schema: {type: object, properties: {petId: {type: string}}, required: [petId]}}}}}\n",
    )
    engine, problems = engine_for(spec)
    assert any(
        p.place == "/paths/~1pets~1{petId}/get/parameters" and "petId" in p.message
        for p in problems
    )
    outcome = engine.handle(RequestRecord("GET", "/pets/rex"))
    assert outcome.reply.status == 200
    assert outcome.reply.body["petId"] == "rex"  # the declared parameter is echoed


def test_unquoted_date_in_an_example_is_kept_as_written(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "dates.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        '200':\n          description: ok\n          content:\n"
        "            application/json:\n              schema:\n                type: object\n"
        "                properties: {day: {type: string, format: date}}\n"
        "              example: {day: 2024-01-01}\n",
    )
    engine, problems = engine_for(spec)
    assert list(problems) == []
    assert engine.handle(RequestRecord("GET", "/a")).reply.body == {"day": "2024-01-01"}


RECURSIVE = """openapi: 3.1.0
info: {title: t, version: '1'}
paths:
  /users:
    post:
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/User'}}}
      responses: {'204': {description: made}, '400': {description: bad}}
components:
  schemas:
    User:
      type: object
      required: [name]
      properties:
        name: {type: string}
        invitedBy:
          allOf: [{$ref: '#/components/schemas/User'}]
        friends:
          type: array
          items: {oneOf: [{$ref: '#/components/schemas/User'}, {type: string}]}
"""


def test_a_schema_including_itself_through_all_of_loads_and_validates(tmp_path: Path) -> None:
    engine, problems = engine_for(write(tmp_path, "rec.yaml", RECURSIVE))
    assert list(problems) == []
    nested = {"name": "a", "invitedBy": {"name": "b", "invitedBy": {"name": "c"}}}
    assert engine.handle(post_json("/users", nested)).reply.status == 204
    broken = {"name": "a", "invitedBy": {"invitedBy": {"name": 5}}, "friends": ["x", {}]}
    outcome = engine.handle(post_json("/users", broken))
    assert outcome.reply.status == 400
    fields = {v.name for v in outcome.checked.violations}
    assert "invitedBy.name" in fields


def test_a_recursive_response_schema_never_stops_loading(tmp_path: Path) -> None:
    """Generation is bounded elsewhere (generation.py); loading never recurses without
    end, and an operation whose compiling would is left out with a warning."""
    text = RECURSIVE.replace(
        "responses: {'204': {description: made}, '400': {description: bad}}",
        "responses: {'200': {description: ok, content: {application/json: "
        "{schema: {$ref: '#/components/schemas/User'}}}}}",
    )
    problems = Problems()
    (api,) = load_apis([write(tmp_path, "rec.yaml", text)], problems=problems)
    served = {op.path for op in api.operations}
    assert served == {"/users"} or any("/users" in p.message for p in problems)


def test_openapi_30_boolean_exclusive_minimum(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "excl.yaml",
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      parameters: [{name: n, in: query, schema: {type: integer, minimum: 0, "
        "exclusiveMinimum: true}}]\n"
        "      responses: {'200': {description: ok}, '400': {description: bad}}\n",
    )
    engine, problems = engine_for(spec)
    assert list(problems) == []
    assert engine.handle(RequestRecord("GET", "/a", (("n", "1"),))).reply.status == 200
    assert engine.handle(RequestRecord("GET", "/a", (("n", "0"),))).reply.status == 400


def test_openapi_30_nullable_accepts_null(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "nullable.yaml",
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    post:\n"
        "      requestBody: {content: {application/json: {schema: {type: object, properties: "
        "{note: {type: string, nullable: true}, ref: {nullable: true, allOf: "
        "[{$ref: '#/components/schemas/Id'}]}}}}}}\n"
        "      responses: {'204': {description: ok}, '422': {description: bad}}\n"
        "components:\n  schemas:\n    Id: {type: integer}\n",
    )
    engine, problems = engine_for(spec)
    assert list(problems) == []
    assert engine.handle(post_json("/a", {"note": None, "ref": None})).reply.status == 204
    assert engine.handle(post_json("/a", {"note": 5})).reply.status == 422


def test_operations_with_only_default_or_a_range_are_served(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "ranges.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n"
        "  /d:\n    get:\n      responses: {default: {description: any}}\n"
        "  /r:\n    get:\n      responses: {2XX: {description: fine, content: "
        "{application/json: {schema: {type: boolean}}}}}\n",
    )
    engine, problems = engine_for(spec)
    assert list(problems) == []
    assert engine.handle(RequestRecord("GET", "/d")).reply.status == 200
    reply = engine.handle(RequestRecord("GET", "/r")).reply
    assert reply.status == 200 and isinstance(reply.body, bool)


def test_a_ref_to_another_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "schemas/pet.yaml",
        "type: object\nrequired: [name]\nproperties:\n  name: {type: string}\n"
        "  owner: {$ref: './owner.yaml#/Owner'}\n",
    )
    write(
        tmp_path,
        "schemas/owner.yaml",
        "Owner: {type: object, required: [id], properties: {id: {type: integer}}}\n",
    )
    spec = write(
        tmp_path,
        "api.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /pets:\n    post:\n"
        "      requestBody: {content: {application/json: {schema: {$ref: './schemas/pet.yaml'}}}}\n"
        "      responses: {'201': {description: ok}, '400': {description: bad}}\n",
    )
    engine, problems = engine_for(spec)
    assert list(problems) == []
    assert [a.api_id for a in engine.apis] == ["api"]  # the folder's other files are no specs
    assert engine.handle(post_json("/pets", {"name": "r", "owner": {"id": 1}})).reply.status == 201
    outcome = engine.handle(post_json("/pets", {"name": "r", "owner": {"id": "x"}}))
    assert outcome.reply.status == 400
    assert [v.name for v in outcome.checked.violations] == ["owner.id"]


def test_a_bad_ref_inside_items_names_its_place_briefly(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "badref.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        '200':\n          description: ok\n          content:\n"
        "            application/json:\n              schema:\n                type: array\n"
        "                items: {$ref: '#/components/schemas/Missing'}\n"
        + "components:\n  schemas:\n"
        + "".join(f"    S{i}: {{type: object, description: {'x' * 80}}}\n" for i in range(80)),
    )
    engine, problems = engine_for(spec)
    (problem,) = problems
    assert problem.source == str(spec)
    assert problem.place == (
        "/paths/~1a/get/responses/200/content/application~1json/schema/items/$ref"
    )
    assert "#/components/schemas/Missing" in problem.message and len(str(problem)) < 300
    assert isinstance(engine.handle(RequestRecord("GET", "/a")).reply.body, list)
    with pytest.raises(SpecError) as caught:
        load_apis([spec], strict=True)
    assert len(str(caught.value)) < 400
