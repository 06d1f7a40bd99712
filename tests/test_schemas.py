"""Request validators (jsonschema-rs): every problem, named by field and rule; vendor rules."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from mockserver import schemas
from mockserver.engine import Engine
from mockserver.schemas import (
    MAX_SHOWN,
    RequestValidator,
    SchemaContext,
    TooDeep,
    error_field,
)
from mockserver.spec import Api, load_api
from mockserver.validation import RequestRecord, check, parse_json

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "components": {
        "schemas": {
            "Node": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 3, "maxLength": 5},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
            },
            "Shape": {
                "oneOf": [
                    {"type": "object", "required": ["radius"], "properties": {"radius": {}}},
                    {"type": "object", "required": ["side"], "properties": {"side": {}}},
                ]
            },
            "Mixed": {
                "type": "object",
                "required": ["id", "code"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"},
                    "note": {"type": ["string", "null"]},
                    "tags": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "when": {"type": "string", "format": "date-time"},
                    "day": {"type": "string", "format": "date"},
                    "mail": {"type": "string", "format": "email"},
                    "site": {"type": "string", "format": "uri"},
                    "level": {"enum": ["low", "high"]},
                    "kind": {"const": "thing"},
                    "count": {"type": "integer", "minimum": 10, "exclusiveMaximum": 12},
                    "small": {"type": "integer", "format": "int32"},
                    "big": {"type": "integer", "format": "int64"},
                    "items": {
                        "type": "array",
                        "maxItems": 2,
                        "uniqueItems": True,
                        "items": {"type": "integer", "multipleOf": 2},
                    },
                    "closed": {"type": "object", "additionalProperties": False},
                    "shape": {"$ref": "#/components/schemas/Shape"},
                    "node": {"$ref": "#/components/schemas/Node"},
                },
            },
            "Event": {
                "type": "object",
                "properties": {
                    "time": {
                        "type": "integer",
                        "format": "int64",
                        "x-time-window": {"unit": "ms", "before": 60_000, "after": 1_000},
                    },
                    "at": {"type": "number", "x-time-window": {"unit": "s", "before": 10}},
                },
            },
        }
    },
}
MIXED = {"$ref": "#/components/schemas/Mixed"}
MINI = Path(__file__).parent / "data" / "mini.yaml"
EVENT = {"$ref": "#/components/schemas/Event"}


@pytest.fixture(scope="module")
def ctx() -> SchemaContext:
    return SchemaContext("test", DOCUMENT)


@pytest.fixture(scope="module")
def mini() -> Api:
    return load_api(MINI)


def findings(ctx: SchemaContext, schema: Any, instance: Any) -> list[tuple[str, str, str]]:
    return [
        (v.field, v.rule, v.message)
        for v in ctx.validator(schema, for_request=True).iter_errors(instance)
    ]


INVALID_MIXED = [
    {},
    {"id": "not-a-uuid", "code": "abc"},
    {"id": 7, "code": "ABC-12", "note": 3, "tags": {"a": "x", "b": 1.5}},
    {"id": "3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b", "code": "ABC-12", "when": "yesterday"},
    {"when": "2024-02-30T00:00:00Z", "day": "2024-13-01", "mail": "x", "site": "not a uri"},
    {"level": "mid", "kind": "other", "count": 12, "items": [1, 1, 3]},
    {"count": 9, "small": 2**31, "big": 2**63, "closed": {"q": 1, "r": 2}},
    {"small": -(2**31) - 1, "big": -(2**63) - 1, "shape": {"radius": 1, "side": 2}},
    {"shape": {}, "node": {"children": [{"name": "a"}, {"name": "toolong"}, {}, {"name": 5}]}},
]


@pytest.mark.parametrize("instance", INVALID_MIXED)
def test_same_fields_and_rules_as_the_python_jsonschema_package(
    ctx: SchemaContext, instance: dict[str, Any]
) -> None:
    """jsonschema-rs reports what `jsonschema` (with mockserver's format checker) reports."""
    python = ctx.validator(MIXED, for_request=False)
    expected = sorted((error_field(e), str(e.validator)) for e in python.iter_errors(instance))
    assert expected, "the case is not invalid"
    assert sorted((f, r) for f, r, _ in findings(ctx, MIXED, instance)) == expected


def test_every_message_names_the_value_and_the_rule(ctx: SchemaContext) -> None:
    found = findings(
        ctx,
        MIXED,
        {
            "code": "abc",
            "level": "mid",
            "items": [1, 2, 4],
            "small": 2**31,
            "closed": {"q": 1},
            "when": "yesterday",
        },
    )
    assert sorted(found) == sorted(
        [
            ("id", "required", '"id" is a required property'),
            ("code", "pattern", '"abc" does not match "^[A-Z]{3}-[0-9]{2}$"'),
            ("when", "format", '"yesterday" is not a "date-time"'),
            ("level", "enum", '"mid" is not one of ["low", "high"]'),
            (
                "small",
                "format",
                "2147483648 is not an int32 (an integer from -2147483648 to 2147483647)",
            ),
            ("items", "maxItems", "[1,2,4] has more than 2 items"),
            ("items[0]", "multipleOf", "1 is not a multiple of 2"),
            (
                "closed",
                "additionalProperties",
                "Additional properties are not allowed ('q' was unexpected)",
            ),
        ]
    )


def test_enum_lists_every_option(ctx: SchemaContext) -> None:
    options = [f"option{i}" for i in range(9)]
    ((_, rule, message),) = findings(ctx, {"enum": options}, "none")
    assert rule == "enum"
    assert all(f'"{option}"' in message for option in options)


def test_a_long_value_is_clipped_and_the_rule_still_shown(ctx: SchemaContext) -> None:
    ((_, rule, message),) = findings(ctx, {"type": "string", "maxLength": 5}, "x" * 10_000)
    assert rule == "maxLength"
    assert message.endswith("... is longer than 5 characters")
    assert len(message) < MAX_SHOWN + 40


def test_false_schemas_have_a_rule(ctx: SchemaContext) -> None:
    schema = {"type": "array", "prefixItems": [{"type": "integer"}], "items": False}
    assert [(f, r) for f, r, _ in findings(ctx, schema, [1, 2, 3])] == [
        ("[1]", "items"),
        ("[2]", "items"),
    ]
    assert [(f, r) for f, r, _ in findings(ctx, {"properties": {"x": False}}, {"x": 1})] == [
        ("x", "false")
    ]


def test_refs_resolve_through_the_document_recursively(ctx: SchemaContext) -> None:
    node = {"$ref": "#/components/schemas/Node"}
    deep: dict[str, Any] = {"name": "abc"}
    for _ in range(50):
        deep = {"name": "abc", "children": [deep]}
    assert ctx.validator(node, for_request=True).is_valid(deep)
    leaf = deep
    for _ in range(50):
        leaf = leaf["children"][0]
    leaf["name"] = "a"
    ((field, rule, _),) = findings(ctx, node, deep)
    assert (field, rule) == (".".join(["children[0]"] * 50) + ".name", "minLength")


def test_a_percent_encoded_pointer_names_the_decoded_key() -> None:
    """`#/paths/~1a~1%7Bid%7D` is the path `/a/{id}` (DigitalOcean's spec writes its
    references so): the fragment is a URI's, percent-decoded before it is a pointer."""
    schema = {"type": "integer", "minimum": 1}
    doc = {"openapi": "3.1.0", "paths": {"/a/{id}": {"get": {"x-schema": schema}}}}
    ref = "#/paths/~1a~1%7Bid%7D/get/x-schema"
    ctx = SchemaContext("pct", doc)
    assert ctx.pointer(ref) is schema
    assert ctx.resolve({"$ref": ref}) is schema
    check = ctx.validator({"$ref": ref}, for_request=True)
    assert check.is_valid(2)
    assert not check.is_valid(0)


@pytest.mark.parametrize(
    ("offsets", "fields"),
    [
        ({"time": 0}, []),
        ({"time": -50, "at": -5}, []),
        ({"time": -120}, ["time"]),
        ({"time": 60}, ["time"]),
        ({"at": -60}, ["at"]),
    ],
)
def test_time_window(ctx: SchemaContext, offsets: dict[str, int], fields: list[str]) -> None:
    """`time` takes ms within [now - 60 s, now + 1 s]; `at` takes s within [now - 10 s, now]."""
    now = time.time()
    event = {
        "time": int((now + offsets.get("time", 0)) * 1000),
        "at": now + offsets.get("at", 0),
    }
    found = findings(ctx, EVENT, event)
    assert [(f, r) for f, r, _ in found] == [(f, "x-time-window") for f in fields]
    for _, _, message in found:
        assert "outside the accepted time window" in message and "(now is " in message


def test_time_window_leaves_other_types_to_the_type_rule(ctx: SchemaContext) -> None:
    found = findings(ctx, EVENT, {"at": True, "time": "later"})
    assert sorted((f, r) for f, r, _ in found) == [("at", "type"), ("time", "type")]


def test_int64_and_time_window_both_reported(ctx: SchemaContext) -> None:
    assert [(f, r) for f, r, _ in findings(ctx, EVENT, {"time": 2**64})] == [
        ("time", "format"),
        ("time", "x-time-window"),
    ]


@pytest.mark.parametrize(
    ("value", "valid"),
    [(2**31 - 1, True), (-(2**31), True), (2**31, False), (-(2**31) - 1, False), (10**30, False)],
)
def test_int32_range(ctx: SchemaContext, value: int, valid: bool) -> None:
    schema = {"type": "integer", "format": "int32"}
    assert ctx.validator(schema, for_request=True).is_valid(value) is valid
    assert [r for _, r, _ in findings(ctx, schema, value)] == ([] if valid else ["format"])


def test_int_formats_leave_other_types_alone(ctx: SchemaContext) -> None:
    # A number or boolean where an int64 is declared is the `type` rule's business.
    schema = {"format": "int64"}
    validator = ctx.validator(schema, for_request=True)
    assert validator.is_valid(1e30) and validator.is_valid(True) and validator.is_valid("x")


def test_int_format_marker_is_not_added_inside_data(ctx: SchemaContext) -> None:
    schema = {"enum": [{"format": "int32"}], "default": {"format": "int64"}}
    assert ctx.validator(schema, for_request=True).is_valid({"format": "int32"})


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "x-time-window": "an hour"},
        {"x-time-window": {"before": "long ago"}},
        {"$ref": "#/components/schemas/Missing"},
        {"$ref": "https://example.com/schema.json"},  # never fetched: the server is offline
    ],
)
def test_unusable_schemas_fail_at_start_up(ctx: SchemaContext, schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="schema not usable"):
        ctx.validator(schema, for_request=True)


