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

from mockserver import generation
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


# -- the author's values first -------------------------------------------------------------
def generate(schema: Any, seed: int, document: dict[str, Any] | None = None) -> Any:
    doc = document if document is not None else {"openapi": "3.1.0"}
    return compile_schema(schema, SchemaContext("t", doc))(make_context(seed, FAKE))


def response_validator(document: dict[str, Any], schema: Any) -> Any:
    return SchemaContext("t", document).validator(schema, for_request=False)


def test_examples_are_chosen_among_deterministically() -> None:
    schema = {"type": "string", "examples": ["red", "green", "blue"]}
    values = [generate(schema, seed) for seed in range(60)]
    assert set(values) == {"red", "green", "blue"}
    assert values == [generate(schema, seed) for seed in range(60)]


def test_example_default_and_const_win_over_invention() -> None:
    schema = {
        "type": "object",
        "required": ["colour", "size", "kind", "level"],
        "properties": {
            "colour": {"type": "string", "example": "teal"},
            "size": {"type": "integer", "default": 42},
            "kind": {"type": "string", "const": "widget"},
            "level": {"type": "integer", "minimum": 0, "maximum": 9, "examples": [3, 99]},
        },
    }
    for seed in range(30):
        value = generate(schema, seed)
        assert value["colour"] == "teal" and value["size"] == 42 and value["kind"] == "widget"
        assert value["level"] == 3  # 99 breaks its own schema: never chosen


def test_a_schema_level_example_is_the_answer() -> None:
    example = {"name": "Rex", "tag": "dog"}
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "example": example}
    assert generate(schema, 1) == example and generate(schema, 2) == example


def test_identifiers_stay_generated_even_with_an_example() -> None:
    item = {
        "type": "object",
        "required": ["event_id"],
        "properties": {"event_id": {"type": "string", "example": "ev-1", "maxLength": 40}},
    }
    values = generate({"type": "array", "minItems": 3, "maxItems": 3, "items": item}, 5)
    assert len({v["event_id"] for v in values}) == 3


# -- integer magnitudes --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("schema", "low", "high"),
    [
        ({"type": "integer", "minimum": 1}, 1, 1 + 10_000),
        ({"type": "integer"}, 0, 10_000),
        ({"type": "integer", "format": "int64"}, 0, 10_000),
        ({"type": "integer", "maximum": -5}, -5 - 10_000, -5),
        ({"type": "integer", "minimum": 0, "maximum": 2**63 - 1}, 0, 10_000),
        ({"type": "integer", "exclusiveMinimum": 7, "maximum": 8}, 8, 8),
        ({"type": "integer", "minimum": 2**60}, 2**60, 2**60 + 10_000),
    ],
)
def test_integers_are_plausible_and_within_what_javascript_holds(
    schema: dict[str, Any], low: int, high: int
) -> None:
    for seed in range(50):
        value = generate(schema, seed)
        assert isinstance(value, int) and low <= value <= high, (schema, value)
        if schema.get("minimum", 0) < 2**53:
            assert abs(value) <= 2**53 - 1


def test_integer_multiples_outside_the_plausible_range_are_still_found() -> None:
    schema = {"type": "integer", "minimum": 1, "multipleOf": 1_000_000}
    for seed in range(20):
        value = generate(schema, seed)
        assert value >= 1_000_000 and value % 1_000_000 == 0


def test_number_multiples_pass_the_float_check() -> None:
    schema = {"type": "number", "minimum": 0, "maximum": 50, "multipleOf": 0.01}
    validator = response_validator({}, schema)
    for seed in range(100):
        value = generate(schema, seed)
        assert validator.is_valid(value), value


# -- oneOf, discriminator ------------------------------------------------------------------
def test_a_oneof_answer_matches_exactly_one_branch() -> None:
    schema = {
        "oneOf": [
            {"type": "object", "properties": {"name": {"type": "string"}}},
            {
                "type": "object",
                "required": ["name", "age"],
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            },
            {"type": "integer"},
            {"type": "number"},
        ]
    }
    validator = response_validator({}, schema)
    for seed in range(200):
        value = generate(schema, seed)
        assert validator.is_valid(value), value


def test_oneof_branches_that_overlap_get_a_value_only_one_matches() -> None:
    """OpenFIGI's MappingJobResult: two open objects, neither requiring its property, so
    {"warning": "x"} matches both. The answer sets a property only the other branch
    defines to a value that branch refuses (null for its string), which tells them apart."""
    schema = {
        "oneOf": [
            {"type": "object", "properties": {"data": {"type": "array", "items": {}}}},
            {"type": "object", "properties": {"warning": {"type": "string"}}},
        ]
    }
    validator = response_validator({}, schema)
    for seed in range(40):
        value = generate(schema, seed)
        assert validator.is_valid(value), value


