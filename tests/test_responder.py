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


# -- answers.yaml: rejections, statuses, ranges, negotiation ---------------------------------
ANSWERS = Path(__file__).parent / "data" / "answers.yaml"


@pytest.fixture(scope="module")
def answers() -> FlaskClient:
    return create_app(Settings(specs=(ANSWERS,), fixtures=None)).test_client()


def test_a_documented_400_is_filled_from_the_violations(answers: FlaskClient) -> None:
    response = answers.get("/pets?limit=500")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == 400
    assert "'limit'" in body["message"] and "maximum of 100" in body["message"]
    assert body["errors"] == [{"field": "limit", "message": body["message"]}]
    assert response.headers["X-Mock-Violations"] == "query limit: maximum"


def test_without_400_or_422_a_4xx_range_answers_400(answers: FlaskClient) -> None:
    response = answers.post("/pets", json={"id": 0})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["status"] == "400"
    assert "'name'" in error["detail"] and "'id'" in error["detail"]
    assert response.headers["X-Mock-Violations"] == "body name: required; body id: minimum"


def test_then_default_answers_400(answers: FlaskClient) -> None:
    response = answers.get("/pets/0")
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 400 and "'id'" in body["detail"]


def test_422_wins_over_ranges_and_its_body_stays_valid(answers: FlaskClient) -> None:
    response = answers.delete("/pets/0")
    assert response.status_code == 422
    body = response.get_json()
    assert len(body["message"]) <= 12 and body["code"] in ("E1", "E2")


def test_an_error_response_with_only_an_example_answers_it(answers: FlaskClient) -> None:
    response = answers.post("/reports", json={})
    assert response.status_code == 422
    assert response.get_json() == {"message": "The report is not valid", "code": 42}


def test_nothing_documented_is_the_mock_s_400_journaled_with_its_operation(
    answers: FlaskClient,
) -> None:
    answers.delete("/__mock/requests")
    response = answers.post("/only-ok", json={})
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.headers["X-Mock-Violations"] == "body n: required"
    [entry] = answers.get("/__mock/requests").get_json()["requests"]
    assert entry["operationId"] == "onlyOk"
    assert [p["rule"] for p in entry["problems"]] == ["required"]


def test_missing_credentials_take_a_4xx_range_as_401(answers: FlaskClient) -> None:
    response = answers.get("/secure")
    assert response.status_code == 401
    body = response.get_json()
    assert body["code"] == 401 and "X-Api-Key" in body["message"]


def test_rejection_status_order() -> None:
    from mockserver.engine import Engine
    from mockserver.responder import rejection_status

    engine = Engine.from_paths([ANSWERS], None)
    ops = {op.operation_id: op for op in engine.operations}
    assert rejection_status(ops["listPets"], (400, 422)) == 400
    assert rejection_status(ops["deletePet"], (400, 422)) == 422
    assert rejection_status(ops["createPet"], (400, 422)) == 400  # from 4XX
    assert rejection_status(ops["getPet"], (400, 422)) == 400  # from default
    assert rejection_status(ops["onlyOk"], (400, 422)) is None
    assert rejection_status(ops["getSecure"], (401,)) == 401


def test_forced_statuses_reach_ranges_and_default(answers: FlaskClient) -> None:
    response = answers.post("/pets", json={"id": 1, "name": "a"}, headers={"X-Mock-Status": "404"})
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == "404"
    assert response.headers["X-Mock-Violations"] == "none"
    response = answers.get("/pets/3", headers={"X-Mock-Status": "503"})
    assert response.status_code == 503 and response.get_json()["status"] == 503
    assert answers.get("/pets/3", headers={"X-Mock-Status": "default"}).status_code == 500
    assert answers.post("/pets", json={}, headers={"X-Mock-Status": "4XX"}).status_code == 400
    refused = answers.post("/pets", json={}, headers={"X-Mock-Status": "503"})
    assert refused.status_code == 400
    assert refused.get_json()["valid"] == [201, "4XX"]


def test_a_forced_answer_lists_what_was_wrong(answers: FlaskClient) -> None:
    response = answers.get("/pets?limit=0", headers={"X-Mock-Status": "200"})
    assert response.status_code == 200
    assert response.headers["X-Mock-Violations"] == "query limit: minimum"


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/json"),
        ("application/xml", "application/xml"),
        ("application/json;q=0.5, application/xml", "application/xml"),
        ("text/*, application/*;q=0.1", "application/json"),
        ("*/*", "application/json"),
        ("application/xml;q=0, */*", "application/json"),
    ],
)
def test_accept_picks_the_documented_media_type(
    answers: FlaskClient, accept: str | None, media_type: str
) -> None:
    response = answers.get("/pets", headers={"Accept": accept} if accept else {})
    assert response.status_code == 200
    assert response.content_type == media_type


def test_problem_json_is_accepted_as_json(answers: FlaskClient) -> None:
    response = answers.get("/pets/0", headers={"Accept": "application/json"})
    assert response.content_type == "application/problem+json"


def test_nothing_acceptable_is_406_unless_forced(answers: FlaskClient) -> None:
    response = answers.get("/pets", headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert response.content_type == "application/problem+json"
    assert response.get_json()["accepted"] == ["application/json", "application/xml"]
    forced = answers.get("/pets", headers={"Accept": "text/html", "X-Mock-Status": "200"})
    assert forced.status_code == 200 and forced.content_type == "application/json"
    rejected = answers.get("/pets?limit=0", headers={"Accept": "text/html"})
    assert rejected.status_code == 400  # a rejection answers in its documented type


def test_template_substitution_is_one_pass(answers: FlaskClient) -> None:
    response = answers.get("/echo/%7Bstatus%7D")
    assert response.status_code == 400
    body = response.get_json()
    assert '"{status}"' in body["message"]  # the client's value, not "400"
    assert body["status"] == "400"
    assert fill_template("{message}", 400, "{slug} {request_id}", (), "r") == "{slug} {request_id}"
