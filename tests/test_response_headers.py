"""Documented response headers: compiled at start-up, filled per answer, sent on the wire."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from faker import Faker

from mockserver import wire
from mockserver.engine import Engine
from mockserver.headers import (
    HeaderRequest,
    ItemIndex,
    compile_headers,
    fill,
    item_path,
    render,
)
from mockserver.schemas import SchemaContext
from mockserver.validation import RequestRecord
from tests.conftest import LiveServer

SPEC = Path(__file__).parent / "data" / "headers.yaml"
FAKE = Faker()


def headers_of(raw: dict[str, Any], seed: int = 1, **facts: Any) -> dict[str, str]:
    ctx = SchemaContext("t", {"openapi": "3.1.0"})
    compiled = compile_headers(ctx, raw, resource=facts.pop("resource", None))
    request = HeaderRequest(
        seed,
        facts.pop("path", "/things"),
        facts.pop("operation_path", "/things"),
        facts.pop("host", None),
        facts.pop("body", None),
    )
    return dict(fill(compiled, request, FAKE))


# -- units -------------------------------------------------------------------------------
def test_examples_are_sent_as_written_and_chosen_by_the_seed() -> None:
    raw = {
        "X-Region": {
            "schema": {"type": "string"},
            "examples": {"eu": {"value": "eu-west"}, "us": {"value": "us-east"}},
        },
        "X-Plan": {"schema": {"type": "string"}, "example": "gold"},
    }
    seen = {headers_of(raw, seed)["X-Region"] for seed in range(30)}
    assert seen == {"eu-west", "us-east"}
    assert headers_of(raw, 4) == headers_of(raw, 4)
    assert headers_of(raw, 4)["X-Plan"] == "gold"


def test_an_example_invalid_for_its_schema_is_not_sent() -> None:
    raw = {"X-Count": {"schema": {"type": "integer", "maximum": 10}, "example": 99}}
    for seed in range(20):
        assert 0 <= int(headers_of(raw, seed)["X-Count"]) <= 10


def test_generated_from_the_schema_and_valid_against_it() -> None:
    raw = {
        "X-RateLimit-Limit": {"schema": {"type": "integer", "minimum": 1}},
        "X-Request-Id": {"schema": {"type": "string", "format": "uuid"}},
        "X-Ratio": {"schema": {"type": "number", "minimum": 0, "maximum": 1}},
        "X-Flag": {"schema": {"type": "boolean"}},
        "X-Ids": {"schema": {"type": "array", "items": {"type": "integer"}}},
        "X-Code": {"schema": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"}},
    }
    for seed in range(30):
        sent = headers_of(raw, seed)
        assert 1 <= int(sent["X-RateLimit-Limit"]) <= 10_001
        uuid.UUID(sent["X-Request-Id"])
        assert 0 <= float(sent["X-Ratio"]) <= 1
        assert sent["X-Flag"] in ("true", "false")
        assert all(part.lstrip("-").isdigit() for part in sent["X-Ids"].split(","))
        assert len(sent["X-Code"]) == 6 and sent["X-Code"][2] == "-"


def test_values_are_visible_ascii_whatever_the_schema_allows() -> None:
    raw = {
        "X-Any": {"schema": {"type": "string", "pattern": "^[\\s\\S]{1,12}$"}, "required": True},
        "X-Unicode": {"schema": {"type": "string"}, "example": "naïve"},
    }
    for seed in range(50):
        sent = headers_of(raw, seed)
        for value in sent.values():
            assert all("\x20" <= c <= "\x7e" for c in value) and value == value.strip()
        # what the one writer refuses never reaches it
        wire.head_bytes(200, sent.items(), [], True)
        assert sent.get("X-Unicode") != "naïve"


def test_http_layer_headers_are_left_to_it() -> None:
    raw = {h: {"schema": {"type": "string"}} for h in ("Content-Type", "Content-Length", "Date")}
    assert headers_of(raw) == {}


def test_retry_after_is_a_short_wait() -> None:
    assert headers_of({"Retry-After": {"schema": {"type": "integer"}}})["Retry-After"] == "1"
    longer = {"Retry-After": {"schema": {"type": "integer", "minimum": 30, "maximum": 60}}}
    assert 30 <= int(headers_of(longer)["Retry-After"]) <= 60


def test_location_names_the_created_resource() -> None:
    raw = {"Location": {"schema": {"type": "string"}}}
    sent = headers_of(
        raw,
        resource="/users/{userId}/pets/{petId}",
        path="/api/v3/users/7/pets",
        operation_path="/users/{userId}/pets",
        body={"petId": 42, "name": "Rex"},
    )
    assert sent["Location"] == "/api/v3/users/7/pets/42"


def test_location_as_an_absolute_uri_when_its_schema_says_uri() -> None:
    raw = {"Location": {"schema": {"type": "string", "format": "uri"}}}
    sent = headers_of(
        raw, resource="/pets/{id}", path="/pets", host="mock:4010", body={"id": "a b"}
    )
    assert sent["Location"] == "http://mock:4010/pets/a%20b"


def test_item_path_is_found_by_shape() -> None:
    gets = ["/pets", "/pets/{petId}", "/users/{uid}/pets/{petId}"]
    assert item_path("/pets", gets) == "/pets/{petId}"
    assert item_path("/users/{userId}/pets", gets) == "/users/{uid}/pets/{petId}"
    assert item_path("/pets/{id}", gets) == "/pets/{id}"  # PUT /pets/{id}: the path itself
    assert item_path("/orders", gets) is None


def test_item_index_is_built_once_and_answers_as_the_list_does() -> None:
    gets = ["/pets", "/pets/{a}", "/pets/{b}", "/users/{uid}/pets/{petId}", "/x/{y}"]
    index = ItemIndex(gets)
    for path in ("/pets", "/users/{u}/pets", "/pets/{id}", "/x/{z}", "/x", "/orders", "/"):
        assert index.item_path(path) == item_path(path, gets) == item_path(path, index)
    assert index.item_path("/pets") == "/pets/{a}"  # the first one the spec lists


def test_render_follows_the_simple_style() -> None:
    assert render([1, 2, 3], False) == "1,2,3"
    assert render({"a": 1, "b": "x"}, False) == "a,1,b,x"
    assert render({"a": 1, "b": "x"}, True) == "a=1,b=x"
    assert render(["a,b"], False) is None  # would not read back as one item
    assert render("line\nbreak", False) is None


# -- through the engine ------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_paths([SPEC], None)


def answer(engine: Engine, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
    sent = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    if body:
        sent["content-type"] = "application/json"
    return engine.handle(RequestRecord(method, path, (), sent, body)).reply


def test_the_same_request_gets_the_same_headers(engine: Engine) -> None:
    first = answer(engine, "GET", "/pets").headers
    assert answer(engine, "GET", "/pets").headers == first
    assert answer(engine, "GET", "/pets", x_mock_seed="9").headers != first


def test_scenario_and_reply_headers_still_win(engine: Engine) -> None:
    reply = answer(engine, "GET", "/pets", x_mock_status="429")
    names = [name for name, _ in reply.headers]
    # The documented header first, then the reply's own (a forced answer's report).
    assert names == ["Retry-After", "X-Mock-Violations"]


# -- on the wire ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    process = LiveServer(str(SPEC))
    yield process
    assert process.stop() == 0


def test_e2e_location_on_a_201(server: LiveServer) -> None:
    created = requests.post(server.url + "/pets", json={"name": "Rex"}, timeout=10)
    assert created.status_code == 201
    pet = created.json()
    assert created.headers["Location"] == f"/pets/{pet['petId']}"
    assert requests.get(server.url + created.headers["Location"], timeout=10).status_code == 200


def test_e2e_retry_after_on_a_forced_429(server: LiveServer) -> None:
    limited = requests.get(server.url + "/pets", headers={"X-Mock-Status": "429"}, timeout=10)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"


def test_e2e_rate_limit_headers_from_their_schemas(server: LiveServer) -> None:
    page = requests.get(server.url + "/pets", timeout=10)
    assert page.status_code == 200
    assert int(page.headers["X-RateLimit-Limit"]) >= 1
    assert int(page.headers["X-RateLimit-Remaining"]) >= 0
    assert 0 <= int(page.headers["X-Total-Count"]) <= 500
    uuid.UUID(page.headers["X-Request-Id"])
    assert page.headers["Link"] == '</pets?page=2>; rel="next"'
    assert page.headers["ETag"].startswith('"') and page.headers["ETag"].endswith('"')
    assert page.headers["Content-Type"] == "application/json"
    again = requests.get(server.url + "/pets", timeout=10)
    assert again.headers["X-RateLimit-Limit"] == page.headers["X-RateLimit-Limit"]


def test_e2e_headers_on_an_answer_with_no_body(server: LiveServer) -> None:
    accepted = requests.post(
        server.url + "/pets", json={"name": "Rex"}, headers={"X-Mock-Status": "202"}, timeout=10
    )
    assert accepted.status_code == 202 and accepted.content == b""
    assert re.fullmatch(re.escape(server.url) + r"/pets/\d+", accepted.headers["Location"])
    assert set(accepted.headers["X-Tags"].split(",")) <= {"a", "b", "c"}
