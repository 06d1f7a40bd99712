"""cors.py: the policy and the headers it gives ordinary answers and preflights."""

from __future__ import annotations

import pytest

from mockserver.cors import CorsError, CorsPolicy, is_preflight

APP = "http://localhost:3000"


def test_parse_on_off_and_origin_lists() -> None:
    assert CorsPolicy.parse("on") == CorsPolicy()
    assert CorsPolicy.parse("OFF").enabled is False
    listed = CorsPolicy.parse(f"{APP}, https://app.example/")
    assert listed.origins == frozenset({APP, "https://app.example"})


@pytest.mark.parametrize("text", ["bogus", "ftp://x", "http://", "http://a/b", " , "])
def test_parse_refuses_what_is_not_an_origin(text: str) -> None:
    with pytest.raises(CorsError):
        CorsPolicy.parse(text)


def test_any_origin_is_echoed_with_credentials_and_no_origin_gets_a_star() -> None:
    policy = CorsPolicy()
    headers = dict(policy.answer_headers(APP, [("Content-Type", "x"), ("X-Total", "3")]))
    assert headers == {
        "Access-Control-Allow-Origin": APP,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
        "Access-Control-Expose-Headers": "X-Total",
    }
    assert dict(policy.answer_headers(None, [])) == {"Access-Control-Allow-Origin": "*"}


def test_an_origin_not_listed_gets_no_cors_header() -> None:
    policy = CorsPolicy.parse("https://app.example")
    assert policy.answer_headers(APP, []) == [("Vary", "Origin")]
    assert policy.answer_headers(None, []) == []
    assert dict(policy.answer_headers("https://app.example", []))[
        "Access-Control-Allow-Origin"
    ] == ("https://app.example")


def test_off_sends_nothing() -> None:
    assert CorsPolicy(enabled=False).answer_headers(APP, [("X-Total", "1")]) == []


def test_a_preflight_echoes_only_the_headers_the_operation_takes() -> None:
    headers = dict(
        CorsPolicy().preflight_headers(
            APP,
            ["GET", "HEAD", "OPTIONS"],
            "X-Request-Id, X-Unknown, content-type",
            {"x-request-id", "content-type"},
        )
    )
    assert headers["Access-Control-Allow-Origin"] == APP
    assert headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert headers["Access-Control-Allow-Headers"] == "X-Request-Id, content-type"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Max-Age"] == "600"


def test_a_preflight_with_any_header_allowed_echoes_all() -> None:
    headers = dict(CorsPolicy().preflight_headers(APP, ["GET"], "a, b", "*"))
    assert headers["Access-Control-Allow-Headers"] == "a, b"


def test_what_a_preflight_is() -> None:
    asked = {"origin": APP, "access-control-request-method": "PUT"}
    assert is_preflight("OPTIONS", asked)
    assert not is_preflight("GET", asked)
    assert not is_preflight("OPTIONS", {"origin": APP})


@pytest.mark.parametrize("origin", ["evil\x7f", "http://a/b", "x" * 300, "http://é.example"])
def test_only_an_origin_is_ever_echoed(origin: str) -> None:
    headers = dict(CorsPolicy().answer_headers(origin, []))
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers
    assert CorsPolicy.parse(APP).allowed_origin(origin) is None


def test_only_header_names_are_ever_echoed() -> None:
    headers = dict(CorsPolicy().preflight_headers(APP, ["GET"], "a b, ok, x\x00y, é", "*"))
    assert headers["Access-Control-Allow-Headers"] == "ok"