def test_the_deepest_body_the_parser_accepts_is_checked() -> None:
    """jsonschema-rs recurses on the native stack: parse_json's nesting limit keeps it safe."""
    low, high = 1, 100_000
    while low < high:  # the deepest `[[...]]` parse_json accepts
        mid = (low + high + 1) // 2
        try:
            parse_json(b"[" * mid + b"]" * mid)
            low = mid
        except Exception:  # the parser's own `depth` finding
            high = mid - 1
    body = parse_json(b"[" * low + b"]" * low)
    assert RequestValidator({"type": "array", "items": {"$ref": "#"}}).is_valid(body)
    with pytest.raises(TooDeep):
        list(RequestValidator({"items": {"$ref": "#", "maxItems": 0}}).iter_errors(body))


def test_an_invalid_body_too_deep_to_report_is_one_finding(mini: Api) -> None:
    create = next(o for o in mini.operations if o.operation_id == "createThing")

    def post(depth: int) -> list[tuple[str, str, str]]:
        children: list[Any] = []
        for _ in range(depth):
            children = [{"name": "abc", "children": children}]
        body = json.dumps({"children": children}).encode()  # `name` is missing at the top
        request = RequestRecord("POST", "/things", (), {"content-type": "application/json"}, body)
        return [(v.location, v.name, v.rule) for v in check(create, request, {}).violations]

    assert post(10) == [("body", "name", "required")]
    assert post(300) == [("body", "", "depth")]


