"""Parameters decoded by style, explode and type (mockserver/params/), through `check`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from mockserver.params.scalars import kind_of
from mockserver.spec import Api, Operation, load_api
from mockserver.validation import Checked, RequestRecord, check

SPEC = Path(__file__).parent / "data" / "requests.yaml"


@pytest.fixture(scope="module")
def api() -> Api:
    return load_api(SPEC)


def op(api: Api, operation_id: str) -> Operation:
    return next(o for o in api.operations if o.operation_id == operation_id)


def search(api: Api, raw_query: str, cookie: str | None = None) -> Checked:
    from mockserver.gateway import parse_query

    headers = {"cookie": cookie} if cookie else {}
    record = RequestRecord("GET", "/search", parse_query(raw_query), headers, raw_query=raw_query)
    return check(op(api, "search"), record, {})


def rules(checked: Checked) -> list[tuple[str, str]]:
    return [(v.name, v.rule) for v in checked.violations]


def test_deep_object_is_decoded_and_typed(api: Api) -> None:
    checked = search(api, "filter%5Bcolor%5D=red&filter[size]=3")
    assert checked.valid, checked.violations
    assert checked.params["filter"] == {"color": "red", "size": 3}


def test_deep_object_violations_name_the_property(api: Api) -> None:
    checked = search(api, "filter[color]=green&filter[size]=x")
    assert rules(checked) == [("filter", "type")]
    assert "property 'size'" in checked.violations[0].message
    missing = search(api, "filter[size]=3")
    assert rules(missing) == [("filter.color", "required")]


@pytest.mark.parametrize(
    ("query", "name", "value"),
    [
        ("tags=a|b|c", "tags", ["a", "b", "c"]),
        ("words=a%20b", "words", ["a", "b"]),
        ("ids=1,2,3", "ids", [1, 2, 3]),
        ("point=x,1,y,2", "point", {"x": 1, "y": 2}),
        ("page=7", "page", 7),
        ("loose=", "loose", None),
        ("json=%7B%22a%22%3A1%7D", "json", {"a": 1}),
    ],
)
def test_query_styles(api: Api, query: str, name: str, value: object) -> None:
    checked = search(api, query)
    assert checked.valid, checked.violations
    assert checked.params.get(name) == value


@pytest.mark.parametrize(
    ("query", "name", "rule"),
    [
        ("page=%D9%A3", "page", "type"),  # ARABIC-INDIC DIGIT THREE
        ("page=%EF%BC%95", "page", "type"),  # FULLWIDTH DIGIT FIVE
        ("page=0", "page", "minimum"),
        ("page=1&page=2", "page", "multiple"),
        ("point=x,1,y", "point", "style"),
        ("strict=", "strict", "allowEmptyValue"),
        ("json=%7B%7D", "json.a", "required"),
        ("json=nope", "json", "syntax"),
        ("ids=1,x", "ids", "type"),
    ],
)
def test_query_values_that_break_a_rule(api: Api, query: str, name: str, rule: str) -> None:
    assert rules(search(api, query)) == [(name, rule)]


def test_reserved_characters_must_be_percent_encoded_unless_allowed(api: Api) -> None:
    raw = search(api, "q=a/b")
    assert rules(raw) == [("q", "allowReserved")]
    assert "'/'" in raw.violations[0].message and "%2F" in raw.violations[0].message
    assert search(api, "q=" + quote("a/b:c?d", safe="")).valid
    assert search(api, "url=https://example.com/a?b").valid  # allowReserved: true
    assert search(api, "ids=1,2").valid  # the style's own delimiter
    assert search(api, "q=a+b").params["q"] == "a b"  # `+` is a space, not reserved


def test_cookie_parameters(api: Api) -> None:
    checked = search(api, "", cookie='theme="dark"; prefs=1,2')
    assert checked.valid, checked.violations
    assert checked.params["theme"] == "dark"
    assert checked.params["prefs"] == [1, 2]
    assert rules(search(api, "", cookie="theme=blue")) == [("theme", "enum")]


def path_check(api: Api, operation_id: str, value: str, headers: dict[str, str] | None = None):
    return check(op(api, operation_id), RequestRecord("GET", "/", (), headers or {}), value)


def test_matrix_label_and_header_styles(api: Api) -> None:
    box = path_check(api, "getBox", {"box": ";w=3;h=4"})
    assert box.valid, box.violations
    assert box.params["box"] == {"w": 3, "h": 4}
    color = path_check(api, "getColor", {"rgb": ".1,2,3"}, {"x-dims": "w=5"})
    assert color.valid, color.violations
    assert color.params == {"rgb": [1, 2, 3], "X-Dims": {"w": 5}}
    pair = path_check(api, "getPair", {"p": ";p=a,b"})
    assert pair.params["p"] == ["a", "b"]


def test_path_styles_split_as_sent_then_decode(api: Api) -> None:
    """An escaped delimiter is data: `;p=a%2Cb,c` is ["a,b", "c"], not three items."""
    pair = check(
        op(api, "getPair"),
        RequestRecord("GET", "/pairs/;p=a,b,c"),
        {"p": ";p=a,b,c"},
        raw_path_params={"p": ";p=a%2Cb,c"},
    )
    assert pair.valid, pair.violations
    assert pair.params["p"] == ["a,b", "c"]
    box = check(
        op(api, "getBox"),
        RequestRecord("GET", "/boxes/;w=3;h=4"),
        {"box": ";w=3;h=4"},
        raw_path_params={"box": "%3Bw=3;h=4"},
    )
    assert [v.rule for v in box.violations] == ["style"]  # the leading ';' is escaped


def test_path_styles_that_are_not_followed(api: Api) -> None:
    assert [v.rule for v in path_check(api, "getColor", {"rgb": "1,2"}).violations] == ["style"]
    assert [v.rule for v in path_check(api, "getPair", {"p": ";q=a"}).violations] == ["style"]
    assert [v.rule for v in path_check(api, "getBox", {"box": ";w"}).violations] == ["style"]


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": "integer"}, "integer"),
        ({"type": ["null", "integer"]}, "integer"),
        ({"type": ["string", "integer"], "items": {}}, "array"),  # no one type: keywords say
        ({"additionalProperties": {"type": "string"}}, "object"),  # a map
        ({"properties": {"a": {}}}, "object"),
        ({"items": {"type": "integer"}}, "array"),
        ({}, "string"),
        (True, "string"),
    ],
)
def test_the_kind_text_is_decoded_as_is_one_rule_for_parameters_and_form_fields(
    schema: Any, kind: str
) -> None:
    assert kind_of(schema) == kind