PETS: dict[str, Any] = {
    "openapi": "3.1.0",
    "components": {
        "schemas": {
            "Pet": {
                "type": "object",
                "required": ["petType", "name"],
                "properties": {"petType": {"type": "string"}, "name": {"type": "string"}},
                "discriminator": {"propertyName": "petType"},
            },
            "Cat": {
                "allOf": [
                    {"$ref": "#/components/schemas/Pet"},
                    {
                        "type": "object",
                        "required": ["purrs"],
                        "properties": {"purrs": {"type": "boolean"}},
                    },
                ]
            },
            "Dog": {
                "allOf": [
                    {"$ref": "#/components/schemas/Pet"},
                    {
                        "type": "object",
                        "required": ["barks"],
                        "properties": {"barks": {"type": "boolean"}},
                    },
                ]
            },
            "AnyPet": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Cat"},
                    {"$ref": "#/components/schemas/Dog"},
                ],
                "discriminator": {
                    "propertyName": "petType",
                    "mapping": {"cat": "#/components/schemas/Cat", "dog": "Dog"},
                },
            },
        }
    },
}


def test_discriminator_mapping_names_the_branch_generated() -> None:
    schema = {"$ref": "#/components/schemas/AnyPet"}
    validator = response_validator(PETS, schema)
    seen = set()
    for seed in range(40):
        value = generate(schema, seed, PETS)
        assert validator.is_valid(value), value
        expected = "cat" if "purrs" in value else "dog"
        assert value["petType"] == expected
        seen.add(expected)
    assert seen == {"cat", "dog"}


def test_a_discriminator_value_the_branch_refuses_is_not_set() -> None:
    """OpenAI's tool calls: `discriminator: {propertyName: type}` with no mapping, and
    each branch's `type` an enum of its own value: the implicit value (the schema name)
    would make the body invalid, so the branch's own value is answered."""
    call = {
        "type": "object",
        "required": ["type", "id"],
        "properties": {"type": {"enum": ["function"]}, "id": {"type": "string"}},
    }
    custom = {**call, "properties": {**call["properties"], "type": {"enum": ["custom"]}}}
    document = {
        "openapi": "3.1.0",
        "components": {"schemas": {"ToolCall": call, "CustomToolCall": custom}},
    }
    schema = {
        "oneOf": [
            {"$ref": "#/components/schemas/ToolCall"},
            {"$ref": "#/components/schemas/CustomToolCall"},
        ],
        "discriminator": {"propertyName": "type"},
    }
    validator = response_validator(document, schema)
    kinds = set()
    for seed in range(20):
        value = generate(schema, seed, document)
        assert validator.is_valid(value), value
        kinds.add(value["type"])
    assert kinds == {"function", "custom"}


def test_a_union_answers_a_value_that_fits_the_keywords_beside_it() -> None:
    """OpenAI's `truncation_strategy: allOf: [$ref TruncationObject, {nullable: true}]`
    read as 3.0: the merge is an object beside `anyOf: [{}, {type: null}]`; null fits
    the second branch alone but not the object, so it is never the answer."""
    document = {
        "openapi": "3.1.0",
        "components": {
            "schemas": {"Truncation": {"type": "object", "properties": {"n": {"type": "integer"}}}}
        },
    }
    schema = {
        "allOf": [
            {"$ref": "#/components/schemas/Truncation"},
            {"anyOf": [{}, {"type": "null"}]},
        ]
    }
    validator = response_validator(document, schema)
    values = [generate(schema, seed, document) for seed in range(20)]
    assert all(validator.is_valid(v) for v in values), values
    assert all(isinstance(v, dict) for v in values)


def test_nested_unions_cost_a_bounded_run() -> None:
    """Unions inside unions, each of whose values always matches both branches: every
    try fails the oneOf check, and the tries of each level multiplied by the next (24
    a level: 24**4 values). Past RETRY_BUDGET a union keeps its first value."""
    level: Any = {"type": "string"}
    for _ in range(4):
        item = {"type": "object", "properties": {"a": level, "b": level}}
        level = {"oneOf": [item, item]}  # both branches take every value
    made = [0]
    generator = compile_schema(level, SchemaContext("t", {"openapi": "3.1.0"}))
    counting = make_context(3, FAKE)
    original = counting.rng.randrange

    def randrange(*args: Any) -> int:  # called once per union value made
        made[0] += 1
        return original(*args)

    counting.rng.randrange = randrange  # type: ignore[method-assign]
    value = generator(counting)
    assert isinstance(value, dict) and set(value) == {"a", "b"}
    assert counting.retries == generation.RETRY_BUDGET
    assert made[0] < 200


def test_a_schema_inheriting_a_discriminator_carries_its_own_name() -> None:
    for seed in range(10):
        assert generate({"$ref": "#/components/schemas/Cat"}, seed, PETS)["petType"] == "Cat"