def test_requests_never_compile_a_validator(engine: Engine) -> None:
    body = b'[{"event_name": "x", "event_source": "y", "time": 1, "detail": {}}]'
    requests = [
        RequestRecord("POST", "/V1.0/p1/events", (), {"content-type": "application/json"}, body),
        RequestRecord("GET", "/event/not-a-uuid/events/abc"),
        RequestRecord("GET", "/api/v1/events/query/", (("page_size", "x"),)),
    ]
    with mock.patch.object(schemas.jsonschema_rs, "Draft202012Validator") as compile_schema:
        statuses = [engine.handle(r).reply.status for r in requests]
    assert statuses == [400, 400, 400]
    compile_schema.assert_not_called()


def test_a_discriminator_picks_the_branch_a_body_is_checked_against() -> None:
    """OpenAPI's Discriminator Object: the property's value names the schema, so a body
    that also fits the other branch is valid; an unknown value gets the plain oneOf."""
    branch = {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string"}}}
    plain = {
        "oneOf": [{"$ref": "#/$defs/A"}, {"$ref": "#/$defs/B"}],
        "$defs": {
            "A": {**branch, "properties": {**branch["properties"], "a": {"type": "number"}}},
            "B": branch,
        },
    }
    tagged = {**plain, "discriminator": {"propertyName": "kind", "mapping": {"one": "A"}}}
    assert not RequestValidator(plain).is_valid({"kind": "A"})  # fits both branches
    checker = RequestValidator(tagged)
    for kind in ("A", "one", "B"):  # the schema's name, its mapping key
        assert checker.is_valid({"kind": kind}), kind
    found = [(v.field, v.rule) for v in checker.iter_errors({"kind": "one", "a": "x"})]
    assert found == [("a", "type")]  # checked against A alone, named by its field
    assert [v.rule for v in checker.iter_errors({"kind": "Z"})] == ["oneOf"]
    assert [v.rule for v in checker.iter_errors(3)] == ["oneOf"]


def test_what_the_mock_sends_is_checked_by_its_discriminator_too() -> None:
    """A fixture or scenario body naming its branch is valid though it fits both (the
    `jsonschema` package knows no discriminator); the document itself is left as it is."""
    branch = {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string"}}}
    pets = {
        "oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}],
        "discriminator": {"propertyName": "kind"},
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "paths": {},
        "components": {
            "schemas": {
                "A": {**branch, "properties": {**branch["properties"], "a": {"type": "number"}}},
                "B": branch,
                "Pets": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}},
                "Pet": pets,
            }
        },
    }
    before = json.dumps(document, sort_keys=True)
    ctx = SchemaContext("pets", document)
    for schema in ({"$ref": "#/components/schemas/Pet"}, pets):  # by reference, inline
        sent = ctx.validator(schema, for_request=False)
        assert sent.is_valid({"kind": "A"})
        assert not sent.is_valid({"kind": "A", "a": "x"})  # checked against A
        assert not sent.is_valid({"kind": "Z"})  # no branch named: the plain oneOf
    listing = ctx.validator({"$ref": "#/components/schemas/Pets"}, for_request=False)
    assert listing.is_valid([{"kind": "A"}, {"kind": "B"}])
    assert json.dumps(document, sort_keys=True) == before


