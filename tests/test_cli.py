"""The command line: validate, routes, and serve's start-up errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mockserver.cli import main
from mockserver.spec import check as documents

ROOT = Path(__file__).resolve().parents[1]
MINI = Path(__file__).parent / "data" / "mini.yaml"


def test_validate_bundled(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.startswith("ok: 4 APIs, 25 operations")


def test_validate_reports_a_bad_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.1.0\ninfo: {title: x}\npaths: {}\n", encoding="utf-8")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "version" in err
    assert "Traceback" not in err


def test_validate_reports_a_bad_fixture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "fixtures" / "mini" / "createThing"
    folder.mkdir(parents=True)
    (folder / "201.json").write_text('{"name": 5}', encoding="utf-8")
    assert main(["validate", str(MINI), "--fixtures", str(tmp_path / "fixtures")]) == 1
    assert "201.json: name: does not match" in capsys.readouterr().err


def test_routes_lists_every_operation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 25
    assert any("harness-iacm.sendModuleEvent" in line and "[200 400 401" in line for line in lines)


def serve_once(spec: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """`mockserver serve SPEC` in a subprocess, for specs it must refuse (so it exits)."""
    return subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", str(spec), "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_serve_refuses_a_bad_spec_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.1.0\ninfo: [\n", encoding="utf-8")
    done = serve_once(bad)
    assert done.returncode == 1
    assert str(bad) in done.stderr and "line" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Compiles, but is not valid OpenAPI: only the check in the child process says so.
        ("openapi: 3.1.0\ninfo: {title: x}\npaths: {}\n", "/info/version: 'version' is required"),
        # Not valid OpenAPI, and the loader repairs it: both say so, each problem once.
        (
            "openapi: 3.1.0\ninfo: {title: x}\npaths: {/a: {get: {responses: 7}}}\n",
            "/paths/~1a/get/responses: no responses documented",
        ),
    ],
)
def test_serve_strict_refuses_a_spec_the_openapi_check_refuses(
    tmp_path: Path, text: str, expected: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    done = serve_once(bad, "--strict")
    assert done.returncode == 1
    assert done.stdout == ""  # never announced, never served
    assert f"{bad}: {expected}" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_warns_and_serves_a_spec_with_defects(tmp_path: Path) -> None:
    spec = tmp_path / "defects.yaml"
    spec.write_text(
        "openapi: 3.0.3\npaths:\n  /a/{id}:\n    get:\n      responses: {200: {}}\n",
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", str(spec), "--port", "0", "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        announced = server.stdout.readline()
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert announced.startswith("mockserver: serving 1 operations on http://127.0.0.1:")
    warnings = [line for line in err.splitlines() if line.startswith("mockserver: warning: ")]
    assert [w.split(": ", 3)[2:] for w in warnings] == [
        [str(spec), "/info: no info object; the API is titled by its file name"],
        [
            str(spec),
            "/paths/~1a~1{id}/get/parameters: path parameter 'id' of /a/{id} is not "
            "declared; read as a required string",
        ],
        [str(spec), "/paths/~1a~1{id}/get/responses/200/description: response has no description"],
    ]
    assert "Traceback" not in err


def test_the_spec_check_runs_here_when_no_child_process_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_children() -> int:
        raise OSError("no processes left")

    monkeypatch.setattr(documents.os, "fork", no_children)
    assert documents.SpecCheck([MINI]).result() == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.1.0\ninfo: {title: x}\npaths: {}\n", encoding="utf-8")
    (finding,) = documents.SpecCheck([bad]).result()
    assert (finding.source, finding.place) == (str(bad), "/info/version")


def test_a_spec_check_that_outlasts_its_wait_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lenient `serve` waits a bounded time for the OpenAPI check (GitHub's spec takes
    ~15 s): past it, `result` says None and the child is gone; with time it reports."""
    import threading
    import time

    monkeypatch.setattr(threading, "active_count", lambda: 1)  # pytest's threads aside
    monkeypatch.setattr(documents, "_safe_check", lambda paths: time.sleep(60) or [])
    slow = documents.SpecCheck([MINI])
    pid = slow.pid
    assert pid is not None, "the check runs in a child process"
    assert slow.result(wait=0.2) is None
    assert slow.pid is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no child is left running
    monkeypatch.undo()
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.1.0\ninfo: {title: x}\npaths: {}\n", encoding="utf-8")
    found = documents.SpecCheck([bad]).result(wait=60)
    assert found is not None
    assert [finding.place for finding in found] == ["/info/version"]


