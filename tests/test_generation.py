"""Generation: schema-valid, deterministic per seed, realistic by field name, echoing."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from faker import Faker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.generation import compile_schema, make_context
from mockserver.schemas import SchemaContext
from mockserver.spec import read_document
from tests.specs.helpers import SPECS, validator_for

MINI = Path(__file__).parent / "data" / "mini.yaml"
FAKE = Faker()


def mini_generator(name: str):
    document = read_document(MINI)
    ctx = SchemaContext("mini", document)
    schema = {"$ref": f"#/components/schemas/{name}"}
    return compile_schema(schema, ctx), validator_for(document, schema)


def every_response_schema() -> list[tuple[str, Any, Any]]:
    """(label, generator, independent validator) for every response body of every spec."""
    found = []
    for path in sorted(SPECS.glob("*.yaml")):
        document = read_document(path)
        ctx = SchemaContext(path.stem, document)
        for route, item in document["paths"].items():
            for method, op in item.items():
                if method == "parameters":
                    continue
                for status, response in op["responses"].items():
                    response = ctx.resolve(response)
                    for media_type, media in response.get("content", {}).items():
                        schema = media["schema"]
                        label = f"{path.stem} {method.upper()} {route} {status} {media_type}"
                        found.append(
                            (label, compile_schema(schema, ctx), validator_for(document, schema))
                        )
    return found


RESPONSES = every_response_schema()


def test_there_are_response_schemas_to_check() -> None:
    assert len(RESPONSES) > 60


@pytest.mark.parametrize(
    ("label", "generator", "validator"), RESPONSES, ids=[r[0] for r in RESPONSES]
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=2**64 - 1))
def test_generated_data_validates_against_every_response_schema(
    label, generator, validator, seed
) -> None:
    value = generator(make_context(seed, FAKE))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
    assert not errors, (label, value)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**64 - 1))
def test_oneof_allof_formats_patterns_and_recursion(seed: int) -> None:
    for name in ("Mixed", "Shape", "Node"):
        generator, validator = mini_generator(name)
        value = generator(make_context(seed, FAKE))
        assert validator.is_valid(value), (
            name,
            value,
            [e.message for e in validator.iter_errors(value)],
        )


def test_same_seed_same_value_other_seed_other_value() -> None:
    generator, _ = mini_generator("Mixed")
    first = generator(make_context(7, FAKE))
    assert generator(make_context(7, FAKE)) == first
    assert generator(make_context(8, FAKE)) != first


def test_formats_look_like_their_format() -> None:
    generator, _ = mini_generator("Mixed")
    value = generator(make_context(1, FAKE))
    uuid.UUID(value["id"])
    assert re.fullmatch(r"[A-Z]{3}-[0-9]{2}", value["code"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value["when"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", value["day"])
    assert "@" in value["mail"] and value["site"].startswith("http")
    assert 10 <= value["count"] <= 12
    assert len(value["items"]) == 2 and len(set(value["items"])) == 2


def test_uuids_are_what_the_uuid_module_makes_of_the_same_bits() -> None:
    generate = compile_schema({"type": "string", "format": "uuid"}, SchemaContext("t", {}))
    for seed in range(500):
        bits = make_context(seed, FAKE).rng.getrandbits(128)
        value = generate(make_context(seed, FAKE))
        assert value == str(uuid.UUID(int=bits, version=4))
        assert uuid.UUID(value).version == 4


def test_recursion_is_bounded() -> None:
    generator, _ = mini_generator("Node")

    def depth(node: dict[str, Any]) -> int:
        return 1 + max((depth(c) for c in node.get("children", [])), default=0)

    assert all(depth(generator(make_context(seed, FAKE))) <= 8 for seed in range(20))


def test_field_names_pick_realistic_values() -> None:
    document = {"openapi": "3.1.0"}
    ctx = SchemaContext("t", document)
    schema = {
        "type": "object",
        "required": ["email", "userLocator", "createdAt", "username", "failureCount"],
        "properties": {
            "email": {"type": "string"},
            "userLocator": {"type": "string"},
            "createdAt": {"type": "string"},
            "username": {"type": "string"},
            "failureCount": {"type": "integer"},
        },
    }
    value = compile_schema(schema, ctx)(make_context(3, FAKE))
    assert "@" in value["email"]
    uuid.UUID(value["userLocator"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*Z", value["createdAt"])
    assert re.fullmatch(r"[a-z0-9._]+", value["username"])
    assert 0 <= value["failureCount"] <= 100


def test_echo_of_parameters_and_body_items() -> None:
    ctx = SchemaContext("t", {"openapi": "3.1.0"})
    item = {
        "type": "object",
        "properties": {
            "event_id": {"type": "string"},
            "event_name": {"type": "string", "maxLength": 8},
            "project": {"type": "string"},
        },
    }
    generator = compile_schema({"type": "array", "items": item}, ctx)
    body = [{"event_name": "alpha"}, {"event_name": "far-too-long-to-fit"}, {}]
    value = generator(make_context(1, FAKE, echo={"project": "shop"}, body=body))
    assert len(value) == 3
    assert value[0]["event_name"] == "alpha"
    # Not valid for the property: generated instead of echoed.
    assert value[1]["event_name"] != "far-too-long-to-fit" and len(value[1]["event_name"]) <= 8
    assert [v["project"] for v in value] == ["shop"] * 3
