"""rejections.py: error bodies filled from violations, and the X-Mock-Violations header."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from mockserver.rejections import MAX_HEADER, _kind, fill, header_value, sentence
from mockserver.validation import Violation

NAME = Violation("body", "name", "required", "body field 'name': 'name' is a required property")
LIMIT = Violation("query", "limit", "maximum", "query parameter 'limit': 500 is over 100")
BOTH = (NAME, LIMIT)


def validator(schema: dict[str, Any]) -> Any:
    return jsonschema.Draft202012Validator(schema).is_valid


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("message", "message"),
        ("errorMessage", "message"),
        ("error_description", "message"),
        ("detail", "message"),
        ("title", "message"),
        ("error", "message"),
        ("message_id", ""),
        ("code", "code"),
        ("errorCode", "code"),
        ("status", "code"),
        ("http_status", "code"),
        ("field", "field"),
        ("paramName", "field"),
        ("pointer", "field"),
        ("in", "location"),
        ("rule", "rule"),
        ("type", ""),
        ("", ""),
    ],
)
def test_a_field_s_name_says_what_it_holds(key: str, kind: str) -> None:
    assert _kind(key) == kind


def test_message_fields_carry_every_violation_and_code_fields_the_status() -> None:
    schema = {
        "type": "object",
        "properties": {
            "code": {"type": "integer"},
            "status": {"type": "string"},
            "message": {"type": "string"},
            "other": {"type": "string"},
        },
    }
    body = {"code": 7, "status": "x", "message": "lorem", "other": "ipsum"}
    filled = fill(body, 422, BOTH, validator(schema))
    assert filled == {"code": 422, "status": "422", "message": sentence(BOTH), "other": "ipsum"}
    assert body["message"] == "lorem"  # the generated body is not changed in place


def test_an_array_of_error_objects_gets_one_item_per_violation() -> None:
    item = {
        "type": "object",
        "required": ["field", "message", "in", "rule"],
        "properties": {f: {"type": "string"} for f in ("field", "message", "in", "rule")},
        "additionalProperties": False,
    }
    schema = {"type": "object", "properties": {"errors": {"type": "array", "items": item}}}
    body = {"errors": [{"field": "a", "message": "b", "in": "c", "rule": "d"}]}
    filled = fill(body, 400, BOTH, validator(schema))
    assert filled["errors"] == [
        {"field": "name", "message": NAME.message, "in": "body", "rule": "required"},
        {"field": "limit", "message": LIMIT.message, "in": "query", "rule": "maximum"},
    ]


def test_an_array_that_cannot_hold_every_violation_keeps_one() -> None:
    schema = {
        "type": "object",
        "properties": {
            "errors": {"type": "array", "maxItems": 1, "items": {"type": "object"}},
        },
    }
    filled = fill({"errors": [{"message": "x"}]}, 400, BOTH, validator(schema))
    assert filled == {"errors": [{"message": NAME.message}]}


def test_nested_error_objects_and_lists_of_strings_are_filled() -> None:
    body = {"error": {"status": 1, "details": ["a", "b", "c"], "reason": "r"}}
    filled = fill(body, 409, BOTH, None)
    assert filled == {
        "error": {"status": 409, "details": [NAME.message, LIMIT.message], "reason": "r"}
    }


def test_what_the_schema_refuses_is_not_written() -> None:
    schema = {
        "type": "object",
        "properties": {
            "message": {"type": "string", "maxLength": 12},
            "code": {"enum": ["E1", "E2"]},
            "title": {"type": "string"},
        },
    }
    body = {"message": "short", "code": "E1", "title": "t"}
    filled = fill(body, 400, BOTH, validator(schema))
    assert validator(schema)(filled)
    assert filled["code"] == "E1"  # "400" is not in the enum
    assert filled["title"] == sentence(BOTH)  # kept although the message field refused it
    assert filled["message"] == "Bad Request"  # the longest text that fits


def test_without_violations_only_codes_change() -> None:
    body = {"status": 500, "message": "generated", "errors": [{"message": "m"}]}
    assert fill(body, 503, (), None) == {
        "status": 503,
        "message": "generated",
        "errors": [{"message": "m"}],
    }


def test_scalars_and_booleans_are_left_alone() -> None:
    assert fill("text", 400, BOTH, None) == "text"
    assert fill({"status": True}, 400, BOTH, None) == {"status": True}


def test_the_header_lists_where_and_which_rule() -> None:
    assert header_value(BOTH) == "body name: required; query limit: maximum"
    assert header_value((Violation("body", "", "syntax", "not JSON"),)) == "body: syntax"
    assert header_value(()) == "none"


def test_the_header_is_visible_ascii_and_bounded() -> None:
    many = tuple(Violation("query", f"p€{i}\n", "type", "m") for i in range(200))
    value = header_value(many)
    assert len(value) <= MAX_HEADER
    assert all(0x20 <= ord(c) <= 0x7E for c in value)
    assert value.startswith("query p?0?: type; ")
    assert value.endswith("more)")
    shown = value.count(": type")
    assert f"... ({200 - shown} more)" in value