def test_the_spec_check_runs_at_the_lowest_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the first answer waits for is compiling, not the check beside it."""
    import threading

    from mockserver.spec.errors import Problem

    monkeypatch.setattr(threading, "active_count", lambda: 1)  # pytest's threads aside
    monkeypatch.setattr(
        documents, "_safe_check", lambda paths: [Problem("niceness", "", str(os.nice(0)))]
    )
    check = documents.SpecCheck([MINI])
    assert check.pid is not None, "the check runs in a child process"
    (finding,) = check.result(wait=60) or []
    assert int(finding.message) == min(19, os.nice(0) + 19)


def test_installed_package_falls_back_to_its_bundled_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mockserver.defaults as app_module

    assert app_module.bundled("specs") == ROOT / "specs"  # a checkout serves its own files
    monkeypatch.setattr(app_module, "PROJECT_ROOT", tmp_path)  # as in site-packages
    package = Path(app_module.__file__).resolve().parent
    assert app_module.bundled("specs") == package / "bundled" / "specs"
    assert app_module.bundled("fixtures") == package / "bundled" / "fixtures"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "70000"),
        ("PORT", "-1"),
        ("MAX_BODY", "-1"),
        ("WORKERS", "0"),
        ("THREADS", "0"),
        ("JOURNAL_SIZE", "-5"),
        ("REQUEST_TIMEOUT", "-1"),
        ("REQUEST_TIMEOUT", "nan"),
        ("MAX_HEADER", "-1"),
        ("MAX_REQUEST_LINE", "0"),
        ("MAX_HEAD", "lots"),
    ],
)
def test_an_unusable_environment_value_stops_serve_with_exit_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(f"MOCKSERVER_{variable}", value)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert f"MOCKSERVER_{variable}={value!r} is not valid" in err


def test_a_port_out_of_range_is_refused_without_a_traceback() -> None:
    # It used to reach gunicorn's bind: a traceback and exit 1.
    done = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "MOCKSERVER_PORT": "70000"},
    )
    assert done.returncode == 2
    assert "MOCKSERVER_PORT='70000' is not valid: 70000 is out of range" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "flags", [["--port", "70000"], ["--workers", "0"], ["--max-body", "-1"], ["--max-head", "1"]]
)
def test_an_unusable_flag_is_refused_with_exit_2(
    capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", *flags])
    assert stopped.value.code == 2
    assert f"argument {flags[0]}" in capsys.readouterr().err


def test_the_header_limit_covers_the_longest_header_a_spec_documents() -> None:
    from mockserver.cli import documented_header_length
    from mockserver.engine import Engine

    engine = Engine.from_paths([ROOT / "specs"], None)
    # Huawei's X-Auth-Token: up to 16,384 characters.
    assert documented_header_length(engine.operations) == len("X-Auth-Token: ") + 16384


def test_validate_lists_every_problem_with_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.yaml"
    first.write_text(
        "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      parameters: [{name: q, in: query}]\n      responses: {'200': {}}\n",
        encoding="utf-8",
    )
    second = tmp_path / "second.json"
    second.write_text('{"swagger": "2.0", "paths": {"/b": {"get": {"responses": {}}}}}')
    assert main(["validate", str(tmp_path)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"{first}: /paths/~1a/get/parameters/0: parameter 'q' has no schema; it takes any value",
        f"{first}: /paths/~1a/get/responses/200/description: response has no description",
        f"{second}: /info: no info object; the API is titled by its file name",
        f"{second}: /paths/~1b/get/responses: no responses documented; answered as 'default' "
        "with no body",
        "mockserver: 4 problems in 2 file(s)",
    ]
