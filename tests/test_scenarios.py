"""scenarios: documents parsed with bounds, checked against the operations, compiled."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver.engine import Engine
from mockserver.scenarios import (
    FRAMING_HEADERS,
    ScenarioError,
    Scenarios,
    compile_document,
    contains,
    parse_document,
)
from mockserver.validation import RequestRecord
from tests.conftest import ROOT
from tests.test_yamlsafe import alias_bomb

TENANT = "3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b"


def compiled(engine: Engine, text: str) -> Scenarios:
    return compile_document(parse_document(text), engine.operations, engine.fixtures)


def refused(engine: Engine, text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        compiled(engine, text)
    return str(caught.value)


def rule_for(respond: str, match: str = "{operationId: queryEvents}") -> str:
    return f"scenarios:\n  - match: {match}\n    respond: {respond}\n"


# -- the document: bounded, only known keys, stored as compiled (issue 15 H1, L3) ---------
def test_the_alias_bomb_is_refused_while_parsing() -> None:
    with pytest.raises(ScenarioError, match="expands to more than"):
        parse_document(alias_bomb())


def test_unknown_top_level_keys_are_refused(engine: Engine) -> None:
    message = refused(engine, "scenarios: []\nx: {a: 1}\n")
    assert "unknown top-level keys ['x']" in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("scenarios:\n" + "  " + "[" * 1200 + "]" * 1200 + "\n", "nest"),
        ("scenarios: !!binary aGVsbG8=\n", "!!binary"),
        ("scenarios: !!set {a, b}\n", "!!set"),
        (rule_for("{status: 400, headers: {X-A: .nan}}"), "not a finite number"),
        ("scenarios: [" + "x" * 1_100_000 + "]", "the limit is 1048576"),
    ],
    ids=["deep", "binary", "set", "nan", "size"],
)
def test_documents_json_cannot_hold_are_refused(text: str, says: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_document(text)
    assert says in str(caught.value)


def test_a_date_is_text_and_refused_where_a_number_is_due(engine: Engine) -> None:
    assert "`status` is a whole number" in refused(engine, rule_for("{status: 2024-01-31}"))
    rules = compiled(
        engine,
        "scenarios:\n  - name: 2024-01-31\n"
        "    match: {operationId: queryEvents}\n    respond: {}\n",
    )
    assert rules.rules[0].name == "2024-01-31"
    json.dumps(rules.document)


def test_the_stored_document_holds_only_what_was_checked(engine: Engine) -> None:
    text = """
scenarios:
  - name: once
    match: {operationId: queryEvents, headers: {X-Tenant: acme}, query: {page_size: 5}}
    times: 1
    respond: {status: 400, headers: {Retry-After: 1}, delay: 0, dynamic: false}
