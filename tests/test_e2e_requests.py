"""Request rules and credentials end to end: `mockserver serve` on a purpose-written
spec (tests/data/requests.yaml), started with `--credential`, through a real socket."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, LiveServer

SPEC = Path(__file__).parent / "data" / "requests.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer(
        str(SPEC),
        "--workers",
        "1",
        "--credential",
        "token=s3cret",
        "--credential",
        "basic=ann:pw",
    )
    yield live
    assert live.stop() == 0


def last_problems(server: LiveServer) -> list[tuple[str, str]]:
    """(name, rule) of each problem the journal holds for the latest request."""
    latest = requests.get(f"{server.url}/__mock/requests", timeout=10).json()["requests"][-1]
    return [(p["name"], p["rule"]) for p in latest["problems"]]


def test_a_deep_object_search_is_decoded(server: LiveServer) -> None:
    ok = requests.get(f"{server.url}/search?filter[color]=red&filter[size]=3&ids=1,2", timeout=10)
    assert ok.status_code == 200, ok.text
    bad = requests.get(f"{server.url}/search?filter[color]=green", timeout=10)
    assert bad.status_code == 400, bad.text
    assert last_problems(server) == [("filter.color", "enum")]


def test_a_multipart_upload_missing_its_required_file(server: LiveServer) -> None:
    missing = requests.post(f"{server.url}/uploads", files={"title": (None, "t")}, timeout=10)
    assert missing.status_code == 400, missing.text
    assert last_problems(server) == [("file", "required")]
    upload = requests.post(
        f"{server.url}/uploads",
        files={"title": (None, "t"), "file": ("a.png", b"\x89PNG", "image/png")},
        timeout=10,
    )
    assert upload.status_code == 201, upload.text


def test_a_wrong_bearer_is_refused_when_a_credential_is_configured(server: LiveServer) -> None:
    wrong = requests.get(
        f"{server.url}/private", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="requests"'
    right = requests.get(
        f"{server.url}/private", headers={"Authorization": "bearer s3cret"}, timeout=10
    )
    assert right.status_code == 200, right.text


def test_basic_without_a_colon_is_refused(server: LiveServer) -> None:
    no_colon = base64.b64encode(b"annpw").decode()
    refused = requests.get(
        f"{server.url}/either", headers={"Authorization": f"Basic {no_colon}"}, timeout=10
    )
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('Basic realm="requests"')
    accepted = requests.get(f"{server.url}/either", auth=("ann", "pw"), timeout=10)
    assert accepted.status_code == 200, accepted.text


def test_an_unknown_credential_scheme_stops_start_up_with_exit_2() -> None:
    env = {**os.environ, "MOCKSERVER_CREDENTIALS": "token=a,nope=b"}
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", str(SPEC), "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "'nope'" in result.stderr and "basic, jwt, key, oauth, queryKey" in result.stderr
