"""Reading a spec with the files it refers to (`spec/bundle.py`), and finding specs in a
folder that also holds the files they refer to (`spec/read.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.engine import Engine
from mockserver.fixtures import FixtureStore
from mockserver.spec import SpecError, find_spec_files, load_apis
from mockserver.spec.bundle import HOLDER, read_spec
from mockserver.spec.errors import Problems
from mockserver.validation import RequestRecord

HEAD = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def body_spec(ref: str) -> str:
    return (
        HEAD + "paths:\n  /a:\n    post:\n      requestBody: {content: {application/json: "
        f"{{schema: {{$ref: '{ref}'}}}}}}}}\n"
        "      responses: {'204': {description: ok}, '400': {description: bad}}\n"
    )


def test_refs_to_other_files_become_local(tmp_path: Path) -> None:
    write(tmp_path, "common/id.json", '{"Id": {"type": "integer"}}')
    write(tmp_path, "common/thing.yaml", "type: object\nproperties:\n  id: {$ref: 'id.json#/Id'}\n")
    spec = write(tmp_path, "api.yaml", body_spec("./common/thing.yaml"))
    bundle = read_spec(spec)
    files = {key: path.as_posix() for key, path in bundle.files.items()}
    assert sorted(files.values()) == [
        (tmp_path / "common/id.json").as_posix(),
        (tmp_path / "common/thing.yaml").as_posix(),
    ]
    held = bundle.document[HOLDER]
    thing_key = next(k for k, p in files.items() if p.endswith("thing.yaml"))
    id_key = next(k for k, p in files.items() if p.endswith("id.json"))
    media = bundle.document["paths"]["/a"]["post"]["requestBody"]["content"]["application/json"]
    assert media["schema"] == {"$ref": f"#/{HOLDER}/{thing_key}"}
    assert held[thing_key]["properties"]["id"] == {"$ref": f"#/{HOLDER}/{id_key}/Id"}
    assert bundle.locate(f"/{HOLDER}/{id_key}/Id/type") == (
        str(tmp_path / "common/id.json"),
        "/Id/type",
    )


def test_local_refs_inside_another_file_stay_in_that_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "defs.yaml",
        "Thing: {type: object, properties: {child: {$ref: '#/Child'}}}\n"
        "Child: {type: object, required: [n], properties: {n: {type: integer}}}\n",
    )
    engine = Engine(
        load_apis([write(tmp_path, "api.yaml", body_spec("defs.yaml#/Thing"))]), FixtureStore()
    )

    def post(body: bytes) -> int:
        headers = {"content-type": "application/json"}
        return engine.handle(RequestRecord("POST", "/a", (), headers, body)).reply.status

    assert post(b'{"child": {"n": 1}}') == 204
    assert post(b'{"child": {"n": "x"}}') == 400


def test_a_schema_recursive_across_two_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "type: object\nproperties:\n  b: {$ref: 'b.yaml'}\n  n: {type: integer}\n",
    )
    write(tmp_path, "b.yaml", "type: object\nproperties:\n  a: {$ref: 'a.yaml'}\n")
    problems = Problems()
    (api,) = load_apis([write(tmp_path, "api.yaml", body_spec("a.yaml"))], problems=problems)
    assert list(problems) == []
    engine = Engine([api], FixtureStore())
    headers = {"content-type": "application/json"}
    deep = b'{"b": {"a": {"b": {"a": {"n": "x"}}}}}'
    outcome = engine.handle(RequestRecord("POST", "/a", (), headers, deep))
    assert outcome.reply.status == 400
    assert [v.name for v in outcome.checked.violations] == ["b.a.b.a.n"]


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("https://example.com/schemas/pet.json", "is not fetched"),
        ("../outside.yaml", "leaves the spec's folder"),
        ("missing.yaml", "no such file"),
        ("other.yaml#Pet", "not a JSON pointer"),
    ],
)
def test_a_ref_that_cannot_be_followed_is_a_warning_and_unconstrained(
    tmp_path: Path, ref: str, says: str
) -> None:
    write(tmp_path, "outside.yaml", "type: integer\n")
    write(tmp_path, "api/other.yaml", "Pet: {type: integer}\n")
    spec = write(tmp_path, "api/api.yaml", body_spec(ref))
    problems = Problems()
    (api,) = load_apis([spec], problems=problems)
    (problem,) = problems
    assert problem.source == str(spec)
    assert problem.place == ("/paths/~1a/post/requestBody/content/application~1json/schema/$ref")
    assert says in problem.message
    engine = Engine([api], FixtureStore())
    headers = {"content-type": "application/json"}
    assert (
        engine.handle(RequestRecord("POST", "/a", (), headers, b'"anything"')).reply.status == 204
    )


def test_a_problem_inside_a_referenced_file_names_that_file(tmp_path: Path) -> None:
    other = write(tmp_path, "parts.yaml", "Bad: {type: array, items: {$ref: '#/Nowhere'}}\n")
    problems = Problems()
    load_apis([write(tmp_path, "api.yaml", body_spec("parts.yaml#/Bad"))], problems=problems)
    assert [(p.source, p.place) for p in problems] == [(str(other), "/Bad/items/$ref")]


def test_a_folder_holds_specs_and_the_files_they_refer_to(tmp_path: Path) -> None:
    write(tmp_path, "pet.yaml", "type: object\n")
    write(tmp_path, "shared.json", '{"Id": {"type": "string"}}')
    write(tmp_path, "one.yaml", body_spec("pet.yaml"))
    write(
        tmp_path,
        "two.json",
        '{"swagger": "2.0", "info": {"title": "x", "version": "1"},'
        ' "paths": {"/b": {"get": {"responses": {"200": {"description": "ok"}}}}}}',
    )
    assert [p.name for p in find_spec_files([tmp_path])] == ["one.yaml", "two.json"]
    assert sorted(a.api_id for a in load_apis([tmp_path])) == ["one", "two"]


def test_a_file_named_directly_must_be_a_spec(tmp_path: Path) -> None:
    fragment = write(tmp_path, "pet.yaml", "type: object\n")
    with pytest.raises(SpecError, match="no top-level 'openapi' or 'swagger'"):
        load_apis([fragment])


def test_a_referenced_file_that_cannot_be_parsed_is_a_warning(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.yaml", "type: [unclosed\n")
    problems = Problems()
    load_apis([write(tmp_path, "api.yaml", body_spec("broken.yaml"))], problems=problems)
    messages = [(p.source, p.place.startswith("line ")) for p in problems]
    assert (str(broken), True) in messages