# -- readOnly / writeOnly ------------------------------------------------------------------
CARDS: dict[str, Any] = {
    "openapi": "3.1.0",
    "components": {
        "schemas": {
            "Id": {"type": "string", "readOnly": True},
            "Card": {
                "type": "object",
                "required": ["id", "number", "cvc"],
                "properties": {
                    "id": {"$ref": "#/components/schemas/Id"},
                    "number": {"type": "string", "pattern": "^[0-9]{16}$"},
                    "cvc": {"type": "string", "writeOnly": True, "pattern": "^[0-9]{3}$"},
                },
            },
        }
    },
}


def test_write_only_properties_are_never_answered() -> None:
    schema = {"$ref": "#/components/schemas/Card"}
    validator = response_validator(CARDS, schema)
    for seed in range(20):
        value = generate(schema, seed, CARDS)
        assert "cvc" not in value and "id" in value
        assert validator.is_valid(value)  # the response side does not require cvc


def test_read_only_properties_are_not_required_of_a_request() -> None:
    ctx = SchemaContext("t", CARDS)
    request = ctx.validator({"$ref": "#/components/schemas/Card"}, for_request=True)
    assert request.is_valid({"number": "4242424242424242", "cvc": "123"})
    missing = [v.field for v in request.iter_errors({"number": "4242424242424242"})]
    assert missing == ["cvc"]


# -- recursive schemas ---------------------------------------------------------------------
RECURSIVE: dict[str, Any] = {
    "openapi": "3.1.0",
    "components": {
        "schemas": {
            "User": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "invitedBy": {"allOf": [{"$ref": "#/components/schemas/User"}]},
                },
            },
            "Chain": {
                "type": "object",
                "required": ["value", "next"],
                "properties": {
                    "value": {"type": "integer"},
                    "next": {"oneOf": [{"$ref": "#/components/schemas/Chain"}, {"type": "null"}]},
                },
            },
            "Tree": {
                "type": ["object", "null"],
                "required": ["left", "right"],
                "properties": {
                    "left": {"$ref": "#/components/schemas/Tree"},
                    "right": {"$ref": "#/components/schemas/Tree"},
                },
            },
            "Expr": {
                "anyOf": [
                    {
                        "type": "object",
                        "required": ["op", "args"],
                        "properties": {
                            "op": {"enum": ["+", "*"]},
                            "args": {
                                "type": "array",
                                "minItems": 2,
                                "items": {"$ref": "#/components/schemas/Expr"},
                            },
                        },
                    },
                    {"type": "integer"},
                ]
            },
            "Forever": {
                "type": "object",
                "required": ["again"],
                "properties": {"again": {"$ref": "#/components/schemas/Forever"}},
            },
        }
    },
}


def nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize("name", ["User", "Chain", "Tree", "Expr"])
def test_recursive_schemas_generate_valid_bounded_values(name: str) -> None:
    schema = {"$ref": f"#/components/schemas/{name}"}
    validator = response_validator(RECURSIVE, schema)
    for seed in range(30):
        value = generate(schema, seed, RECURSIVE)
        assert validator.is_valid(value), value
        assert nesting(value) <= 2 * 8


def test_a_schema_with_no_finite_value_gives_none_not_a_recursion_error() -> None:
    assert generate({"$ref": "#/components/schemas/Forever"}, 1, RECURSIVE) is None


def test_a_deeply_nested_request_body_is_followed_only_to_a_bounded_depth() -> None:
    document = {
        "openapi": "3.1.0",
        "components": {
            "schemas": {
                "Nest": {
                    "type": "object",
                    "properties": {
                        "label": {"type": "string", "maxLength": 3},
                        "inner": {"type": "array", "items": {"$ref": "#/components/schemas/Nest"}},
                    },
                }
            }
        },
    }
    body: Any = {"label": "far-too-long"}
    for _ in range(3000):
        body = {"label": "far-too-long", "inner": [body]}
    ctx = SchemaContext("t", document)
    generator = compile_schema({"$ref": "#/components/schemas/Nest"}, ctx)
    value = generator(make_context(1, FAKE, body=body))
    assert nesting(value) <= 2 * 8