"""
    document = compiled(engine, text).document
    assert document == {
        "scenarios": [
            {
                "name": "once",
                "match": {
                    "operationId": "queryEvents",
                    "headers": {"x-tenant": "acme"},
                    "query": {"page_size": "5"},
                },
                "respond": {"status": 400, "headers": {"Retry-After": "1"}},
                "times": 1,
            }
        ]
    }
    again = compile_document(document, engine.operations, engine.fixtures)
    assert again.document == document
    assert again.rules == compiled(engine, text).rules


# -- statuses (M3) -----------------------------------------------------------------------
@pytest.mark.parametrize("status", ["400.0", "true", "'400'", "99", "1e3"])
def test_a_status_is_an_integer_by_type(engine: Engine, status: str) -> None:
    assert "`status` is a whole number from 100 to 599" in refused(
        engine, rule_for(f"{{status: {status}}}")
    )


def test_an_undocumented_status_lists_the_documented_ones(engine: Engine) -> None:
    assert "documented: 200, 400" in refused(engine, rule_for("{status: 503}"))


# -- answer headers (M2) -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ('{X-Price: "5 €"}', "visible ASCII"),
        ('{X-Ctl: "a\\x01b"}', "visible ASCII"),
        ('{X-Line: "a\\r\\nb"}', "visible ASCII"),
        ('{X-Lead: " a"}', "visible ASCII"),
        ('{"Ünicode": a}', "not a token"),
        ('{"a b": c}', "not a token"),
        ("{Content-Length: 5}", "Content-Length frames the message"),
        ("{Transfer-Encoding: chunked}", "Transfer-Encoding frames the message"),
        ("{connection: close}", "connection frames the message"),
        ("{Upgrade: h2c}", "Upgrade frames the message"),
        ("{X-A: 1, x-a: 2}", "given twice"),
        ("{X-A: [1]}", "text or a number"),
        ("[Retry-After]", "a mapping"),
    ],
)
def test_answer_headers_are_checked_at_load(engine: Engine, headers: str, says: str) -> None:
    assert says in refused(engine, rule_for(f"{{status: 400, headers: {headers}}}"))


def test_framing_headers_named_in_the_message(engine: Engine) -> None:
    message = refused(engine, rule_for("{headers: {Keep-Alive: 5}}"))
    assert all(name in message for name in FRAMING_HEADERS)


def test_good_answer_headers_are_kept_as_text(engine: Engine) -> None:
    rules = compiled(engine, rule_for("{headers: {Retry-After: 1, X-Ok: true, X-Q: 'a b\tc'}}"))
    assert rules.rules[0].answers[0].headers == (
        ("Retry-After", "1"),
        ("X-Ok", "true"),
        ("X-Q", "a b\tc"),
    )


# -- richer scenarios: bodies, params, query, request bodies (issue 18 item 6) -------------
def test_an_answer_body_is_checked_against_the_response_schema(engine: Engine) -> None:
    message = refused(engine, rule_for("{body: {locator: x}}", "{operationId: fetchEvent}"))
    assert "does not match the 200 response schema of fetchEvent" in message
    assert "'userLocator' is a required property" in message and "validate: false" in message
    loose = compiled(
        engine, rule_for("{body: {locator: x}, validate: false}", "{operationId: fetchEvent}")
    )
    answer = loose.rules[0].answers[0]
    assert (answer.body, answer.body_status) == ({"locator": "x"}, 200)


def test_an_answer_body_for_the_status_given(engine: Engine) -> None:
    body = {"code": "APIGW.0301", "message": "nope"}
    rules = compiled(
        engine, rule_for(f"{{status: 400, body: {json.dumps(body)}, validate: false}}")
    )
    assert rules.rules[0].answers[0].body_status == 400


def test_a_body_where_none_is_documented_is_refused(engine: Engine) -> None:
    message = refused(engine, rule_for("{body: {a: 1}}", "{operationId: createEvent}"))
    assert "status 200 of createEvent documents no body" in message


@pytest.mark.parametrize(
    ("respond", "says"),
    [
        ("{body: {}, example: eventsPage}", "not several"),
        ("{body: {}, dynamic: true}", "not several"),
        ("{validate: false}", "`validate` goes with a `body`"),
        ("{body: {}, validate: no-thanks}", "`validate` is true or false"),
        ("{example: 7}", "`example` is the name"),
    ],
)
def test_body_options_are_checked(engine: Engine, respond: str, says: str) -> None:
    assert says in refused(engine, rule_for(respond))


def test_params_must_be_path_parameters_of_the_operation(engine: Engine) -> None:
    message = refused(engine, rule_for("{}", "{operationId: fetchEvent, params: {nope: 1}}"))
    assert "has no path parameter 'nope'" in message
    assert "tenantLocator, locator" in message or "locator, tenantLocator" in message


def record(
    path: str = "/", query: tuple[tuple[str, str], ...] = (), body: bytes = b""
) -> RequestRecord:
    return RequestRecord("GET", path, query, {"x-tenant": "acme"}, body)


def test_rules_match_params_query_headers_and_body(engine: Engine) -> None:
    text = """
scenarios:
  - match:
      operationId: fetchEvent
      params: {locator: abc}
      query: {tag: [a, b], page: 2}
      headers: {X-Tenant: acme}
      body: {type: {name: x}, list: [1, true]}
    respond: {status: 400}
"""
    rule = compiled(engine, text).rules[0]
    op = next(o for o in engine.operations if o.operation_id == "fetchEvent")
    params = {"tenantLocator": TENANT, "locator": "abc"}
    query = (("tag", "a"), ("tag", "b"), ("page", "1"), ("page", "2"))
    body = json.dumps({"type": {"name": "x", "more": 1}, "list": [1, True], "z": 0}).encode()
    assert rule.matches(op, record(query=query, body=body), params)
    assert not rule.matches(op, record(query=query, body=body), {**params, "locator": "abd"})
    assert not rule.matches(op, record(query=query[1:], body=body), params)
    assert not rule.matches(op, record(query=query, body=b'{"type": {"name": "y"}}'), params)
    assert not rule.matches(op, record(query=query, body=b"not json"), params)
    assert not rule.matches(op, record(query=query, body=body.replace(b"true", b"1")), params)


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": [1, 2]}, {"a": [1]}, False),
        ({"a": 1}, {"a": True}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": 1.0}, {"a": 1}, True),
        ({"a": "1"}, {"a": 1}, False),
        ([{"a": 1, "b": 1}], [{"a": 1}], True),
        (None, None, True),
        ({}, {"a": None}, False),
    ],
)
def test_contains(actual: Any, expected: Any, result: bool) -> None:
    assert contains(actual, expected) is result


def test_load_errors_name_only_paths_of_the_loaded_specs(engine: Engine) -> None:
    socotra = tuple(o for o in engine.operations if o.api == "socotra-events")
    document = parse_document(rule_for("{}", "{method: GET, path: /nope}"))
    with pytest.raises(ScenarioError) as caught:
        compile_document(document, socotra, engine.fixtures)
    message = str(caught.value)
    assert "/event/{tenantLocator}/events/list" in message
    assert "/V1.0" not in message and "/api/v1" not in message


def test_a_path_documented_for_another_method_says_so(engine: Engine) -> None:
    message = refused(engine, rule_for("{}", "{method: POST, path: /api/v1/events/query/}"))
    assert "/api/v1/events/query/ is documented for GET" in message


def test_the_readme_example_loads(engine: Engine) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Scripted scenarios", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert len(compiled(engine, example).rules) == 5
