"""The command line as a user meets it, through real processes: `--version`, output
piped into a reader that leaves, a port already taken, JSON log lines from the first,
and the user's install line of the README."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, LiveServer

EVENTS = "/api/v1/events/query/"


def mockserver(*args: str, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockserver", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        **options,  # type: ignore[call-overload]
    )


def test_version_is_the_package_version() -> None:
    done = mockserver("--version")
    assert done.returncode == 0
    assert done.stdout == f"mockserver {importlib.metadata.version('mockserver')}\n"


def closed_pipe_run(*args: str) -> subprocess.CompletedProcess[str]:
    """`mockserver ARGS` writing into a pipe whose reader has already gone: every write
    fails with EPIPE, as `| head -1` makes the writes after the first line fail."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, "-m", "mockserver", *args],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    finally:
        os.close(writer)


def test_routes_into_a_pipe_whose_reader_left_ends_quietly() -> None:
    done = closed_pipe_run("routes")
    assert (done.returncode, done.stderr) == (0, "")


def test_routes_piped_into_head_prints_one_line_and_no_error() -> None:
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"'{sys.executable}' -m mockserver routes | head -1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert re.fullmatch(r"GET +/\S+ +[\w-]+\.\w+  \[[^\]]+\]\n", done.stdout)


def test_coverage_into_a_pipe_whose_reader_left_keeps_its_exit_code(
    live_server: LiveServer,
) -> None:
    requests.get(f"{live_server.url}{EVENTS}", timeout=10)
    for form in ("text", "json", "junit"):
        done = closed_pipe_run("coverage", "--url", live_server.url, "--format", form)
        assert (done.returncode, done.stderr) == (0, ""), form
    under = closed_pipe_run("coverage", "--url", live_server.url, "--fail-under", "100")
    assert under.returncode == 1  # the threshold still decides
    assert re.fullmatch(r"mockserver: status coverage [\d.]+% is under 100.0%\n", under.stderr)


@pytest.fixture
def taken_port() -> Iterator[int]:
    holder = socket.create_server(("127.0.0.1", 0))
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_taken_port_is_one_line_and_exit_2(taken_port: int, log_format: str) -> None:
    done = mockserver(
        "serve", "--port", str(taken_port), "--workers", "1", "--log-format", log_format
    )
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()  # gunicorn used to retry 5 times, 2 lines each
    message = json.loads(line)["message"] if log_format == "json" else line
    assert message == (
        f"mockserver: cannot listen on 127.0.0.1:{taken_port}: the port is already in use "
        "(is another server running there?)"
    )


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def _read_line(stream: object, within: float = 30.0) -> str:
    """The next line of a pipe, waiting for it at most `within` seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
        assert selector.select(within), "no line came"
    return stream.readline()  # type: ignore[attr-defined, no-any-return]


def _record_saying(stream: object, words: str) -> dict[str, object]:
    """The next JSON line whose message has `words` (every line before it is JSON too)."""
    while True:
        record = json.loads(_read_line(stream))
        assert isinstance(record, dict)
        if words in str(record.get("message")):
            return record


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc for workers")
def test_every_json_log_line_is_json_from_the_first() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockserver",
            "serve",
            "--port",
            "0",
            "--workers",
            "2",
            "--log-format",
            "json",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        first = json.loads(_read_line(process.stdout))
        assert first["level"] == "info" and first["url"].startswith("http://127.0.0.1:")
        announced = rf"mockserver: serving \d+ operations on {re.escape(first['url'])}"
        assert re.fullmatch(announced, first["message"])
        # gunicorn's own line: a worker (one has answered, so it is there) killed under it.
        assert requests.get(first["url"] + EVENTS, timeout=10).status_code == 200
        os.kill(_children(process.pid)[0], signal.SIGKILL)
        gunicorn = _record_saying(process.stderr, "SIGKILL")
        assert gunicorn["level"] == "error"
        # The mock's own warning: a reload.
        process.send_signal(signal.SIGHUP)
        reloaded = _record_saying(process.stderr, "mockserver: reloaded: serving ")
        assert reloaded["level"] == "warning"
        assert requests.get(first["url"] + EVENTS, timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    lines = [*out.splitlines(), *err.splitlines()]
    assert lines, "the request's line is printed"
    for line in lines:
        assert isinstance(json.loads(line), dict), line
    assert any(json.loads(line).get("operationId") == "queryEvents" for line in out.splitlines())


def test_the_readme_user_install_line_installs_a_working_command(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "    pip install /path/to/mockserver\n" in readme  # the user's line, no [dev]
    checkout = tmp_path / "checkout"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False
    ).stdout
    names = [n for n in tracked.decode().split("\0") if n] or [
        str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts
    ]
    for name in names:
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    target = tmp_path / "site"
    # The README's line, offline: the build backend is the one installed here.
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(checkout)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import mockserver.defaults as d; print(d.bundled('specs'))"],
        capture_output=True, text=True, timeout=60, cwd=elsewhere, env=env,
    )  # fmt: skip
    assert where.stdout.strip() == str(target / "mockserver" / "bundled" / "specs")
    routes = subprocess.run(
        [str(target / "bin" / "mockserver"), "routes"],
        capture_output=True, text=True, timeout=120, cwd=elsewhere, env=env,
    )  # fmt: skip
    assert routes.returncode == 0, routes.stderr
    assert "escapekit-events.queryEvents" in routes.stdout
    (installed,) = importlib.metadata.distributions(path=[str(target)])
    assert "mockserver.pytest_plugin" in [e.value for e in installed.entry_points]


def test_a_spec_that_stops_serve_is_told_in_json_lines_too(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.1.0\ninfo: [\n", encoding="utf-8")
    done = mockserver("serve", str(bad), "--port", "0", "--log-format", "json")
    assert done.returncode == 1 and done.stdout == ""
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert records and all(r["level"] == "error" for r in records)
    assert "bad.yaml" in " ".join(r["message"] for r in records)


def test_an_unusable_environment_is_a_json_line_when_the_environment_asks_for_json() -> None:
    env = {**os.environ, "MOCKSERVER_LOG_FORMAT": "json", "MOCKSERVER_PORT": "70000"}
    done = mockserver("serve", env=env)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "error"
    assert record["message"].startswith("mockserver: MOCKSERVER_PORT='70000' is not valid")


def test_an_address_not_of_this_host_is_one_line_and_exit_2() -> None:
    done = mockserver("serve", "--host", "192.0.2.1", "--port", "0", "--workers", "1")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("mockserver: cannot listen on 192.0.2.1:0: ")
    assert "Traceback" not in done.stderr
