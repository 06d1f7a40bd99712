"""Fixtures: indexed and validated at start-up; names are keys, never paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from mockserver.fixtures import load_fixtures
from mockserver.spec import SpecError, load_apis

MINI = Path(__file__).parent / "data" / "mini.yaml"


def fixture(root: Path, relative: str, body: object) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body) if not isinstance(body, str) else body, encoding="utf-8")
    return path


def test_valid_fixtures_are_indexed(tmp_path: Path) -> None:
    apis = load_apis([MINI])
    fixture(tmp_path, "mini/createThing/201.json", {"name": "abc"})
    fixture(tmp_path, "mini/createThing/201.big.json", {"name": "abcde"})
    store = load_fixtures(tmp_path, apis)
    op = next(o for o in apis[0].operations if o.operation_id == "createThing")
    assert store.get(op, 201) == (True, {"name": "abc"})
    assert store.get(op, 201, "big") == (True, {"name": "abcde"})
    assert store.get(op, 201, "other") == (False, None)
    assert store.names(op, 201) == ["big"]


@pytest.mark.parametrize(
    ("relative", "body", "says"),
    [
        ("mini/createThing/201.json", {"name": "ab"}, "does not match the 201 response schema"),
        ("mini/createThing/201.json", "{not json", "not valid JSON"),
        ("mini/nope/201.json", {}, "no operation 'nope'"),
        ("mini/createThing/404.json", {}, "documents no status 404"),
        ("mini/createThing/ok.json", {}, "<status>.json"),
        ("mini/createThing/201.bad name.json", {}, "<status>.json"),
        ("mini/201.json", {}, "<api-id>/<operationId>/<status>"),
    ],
)
def test_bad_fixtures_stop_start_up_naming_the_file(
    tmp_path: Path, relative: str, body: object, says: str
) -> None:
    path = fixture(tmp_path, relative, body)
    with pytest.raises(SpecError) as caught:
        load_fixtures(tmp_path, load_apis([MINI]))
    assert caught.value.source == str(path)
    assert says in str(caught.value)


def test_schema_mismatch_names_the_place(tmp_path: Path) -> None:
    fixture(tmp_path, "mini/createThing/201.json", {"name": "abc", "children": [{"name": 1}]})
    with pytest.raises(SpecError) as caught:
        load_fixtures(tmp_path, load_apis([MINI]))
    assert caught.value.place == "children[0].name"


def test_fixtures_of_apis_not_loaded_are_ignored(tmp_path: Path) -> None:
    fixture(tmp_path, "other-api/op/200.json", {})
    assert load_fixtures(tmp_path, load_apis([MINI])).bodies == {}


@pytest.mark.parametrize(
    "name", ["../../../etc/passwd", "..", "/etc/passwd", "a/b", "created%2F..", "201"]
)
def test_example_names_are_not_paths(client: FlaskClient, name: str) -> None:
    response = client.post("/V1.0/p1/events", headers={"X-Mock-Example": name}, json=[])
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.json is not None
    assert response.json["valid"] == ["created"]
