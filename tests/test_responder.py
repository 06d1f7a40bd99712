"""The precedence rules, on a small spec that documents 422 and a body-less 401."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from mockserver.app import Settings, create_app
from mockserver.responder import fill_template
from mockserver.validation import Violation

MINI = Path(__file__).parent / "data" / "mini.yaml"


@pytest.fixture(scope="module")
def mini() -> FlaskClient:
    return create_app(Settings(specs=(MINI,), fixtures=None)).test_client()


def test_invalid_request_gets_the_documented_422_with_every_violation(mini: FlaskClient) -> None:
    response = mini.get("/things/0?flag=yes", headers={"Authorization": "Bearer t"})
    assert response.status_code == 422
    problems = response.get_json()["problems"]
    assert {(p["in"], p["name"], p["rule"]) for p in problems} == {
        ("path", "id", "minimum"),
        ("query", "flag", "type"),
        ("header", "X-Trace", "required"),
    }


def test_missing_credentials_win_over_other_violations(mini: FlaskClient) -> None:
    response = mini.get("/things/0")
    assert response.status_code == 401
    assert response.data == b"" and "Content-Type" not in response.headers


def test_no_documented_error_status_is_a_problem_listing_violations(mini: FlaskClient) -> None:
    response = mini.post("/things", json={"name": "x"})
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert "documents no 400, 422, 4XX or default response" in body["detail"]
    assert body["violations"][0]["name"] == "name"


def test_success_is_generated_and_valid(mini: FlaskClient) -> None:
    response = mini.post("/things", json={"name": "abcd"})
    assert response.status_code == 201
    assert response.get_json()["name"] == "abcd"  # echoed from the body


def test_template_placeholders() -> None:
    violation = Violation("body", "a", "required", "body field 'a' is required")
    filled = fill_template(
        {
            "m": "{message}",
            "s": "{status}",
            "k": "{slug}",
            "i": "{request_id}",
            "all": "{violations}",
            "n": [1, True, None],
        },
        404,
        "msg",
        (violation,),
        "abc",
    )
    assert filled == {
        "m": "msg",
        "s": "404",
        "k": "not_found",
        "i": "abc",
        "all": [violation.as_dict()],
        "n": [1, True, None],
    }
    assert json.dumps(fill_template("Request error: {message}", 400, "x", (), "r")) == (
        '"Request error: x"'
    )
