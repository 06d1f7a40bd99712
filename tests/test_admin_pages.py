"""The admin API described and discoverable: `/__mock/`, `/__mock/openapi.json`, `/__mock/ui`."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from mockserver.admin.pages import ADMIN_METHODS, description
from mockserver.app import Settings, create_app
from mockserver.engine import Engine


def _real_admin_routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/__mock/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def _described_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ADMIN_METHODS
    }


def test_the_description_is_valid_openapi_3_1() -> None:
    document = description()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_admin_route_is_described_and_nothing_else(app: Flask) -> None:
    assert _described_routes(description()) == _real_admin_routes(app)


def test_the_index_lists_every_route_with_a_summary(client: FlaskClient) -> None:
    answer = client.get("/__mock/")
    assert answer.status_code == 200
    listed = answer.get_json()
    assert listed["openapi"] == "/__mock/openapi.json"
    assert listed["ui"] == "/__mock/ui"
    routes = {(r["method"], r["path"]) for r in listed["routes"]}
    assert routes == _described_routes(description())
    assert all(r["summary"] for r in listed["routes"])


def test_the_description_is_served_as_json(client: FlaskClient) -> None:
    answer = client.get("/__mock/openapi.json")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert answer.get_json()["paths"].keys() == description()["paths"].keys()


def test_the_dashboard_is_one_page_that_fetches_nothing_from_elsewhere(
    client: FlaskClient,
) -> None:
    answer = client.get("/__mock/ui")
    assert answer.status_code == 200
    assert answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert not re.search(r"(src|href)\s*=", page), "no external script, style or link"
    assert "http://" not in page and "https://" not in page
    assert "connect-src 'self'" in answer.headers["Content-Security-Policy"]
    # Values from requests are written as text, never parsed as HTML.
    assert "innerHTML" not in page


@pytest.fixture(scope="module")
def guarded(engine: Engine) -> FlaskClient:
    return create_app(Settings(admin_token="s3cret"), engine=engine).test_client()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_with_a_token_the_dashboard_asks_a_browser_for_basic_credentials(
    guarded: FlaskClient,
) -> None:
    answer = guarded.get("/__mock/ui")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="mockserver admin"'
    assert guarded.get("/__mock/ui", headers=_basic("anyone", "s3cret")).status_code == 200


def test_basic_credentials_carry_the_token_to_every_admin_route(guarded: FlaskClient) -> None:
    assert guarded.get("/__mock/requests", headers=_basic("me", "s3cret")).status_code == 200
    assert guarded.get("/__mock/requests", headers=_basic("me", "wrong")).status_code == 401
    assert guarded.get("/__mock/requests", headers=_basic("s3cret", "")).status_code == 401
    no_colon = {"Authorization": "Basic " + base64.b64encode(b"s3cret").decode()}
    assert guarded.get("/__mock/requests", headers=no_colon).status_code == 401
    not_base64 = {"Authorization": "Basic %%%"}
    assert guarded.get("/__mock/requests", headers=not_base64).status_code == 401
    other = guarded.get("/__mock/requests")
    assert other.headers["WWW-Authenticate"] == 'Bearer realm="mockserver admin"'


_schema = schemathesis.openapi.from_dict(
    description(),
    config=schemathesis.Config.from_dict(
        {
            "seed": 4010,
            "suppress-health-check": ["too_slow"],
            "generation": {
                "mode": "positive",
                "max-examples": 8,
                "deterministic": True,
                "database": "none",
            },
            # A scenario document's validity depends on the loaded specs (which operations
            # exist, which statuses and examples they document), which its JSON Schema
            # cannot say: a schema-valid document may rightly be refused with a 400.
            "operations": [
                {
                    "include-operation-id": "adminPutScenarios",
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                }
            ],
        }
    ),
)


@_schema.parametrize()
def test_the_admin_api_conforms_to_its_description(case: Any, app: Flask) -> None:
    case.call_and_validate(app=app)


def test_a_problem_quoting_lone_surrogates_is_still_utf8(client: FlaskClient) -> None:
    # Found by schemathesis on the admin API: a rule name with a lone surrogate, quoted
    # in the 400's detail, made rendering the problem fail (500).
    sent = b'{"scenarios": [{"name": "\\ud800", "match": {}}]}'
    answer = client.put(
        "/__mock/scenarios?session=surrogates", data=sent, content_type="application/json"
    )
    assert answer.status_code == 400
    assert "scenarios[0] (?)" in answer.get_data().decode("utf-8")
