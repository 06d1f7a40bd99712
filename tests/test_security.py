"""Security schemes checked for what they are (mockserver/security.py), through `check`."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mockserver.security import CredentialError, check_expected, parse_credentials
from mockserver.spec import Api, Operation, load_api
from mockserver.validation import Checked, RequestRecord, check

SPEC = Path(__file__).parent / "data" / "requests.yaml"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.fixture(scope="module")
def api() -> Api:
    return load_api(SPEC)


def op(api: Api, operation_id: str) -> Operation:
    return next(o for o in api.operations if o.operation_id == operation_id)


def call(
    api: Api,
    operation_id: str,
    headers: dict[str, str] | None = None,
    query: tuple[tuple[str, str], ...] = (),
    credentials: tuple[str, ...] = (),
) -> Checked:
    record = RequestRecord("GET", "/", query, headers or {})
    return check(op(api, operation_id), record, {}, parse_credentials(credentials))


def unmet(checked: Checked) -> list[str]:
    return [v.rule for v in checked.security]


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("authorization", "rule"),
    [
        (None, "security"),
        ("Basic dXNlcjpwYXNz", "auth-scheme"),
        ("Bearer ", "format"),
        ("Bearer", "format"),
        ("xyz", "auth-scheme"),
        ("Bearer a b", "format"),
    ],
)
def test_bearer_needs_the_bearer_scheme_and_a_token(
    api: Api, authorization: str | None, rule: str
) -> None:
    headers = {"authorization": authorization} if authorization is not None else {}
    assert unmet(call(api, "private", headers)) == [rule]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_name_is_case_insensitive(api: Api, scheme: str) -> None:
    assert call(api, "private", {"authorization": f"{scheme} abc.def-1~"}).valid


def test_jwt_bearer_format_means_three_base64url_parts(api: Api) -> None:
    assert call(api, "jwtOnly", {"authorization": f"Bearer {JWT}"}).valid
    for token in ("abc", "a.b", "a..c", "a.b.c.d", "a+b.c.d"):
        assert unmet(call(api, "jwtOnly", {"authorization": f"Bearer {token}"})) == ["format"]


def test_basic_is_base64_of_user_colon_password(api: Api) -> None:
    assert call(api, "either", {"authorization": basic("ann:secret")}).valid
    no_colon = call(api, "either", {"authorization": basic("annsecret")})
    assert unmet(no_colon) == ["format"]
    assert "user:password" in no_colon.security[0].message
    assert unmet(call(api, "either", {"authorization": "Basic %%%"})) == ["format"]


def test_alternatives_and_combinations(api: Api) -> None:
    # [{basic}, {key AND sessionKey}]: the key alone is not enough, with the cookie it is
    key_only = call(api, "either", {"x-api-key": "k"})
    assert [v.name for v in key_only.security] == ["sid"]
    assert call(api, "either", {"x-api-key": "k", "cookie": "sid=s1"}).valid


def test_oauth2_is_a_bearer_and_a_query_key_is_an_alternative(api: Api) -> None:
    assert call(api, "oauthOnly", {"authorization": "Bearer t"}).valid
    assert call(api, "oauthOnly", query=(("api_key", "k"),)).valid
    assert unmet(call(api, "oauthOnly", query=(("api_key", ""),))) == ["security"]


def test_operation_security_empty_overrides_the_global_requirement(api: Api) -> None:
    assert call(api, "search").valid
    assert unmet(call(api, "private")) == ["security"]


def test_a_configured_credential_is_the_only_one_that_passes(api: Api) -> None:
    configured = ("token=right", "basic=ann:secret", "key=k1")
    assert call(api, "private", {"authorization": "Bearer right"}, credentials=configured).valid
    wrong = call(api, "private", {"authorization": "Bearer wrong"}, credentials=configured)
    assert unmet(wrong) == ["credential"]
    assert call(api, "either", {"authorization": basic("ann:secret")}, credentials=configured).valid
    assert unmet(
        call(api, "either", {"authorization": basic("ann:other")}, credentials=configured)
    ) == ["credential"]
    # a scheme without a configured value still takes any well-formed credential
    assert call(
        api, "either", {"x-api-key": "k1", "cookie": "sid=any"}, credentials=configured
    ).valid


def test_challenges_name_every_acceptable_scheme(api: Api) -> None:
    assert op(api, "private").challenge == 'Bearer realm="requests"'
    assert op(api, "either").challenge == (
        'Basic realm="requests", charset="UTF-8", '
        'ApiKey realm="requests", in="header", name="X-Api-Key", '
        'ApiKey realm="requests", in="cookie", name="sid"'
    )


def test_unknown_or_malformed_credentials_are_refused() -> None:
    api = load_api(SPEC)
    with pytest.raises(CredentialError, match=r"'nope'.*basic, jwt, key, oauth"):
        check_expected(parse_credentials(["nope=x"]), api.operations)
    with pytest.raises(CredentialError, match="SCHEME=VALUE"):
        parse_credentials(["novalue"])
    assert parse_credentials(["key=a=b", "key=c"]) == {"key": frozenset({"a=b", "c"})}
