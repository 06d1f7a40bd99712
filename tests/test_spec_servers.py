"""Base paths: servers[0]'s path, variables at their defaults, path and operation servers,
`--base-path`, and what `/__mock/apis` and `mockserver routes` show."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from mockserver.app import Settings, create_app
from mockserver.cli import main
from mockserver.engine import Engine
from mockserver.spec.servers import normalise_base_path, override, server_base_path
from tests.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[1]
SPECS = Path(__file__).parent / "data" / "base-paths"


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        ([{"url": "https://petstore3.swagger.io/api/v3"}], "/api/v3"),
        ([{"url": "https://api.example.com"}], ""),
        ([{"url": "https://api.example.com/"}], ""),
        ([{"url": "/api/v3/"}], "/api/v3"),
        ([{"url": "v1"}], "/v1"),  # relative to where the spec is: a path
        ([{"url": "/"}], ""),
        ([{"url": "."}], ""),
        ([{"url": "//cdn.example.com/static?x=1"}], "/static"),
        ([{"url": "http://localhost:8080/a%20b/c"}], "/a b/c"),
        (
            [
                {
                    "url": "{scheme}://{host}/{base}/v{major}",
                    "variables": {
                        "scheme": {"default": "https"},
                        "host": {"default": "x.io"},
                        "base": {"default": "api"},
                        "major": {"enum": ["2", "3"]},  # no default: the first choice
                    },
                }
            ],
            "/api/v2",
        ),
        ([{"url": "/{missing}/x"}], "/x"),
        ([{"url": "/first"}, {"url": "/second"}], "/first"),
        ([], ""),
        (None, ""),
        ("https://not-a-list/x", ""),
        ([{"description": "no url"}], ""),
    ],
)
def test_server_base_path(servers: object, expected: str) -> None:
    assert server_base_path(servers) == expected


def test_override_by_api_id_before_the_global_one() -> None:
    overrides = {"": "/all", "shop": "/shop/"}
    assert override(overrides, "shop") == "/shop"
    assert override(overrides, "plain") == "/all"
    assert override({}, "shop") is None
    assert override({"shop": "/"}, "shop") == ""
    assert normalise_base_path("api//v1/./") == "/api/v1"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_paths([SPECS], None)


def test_each_operation_is_served_under_its_servers_path(engine: Engine) -> None:
    served = {op.operation_id: op.served_path for op in engine.operations}
    assert served == {
        "getItem": "/v2/shop/items/{id}",  # the document's servers[0], variables defaulted
        "getStatus": "/ops/status",  # the path item's servers
        "reindex": "/internal/admin/reindex",  # the operation's own servers
        "deleteItem": "/items/{id}",  # `url: /`: the bare path
    }
    assert {api.api_id: api.base_path for api in engine.apis} == {"shop": "/v2/shop", "plain": ""}


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[FlaskClient]:
    yield create_app(Settings(specs=(SPECS,), fixtures=None), engine).test_client()


def test_the_prefixed_path_is_served_and_the_bare_one_names_it(client: FlaskClient) -> None:
    answer = client.get("/v2/shop/items/7")
    assert answer.status_code == 200
    assert answer.get_json()["id"] == "7"
    bare = client.get("/items/7")
    assert bare.status_code == 405  # plain's DELETE /items/{id} is there, not shop's GET
    missing = client.get("/status")
    assert missing.status_code == 404
    assert "'/ops/status'" in missing.get_json()["detail"]
    assert "base path" in missing.get_json()["detail"]
    assert client.post("/internal/admin/reindex").status_code == 202
    assert client.delete("/items/7").status_code == 204


def test_apis_lists_the_served_paths(client: FlaskClient) -> None:
    apis = {api["id"]: api for api in client.get("/__mock/apis").get_json()["apis"]}
    assert apis["shop"]["basePath"] == "/v2/shop"
    operations = {op["operationId"]: op for op in apis["shop"]["operations"]}
    assert operations["getItem"]["path"] == "/items/{id}"
    assert operations["getItem"]["servedPath"] == "/v2/shop/items/{id}"
    assert apis["plain"]["basePath"] == ""


def test_routes_prints_the_served_paths(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", str(SPECS)]) == 0
    out = capsys.readouterr().out
    assert "GET     /v2/shop/items/{id} " in out
    assert "POST    /internal/admin/reindex " in out
    assert main(["routes", str(SPECS), "--base-path", "shop=/v9", "--base-path", "/all"]) == 0
    out = capsys.readouterr().out
    assert "GET     /v9/items/{id} " in out  # the whole shop API, its own servers too
    assert "POST    /v9/admin/reindex " in out
    assert "DELETE  /all/items/{id} " in out


def test_base_path_slash_serves_the_bare_paths(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", str(SPECS), "--base-path", "/"]) == 0
    out = capsys.readouterr().out
    assert "GET     /items/{id} " in out and "GET     /status " in out


def test_two_specs_under_different_base_paths_share_a_bare_path(tmp_path: Path) -> None:
    for version in ("v1", "v2"):
        text = (
            (SPECS / "plain.yaml").read_text(encoding="utf-8").replace("url: /", f"url: /{version}")
        )
        (tmp_path / f"{version}.yaml").write_text(text, encoding="utf-8")
    engine = Engine.from_paths([tmp_path], None)
    assert sorted(op.served_path for op in engine.operations) == [
        "/v1/items/{id}",
        "/v2/items/{id}",
    ]
    with pytest.raises(Exception, match="also claimed"):
        Engine.from_paths([tmp_path], None, base_paths={"": "/same"})


@pytest.mark.parametrize("value", ["api", "shop=api"])
def test_a_base_path_must_start_with_a_slash(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["routes", str(SPECS), "--base-path", value])
    assert exited.value.code == 2
    assert "starts with '/'" in capsys.readouterr().err


def test_base_path_from_the_environment_exits_2_when_bad() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", str(SPECS), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "MOCKSERVER_BASE_PATH": "nope"},
    )
    assert done.returncode == 2
    assert "MOCKSERVER_BASE_PATH='nope' is not valid" in done.stderr


def test_served_under_the_override_through_a_real_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKSERVER_BASE_PATH", "shop=/mock/shop,plain=/mock/plain")
    server = LiveServer(str(SPECS), "--fixtures", str(SPECS / "none"))
    try:
        assert requests.get(f"{server.url}/mock/shop/items/a", timeout=10).status_code == 200
        assert requests.delete(f"{server.url}/mock/plain/items/a", timeout=10).status_code == 204
        assert requests.get(f"{server.url}/v2/shop/items/a", timeout=10).status_code == 404
    finally:
        assert server.stop() == 0