# -- what jsonschema-rs holds of a document ------------------------------------------------
ANNOTATED: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/notes": {
            "post": {
                "description": "a note",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/Note"},
                            "examples": {"one": {"value": {"$ref": "#/nowhere"}}},
                        }
                    }
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Note": {
                "title": "Note",
                "description": "what the author wrote",
                "type": "object",
                "required": ["description", "examples"],
                "properties": {
                    # properties named like annotations are properties, not annotations
                    "description": {"type": "string", "description": "the text"},
                    "examples": {"type": "array", "items": {"type": "integer"}},
                    "title": {"$ref": "#/components/schemas/Note/properties/description"},
                    "author": {"$ref": "#/components/schemas/Author"},
                },
                "example": {"description": "hi", "examples": [1]},
            },
            "Author": {"type": "string", "minLength": 2, "default": "an author"},
            "Unused": {"type": "object", "properties": {"x": {"$ref": "#/components/schemas/Far"}}},
            "Far": {"type": "integer"},
        }
    },
}


def test_jsonschema_rs_holds_what_operations_reach_without_annotations() -> None:
    ctx = SchemaContext("notes", ANNOTATED)
    held = ctx._referenced(None)
    assert held is not None
    assert set(held["components"]["schemas"]) == {"Note", "Author"}  # Unused is not reached
    note = held["components"]["schemas"]["Note"]
    assert "description" not in note and "title" not in note and "example" not in note
    assert set(note["properties"]) == {"description", "examples", "title", "author"}
    assert "description" not in note["properties"]["description"]
    assert "default" not in held["components"]["schemas"]["Author"]
    assert "paths" not in held  # the operation's schema is the validator's root


def test_annotation_named_properties_are_still_checked() -> None:
    ctx = SchemaContext("notes", ANNOTATED)
    note = {"$ref": "#/components/schemas/Note"}
    check = ctx.validator(note, for_request=True)
    assert check.is_valid({"description": "hi", "examples": [1], "title": "t", "author": "ab"})
    assert not check.is_valid({"description": "hi"})  # `examples` is required
    assert not check.is_valid({"description": 3, "examples": []})
    assert not check.is_valid({"description": "hi", "examples": [], "title": 5})
    assert not check.is_valid({"description": "hi", "examples": [], "author": "a"})


def test_a_schema_no_operation_reaches_is_still_resolved() -> None:
    ctx = SchemaContext("notes", ANNOTATED)
    unused = ctx.validator({"$ref": "#/components/schemas/Unused"}, for_request=True)
    assert unused.is_valid({"x": 1}) and not unused.is_valid({"x": "one"})
    assert not ctx.checker({"$ref": "#/components/schemas/Unused"}).is_valid({"x": "one"})


