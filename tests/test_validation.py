"""Validation: a pure function from request to findings, never raising for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mockserver.spec import Api, Operation, load_api
from mockserver.validation import MAX_VIOLATIONS, RequestRecord, check

MINI = Path(__file__).parent / "data" / "mini.yaml"


@pytest.fixture(scope="module")
def mini() -> Api:
    return load_api(MINI)


def op(api: Api, operation_id: str) -> Operation:
    return next(o for o in api.operations if o.operation_id == operation_id)


def get_thing(
    mini: Api,
    query: tuple[tuple[str, str], ...] = (),
    headers: dict[str, str] | None = None,
    thing_id: str = "5",
):
    request = RequestRecord(
        "GET",
        f"/things/{thing_id}",
        query,
        headers if headers is not None else {"x-trace": "ab12", "authorization": "Bearer t"},
    )
    return check(op(mini, "getThing"), request, {"id": thing_id})


def test_valid_request_decodes_by_style_and_type(mini: Api) -> None:
    checked = get_thing(
        mini, (("tags", "a"), ("tags", "b"), ("ids", "1,2,3"), ("flag", "true"), ("ratio", "2.5"))
    )
    assert checked.valid, checked.violations
    assert checked.params == {
        "id": 5,
        "tags": ["a", "b"],
        "ids": [1, 2, 3],
        "flag": True,
        "ratio": 2.5,
        "X-Trace": "ab12",
    }


@pytest.mark.parametrize(
    ("query", "name", "rule"),
    [
        ((("flag", "yes"),), "flag", "type"),
        ((("ratio", "nan"),), "ratio", "type"),
        ((("ids", "1,x"),), "ids", "type"),
        ((("flag", "true"), ("flag", "false")), "flag", "multiple"),
    ],
)
def test_query_values_of_the_wrong_type(mini: Api, query, name, rule) -> None:
    checked = get_thing(mini, query)
    assert [(v.location, v.name, v.rule) for v in checked.violations] == [("query", name, rule)]


def test_path_integer_and_minimum(mini: Api) -> None:
    assert [v.rule for v in get_thing(mini, thing_id="abc").violations] == ["type"]
    assert [v.rule for v in get_thing(mini, thing_id="0").violations] == ["minimum"]
    assert [v.rule for v in get_thing(mini, thing_id="99999999999").violations] == ["format"]


def test_required_header_and_header_pattern(mini: Api) -> None:
    missing = get_thing(mini, headers={"authorization": "Bearer t"})
    assert [(v.location, v.name, v.rule) for v in missing.violations] == [
        ("header", "X-Trace", "required")
    ]
    wrong = get_thing(mini, headers={"authorization": "Bearer t", "x-trace": "XYZ"})
    assert [(v.name, v.rule) for v in wrong.violations] == [("X-Trace", "pattern")]


def test_cookie_parameter(mini: Api) -> None:
    checked = get_thing(
        mini, headers={"authorization": "Bearer t", "x-trace": "a", "cookie": "session=x"}
    )
    assert [(v.location, v.name, v.rule) for v in checked.violations] == [
        ("cookie", "session", "minLength")
    ]


def test_security_alternatives(mini: Api) -> None:
    none = get_thing(mini, headers={"x-trace": "a"})
    assert [v.name for v in none.security] == ["Authorization"]
    by_query = get_thing(mini, (("api_key", "k"),), headers={"x-trace": "a"})
    assert by_query.security == ()


def post(mini: Api, body: bytes, content_type: str | None = "application/json"):
    headers = {"content-type": content_type} if content_type else {}
    return check(op(mini, "createThing"), RequestRecord("POST", "/things", (), headers, body), {})


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"", "required"),
        (b"{", "syntax"),
        (b"\xff\xfe{}", "encoding"),
        (b'{"name": "abc", "name": "abd"}', "syntax"),
        (b'{"name": NaN}', "syntax"),
        (b"[" * 100_000 + b"]" * 100_000, "depth"),
        (b'{"name": ' + b"9" * 5000 + b"}", "syntax"),
        (b'\xef\xbb\xbf{"name": "abc"}', "syntax"),
    ],
)
def test_bodies_that_cannot_be_read(mini: Api, body: bytes, rule: str) -> None:
    checked = post(mini, body)
    assert [(v.location, v.rule) for v in checked.violations] == [("body", rule)]


def test_messages_name_what_makes_a_body_unreadable(mini: Api) -> None:
    def message(body: bytes) -> str:
        (violation,) = post(mini, body).violations
        return violation.message

    assert "duplicate key 'name'" in message(b'{"name": "abc", "name": "abd"}')
    assert "NaN is not a JSON value" in message(b'{"name": NaN}')
    assert "byte order mark" in message(b'\xef\xbb\xbf{"name": "abc"}')
    assert "line 2, column 1" in message(b'{"name":\n}')


def test_content_type_missing_or_wrong(mini: Api) -> None:
    assert [v.rule for v in post(mini, b"{}", None).violations] == ["content-type"]
    wrong = post(mini, b"{}", "text/plain").violations
    assert [v.rule for v in wrong] == ["content-type"]
    assert "application/json" in wrong[0].message
    assert post(mini, b'{"name": "abc"}', "application/json; charset=utf-8").valid


def test_every_body_failure_is_reported_with_its_field(mini: Api) -> None:
    body = {"children": [{"name": "a"}, {"name": "toolong"}, {}]}
    found = {(v.name, v.rule) for v in post(mini, json.dumps(body).encode()).violations}
    assert found == {
        ("name", "required"),
        ("children[0].name", "minLength"),
        ("children[1].name", "maxLength"),
        ("children[2].name", "required"),
    }


def test_violations_are_capped(mini: Api) -> None:
    body = {"name": "abc", "children": [{"name": 1}] * (MAX_VIOLATIONS + 10)}
    violations = post(mini, json.dumps(body).encode()).violations
    assert len(violations) == MAX_VIOLATIONS + 1
    assert violations[-1].message == "and 10 more problems"


def test_long_values_are_clipped_in_messages(mini: Api) -> None:
    violations = post(mini, json.dumps({"name": "x" * 10_000}).encode()).violations
    assert len(violations) == 1 and len(violations[0].message) <= 300


def test_nesting_too_deep_for_the_schema_check(mini: Api) -> None:
    # Parses (under the JSON parser's own limit) but is too deep to walk with the schema.
    depth = 900
    body = '{"name": "abc", "children": [' + '{"name": "abc", "children": [' * depth
    body += "]}" * depth + "]}"
    violations = post(mini, body.encode()).violations
    assert [(v.location, v.rule) for v in violations] == [("body", "depth")]