# -- varied schemas (hypothesis) -----------------------------------------------------------
SCALARS = st.one_of(
    st.builds(
        lambda low, width, fmt: {
            "type": "integer",
            **({"minimum": low} if low is not None else {}),
            **({"maximum": low + width} if low is not None and width is not None else {}),
            **({"format": fmt} if fmt else {}),
        },
        st.one_of(st.none(), st.integers(-(2**40), 2**40)),
        st.one_of(st.none(), st.integers(0, 10**9)),
        st.sampled_from([None, "int32", "int64"]),
    ).filter(lambda s: s.get("format") != "int32" or abs(s.get("minimum", 0)) < 2**30),
    st.builds(
        lambda low, high, step: {
            "type": "number",
            **({"minimum": low} if low is not None else {}),
            **({"exclusiveMaximum": low + high} if low is not None and high else {}),
            **({"multipleOf": step} if step and (low is None or not high or high >= 10) else {}),
        },
        st.one_of(st.none(), st.floats(-1e6, 1e6)),
        st.one_of(st.none(), st.floats(1, 1e6)),
        st.sampled_from([None, 0.5, 0.25, 5]),
    ),
    st.builds(
        lambda low, extra, fmt: {
            "type": "string",
            "minLength": low,
            "maxLength": low + extra,
            **({"format": fmt} if fmt else {}),
        },
        st.integers(0, 10),
        st.integers(0, 30),
        st.sampled_from([None, "uuid", "date-time", "date", "email", "ipv4"]),
    ).filter(lambda s: "format" not in s or (s["minLength"] == 0 and s["maxLength"] >= 40)),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.integers(-5, 5) | st.text(max_size=3), min_size=1, max_size=4, unique=True).map(
        lambda values: {"enum": values}
    ),
)


def _objects(children: Any) -> Any:
    return st.one_of(
        st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), children, max_size=4).flatmap(
            lambda props: st.builds(
                lambda req: {"type": "object", "properties": props, "required": req},
                st.lists(st.sampled_from(sorted(props)), unique=True) if props else st.just([]),
            )
        ),
        st.builds(
            lambda items, low: {
                "type": "array",
                "items": items,
                "minItems": low,
                "maxItems": low + 3,
            },
            children,
            st.integers(0, 2),
        ),
        st.lists(children, min_size=2, max_size=3).map(lambda bs: {"anyOf": bs}),
        # oneOf branches that can be told apart (of different types), else no value is valid
        st.lists(
            SCALARS.filter(lambda b: "type" in b),
            min_size=2,
            max_size=3,
            unique_by=lambda b: b["type"],
        ).map(lambda bs: {"oneOf": bs}),
        st.lists(
            st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), SCALARS, max_size=2).map(
                lambda props: {"type": "object", "properties": props}
            ),
            min_size=1,
            max_size=2,
        ).map(lambda parts: {"allOf": parts}),
    )


SCHEMAS = st.recursive(SCALARS, _objects, max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=SCHEMAS, seed=st.integers(min_value=0, max_value=2**32))
def test_generated_values_validate_against_varied_schemas(schema: Any, seed: int) -> None:
    validator = response_validator({}, schema)
    generator = compile_schema(schema, SchemaContext("t", {}))
    if "oneOf" not in str(schema):
        value = generator(make_context(seed, FAKE))
        errors = [e.message for e in validator.iter_errors(value)]
        assert not errors, (schema, value)
        return
    # A oneOf is checked and retried: a value matching two branches (an integer for
    # integer and number) is made again, so almost every value matches exactly one.
    valid = sum(validator.is_valid(generator(make_context(seed + s, FAKE))) for s in range(10))
    assert valid >= 9, schema


def test_a_oneof_whose_branches_overlap_by_chance_still_answers_one_branch() -> None:
    """An integer always fits `multipleOf: 0.5` too, and half of that branch's values are
    whole: an array of five such items still matches one branch in each item (it took
    more tries than a value needs on its own: 180 of 200 arrays were valid)."""
    one_of = {"oneOf": [{"type": "number", "multipleOf": 0.5}, {"type": "integer"}]}
    schema = {"type": "array", "items": one_of, "minItems": 5, "maxItems": 5}
    validator = response_validator({}, schema)
    generator = compile_schema(schema, SchemaContext("t", {}))
    valid = sum(validator.is_valid(generator(make_context(seed, FAKE))) for seed in range(200))
    assert valid >= 198


@pytest.mark.parametrize(
    ("schema", "fewest"),
    [
        ({"type": "object", "minProperties": 1}, 1),
        ({"type": "object", "minProperties": 3, "properties": {"a": {"type": "integer"}}}, 3),
        ({"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}}, 2),
    ],
)
def test_min_properties_is_met_with_extra_entries(schema: dict[str, Any], fewest: int) -> None:
    """APIs.guru's `info: {type: object, minProperties: 1}` was answered `{}`."""
    for seed in range(20):
        value = generate(schema, seed)
        assert len(value) >= fewest
        assert response_validator({"openapi": "3.1.0"}, schema).is_valid(value)


def test_min_properties_adds_nothing_where_extra_entries_are_refused() -> None:
    schema = {
        "type": "object",
        "minProperties": 2,
        "additionalProperties": False,
        "properties": {"a": {"type": "integer"}},
    }
    assert set(generate(schema, 1)) == {"a"}
