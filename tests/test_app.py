"""The app as a whole: every method and path reaches the specs' routing; admin routes apart."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_a_method_flask_does_not_know_gets_the_specs_405(client: FlaskClient) -> None:
    response = client.open("/api/v1/events/query/", method="QUERY")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"  # HEAD with GET, and OPTIONS
    assert response.content_type == "application/problem+json"


def test_head_is_the_get_operation_without_a_body(client: FlaskClient) -> None:
    headers = {"X-Mock-Session": "head-app"}
    got = client.get("/api/v1/events/query/", headers=headers)
    response = client.head("/api/v1/events/query/", headers=headers)
    assert response.status_code == got.status_code
    assert response.data == b""
    assert response.headers["Content-Length"] == got.headers["Content-Length"]
    assert response.headers["Content-Type"] == got.headers["Content-Type"]


def test_a_newline_in_a_path_parameter_reaches_validation(client: FlaskClient) -> None:
    accepted = client.get("/api/v1/events/subscriptions/project/a%0Ab/")
    assert accepted.status_code == 200
    rejected = client.get("/event/abc%0A/events/x")
    assert rejected.status_code == 400
    assert rejected.json is not None and rejected.json["errors"][0]["name"] == "tenantLocator"


def test_unknown_admin_routes_list_the_real_ones(client: FlaskClient) -> None:
    response = client.post("/__mock/nowhere")
    assert response.status_code == 404
    assert response.json is not None
    assert "GET /__mock/requests" in response.json["detail"]


def test_faults_need_the_real_server(client: FlaskClient) -> None:
    response = client.get("/api/v1/events/query/", headers={"X-Mock-Fault": "reset"})
    assert response.status_code == 501
    assert "mockserver serve" in response.json["detail"]  # type: ignore[index]


def test_apis_lists_statuses_and_examples(client: FlaskClient) -> None:
    body = client.get("/__mock/apis").get_json()
    huawei = next(a for a in body["apis"] if a["id"] == "huawei-ces-events")
    (op,) = huawei["operations"]
    assert op["statuses"] == [201, 400, 401, 403, 408, 429, 500, 503]
    assert op["examples"]["201"] == ["created"]
    assert sum(len(a["operations"]) for a in body["apis"]) == 25