@pytest.mark.parametrize(
    "small",
    [
        {"$anchor": "small", "maximum": 3},  # a document that names schemas otherwise
        {"maximum": 3, "description": "no anchor"},  # a ref that is not a pointer
    ],
)
def test_a_document_whose_refs_are_not_all_pointers_is_held_whole(small: Any) -> None:
    document = {
        "openapi": "3.1.0",
        "paths": {"/a": {"get": {"parameters": [{"schema": {"$ref": "#small"}}]}}},
        "components": {"schemas": {"Small": small}},
    }
    ctx = SchemaContext("anchors", document)
    if "$anchor" in small:
        assert ctx._scoped  # its registry is built from the whole document
    else:
        assert ctx._referenced(None) is None
    check = ctx.validator({"$ref": "#/components/schemas/Small"}, for_request=True)
    assert check.is_valid(3) and not check.is_valid(4)


def test_one_validator_per_distinct_schema() -> None:
    ctx = SchemaContext("notes", ANNOTATED)
    first = ctx.validator({"$ref": "#/components/schemas/Author"}, for_request=True)
    again = ctx.validator({"$ref": "#/components/schemas/Author"}, for_request=True)
    other = ctx.validator({"$ref": "#/components/schemas/Far"}, for_request=True)
    assert first is again and first is not other
    assert ctx.validator({"$ref": "#/components/schemas/Author"}, for_request=False) is not first
    assert ctx.checker({"$ref": "#/components/schemas/Author"}) is not first


_TYPED = [
    {"type": "string", "example": "octocat", "description": "a login"},
    {"type": "integer"},
    {"type": "number", "readOnly": True},
    {"type": "boolean", "default": False},
    {"type": ["string", "null"]},
    {"type": "object", "title": "anything"},
    {"type": "array", "deprecated": True},
]
_VALUES = ["x", "", 0, 1, 1.0, 1.5, -3, True, False, None, {}, {"a": 1}, [], [1]]


@pytest.mark.parametrize("schema", _TYPED, ids=lambda s: str(s["type"]))
def test_a_type_only_check_agrees_with_the_validator(schema: dict[str, Any]) -> None:
    check = schemas.type_check(schema)
    assert check is not None
    validator = RequestValidator(schema)
    assert [check(v) for v in _VALUES] == [validator.is_valid(v) for v in _VALUES]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "format": "date"},
        {"type": "integer", "minimum": 1},
        {"type": "string", "x-time-window": "ms"},
        {"type": "nope"},
        {"type": []},
        {"example": 1},
        {"$ref": "#/components/schemas/X", "type": "object"},
    ],
)
def test_a_schema_with_more_than_a_type_gets_no_type_only_check(schema: dict[str, Any]) -> None:
    assert schemas.type_check(schema) is None


def _chain(length: int) -> dict[str, Any]:
    """A document whose schema S0 reaches S1 ... S{length - 1}, each an object."""
    schemas: dict[str, Any] = {}
    for i in range(length):
        properties: dict[str, Any] = {"n": {"type": "integer"}}
        if i + 1 < length:
            properties["next"] = {"$ref": f"#/components/schemas/S{i + 1}"}
        schemas[f"S{i}"] = {"type": "object", "required": ["n"], "properties": properties}
    return {"openapi": "3.1.0", "paths": {}, "components": {"schemas": schemas}}


@pytest.mark.parametrize(("length", "compiled"), [(10, True), (200, False)])
def test_a_check_of_what_the_mock_makes_compiles_only_what_reaches_few_schemas(
    length: int, compiled: bool
) -> None:
    """jsonschema-rs compiles, per validator, all that its refs reach: a schema reaching
    more than _FEW_REFS is judged by the `jsonschema` package, which compiles nothing,
    with the same verdicts."""
    ctx = SchemaContext("chain", _chain(length))
    schema = {"$ref": "#/components/schemas/S0"}
    with mock.patch.object(
        schemas.jsonschema_rs,
        "Draft202012Validator",
        wraps=schemas.jsonschema_rs.Draft202012Validator,
    ) as compile_schema:
        check = ctx.judge(schema)
    assert compile_schema.called is compiled
    assert check({"n": 1, "next": {"n": 2, "next": {"n": 3}}})
    assert not check({"n": 1, "next": {"n": "two"}})
    assert not check({"next": {"n": 2}})


def test_a_check_that_cannot_be_made_says_no() -> None:
    """The `jsonschema` package finds a pattern Python cannot compile only as it checks:
    the check says no, it does not raise into a generation."""
    ctx = SchemaContext("bad", _chain(2))
    check = ctx.judge({"type": "string", "pattern": "("}, now=True)
    assert check("x") is False
    assert ctx.judge({"type": "string", "pattern": "^x$"}, now=True)("x") is True
