"""Hot reload: the files a version is made of, the watcher, and a real server reloading
on SIGHUP and on `--watch`, with several workers, a request in flight and a broken edit."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver import reload
from tests.conftest import LiveServer

SPEC = """\
openapi: 3.1.0
info: {title: Reloaded, version: "1"}
paths:
  /pets:
    get:
      operationId: listPets
      responses:
        "200":
          description: the pets
          content:
            application/json:
              schema: {type: array, minItems: 2, maxItems: 2, items: {type: string}}
"""
EXTRA = """\
  /owners:
    get:
      operationId: listOwners
      responses:
        "200":
          description: the owners
          content:
            application/json:
              schema: {type: array, maxItems: 2, items: {type: string}}
"""


V2 = SPEC.replace("minItems: 2, maxItems: 2", "maxItems: 0") + EXTRA


def test_signature_and_version_follow_the_files(tmp_path: Path) -> None:
    spec = tmp_path / "specs" / "api.yaml"
    spec.parent.mkdir()
    spec.write_text(SPEC)
    first = (reload.signature([spec.parent]), reload.version([spec.parent, None]))
    assert first == (reload.signature([spec.parent]), reload.version([spec.parent]))
    (spec.parent / "shared.yaml").write_text("x: 1\n")  # a file a spec may refer to
    assert reload.signature([spec.parent]) != first[0]
    assert reload.version([spec.parent]) != first[1]


def test_the_watcher_fires_once_a_change_has_settled(tmp_path: Path) -> None:
    spec = tmp_path / "api.yaml"
    spec.write_text(SPEC)
    watcher = reload.Watcher([spec, None], changed=lambda: None)
    assert not watcher.look()  # nothing changed
    spec.write_text(SPEC + "# edited\n")
    assert not watcher.look()  # changed: wait one more look, the editor may not be done
    spec.write_text(SPEC + "# edited twice\n")
    assert not watcher.look()  # still changing
    assert watcher.look()  # settled: reload
    assert not watcher.look()  # and only once
    spec.unlink()
    assert not watcher.look()
    assert watcher.look()  # a removed file is a change too


def _get(url: str, **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _version(server: LiveServer) -> str:
    status, health = _get(server.url + "/__mock/health")
    assert status == 200
    return str(health["version"])


def _until(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Wait for a condition the server makes true (a reload is asynchronous by nature)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "api.yaml").write_text(SPEC)
    return folder


@pytest.fixture
def hup_server(spec_dir: Path) -> Iterator[LiveServer]:
    server = LiveServer(str(spec_dir), "--workers", "2")
    yield server
    assert server.stop() == 0


def test_sighup_serves_the_new_spec_and_finishes_requests_in_flight(
    hup_server: LiveServer, spec_dir: Path
) -> None:
    before = _version(hup_server)
    assert _get(hup_server.url + "/owners")[0] == 404
    host, port = hup_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        # A kept-alive connection that a worker has answered once holds the delayed request
        # below: it is in that worker before the master has even started building the new
        # version (which it does before it stops any worker).
        connection.request("GET", "/pets")
        assert len(json.loads(connection.getresponse().read())) == 2
        connection.request("GET", "/pets", headers={"X-Mock-Delay": "1500"})
        (spec_dir / "api.yaml").write_text(V2)
        os.kill(hup_server.process.pid, signal.SIGHUP)
        answer = connection.getresponse()
        assert answer.status == 200
        assert len(json.loads(answer.read())) == 2, "answered by the old version"
    finally:
        connection.close()
    _until(lambda: _version(hup_server) != before, "the new version")
    # Every worker now serves the new version (connections land on either).
    for _ in range(6):
        assert _get(hup_server.url + "/owners")[0] == 200
        assert _get(hup_server.url + "/pets") == (200, [])


def test_a_broken_edit_keeps_the_old_version_serving(
    hup_server: LiveServer, spec_dir: Path
) -> None:
    before = _version(hup_server)
    # Not YAML at all: the one kind of edit the lenient loader cannot serve.
    (spec_dir / "api.yaml").write_text(SPEC.replace("paths:", "paths: [unclosed"))
    os.kill(hup_server.process.pid, signal.SIGHUP)
    _until(lambda: "reload refused" in hup_server.output(), "the refusal in the log")
    refusal = [line for line in hup_server.output().splitlines() if "reload refused" in line]
    assert len(refusal) == 1
    assert "api.yaml" in refusal[0]
    assert _version(hup_server) == before
    assert _get(hup_server.url + "/pets")[0] == 200


def test_watch_reloads_specs_fixtures_and_scenarios_on_change(spec_dir: Path) -> None:
    scenarios = spec_dir.parent / "scenarios.yaml"
    scenarios.write_text("scenarios: []\n")
    server = LiveServer(str(spec_dir), "--watch", "--scenarios", str(scenarios))
    try:
        before = _version(server)
        (spec_dir / "api.yaml").write_text(SPEC + EXTRA)
        _until(lambda: _get(server.url + "/owners")[0] == 200, "the watched spec to load")
        # A worker of the old version may take a last connection while it stops.
        _until(lambda: _version(server) != before, "every worker on the new version")
        middle = _version(server)
        scenarios.write_text(
            "scenarios:\n  - match: {operationId: listPets}\n    respond: {status: 200, "
            "delay: 0}\n    times: 1\n"
        )
        _until(lambda: _version(server) != middle, "the watched scenario file to load")
        _until(
            lambda: bool(_get(server.url + "/__mock/scenarios")[1].get("rules")),
            "the scenario file's rule to be served",
        )
        status, loaded = _get(server.url + "/__mock/scenarios")
        assert status == 200, loaded
        assert loaded["rules"] == 1
        assert loaded["document"]["scenarios"][0]["match"] == {"operationId": "listPets"}
    finally:
        assert server.stop() == 0
