"""The Dockerfile, .dockerignore and docker-compose.yml, held to README.md; no engine needed.

The Dockerfile is read with BuildKit's own parser (the `dockerfile` package), so a CMD that
is not valid JSON, say, is seen the way Docker sees it. The health commands are run for
real against a live server. `.ci/container` builds and runs the image itself.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys

import dockerfile
import pytest
import yaml

from mockserver.cli import main
from tests.conftest import ROOT, LiveServer

DOCKERFILE = ROOT / "Dockerfile"
DOCS = ROOT / "README.md"
PORT = "4010"
HEALTH_PATH = "/__mock/health"


def instructions() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(DOCKERFILE)))


def final_stage() -> list[dockerfile.Command]:
    commands = instructions()
    start = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    return commands[start:]


def only(cmd: str) -> dockerfile.Command:
    found = [c for c in final_stage() if c.cmd == cmd]
    assert len(found) == 1, f"expected one {cmd} in the final stage, found {len(found)}"
    return found[0]


def env() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for command in final_stage():
        if command.cmd == "ENV":
            values = command.value
            pairs.update(zip(values[::2], values[1::2], strict=True))
    return pairs


def docs() -> str:
    return DOCS.read_text(encoding="utf-8")


def port_of(server: LiveServer) -> str:
    return server.url.rsplit(":", 1)[1]


def closed_port() -> int:
    """A port nothing listens on: bound, so no one else takes it, but not listening."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


# -- the Dockerfile ------------------------------------------------------------------------
def test_every_stage_is_python_311_slim() -> None:
    images = [c.value[0] for c in instructions() if c.cmd == "FROM"]
    assert images and all(image == "python:3.11-slim" for image in images)


def test_dependencies_are_a_layer_of_their_own_before_the_source() -> None:
    stage = final_stage()
    copies = [(i, c.value[:-1]) for i, c in enumerate(stage) if c.cmd == "COPY"]
    first_index, first_sources = copies[0]
    assert first_sources == ("pyproject.toml",), "pyproject.toml alone comes first"
    install = next(i for i, c in enumerate(stage) if c.cmd == "RUN" and "pip install" in c.value[0])
    assert first_index < install < copies[1][0]
    assert "pyproject.toml" in stage[install].value[0]


def test_the_package_and_its_data_are_installed() -> None:
    copies = [c.value for c in instructions() if c.cmd == "COPY"]
    for folder in ("mockserver/", "specs/", "fixtures/"):
        assert any(folder in value[:-1] for value in copies), f"{folder} is not in the image"
    assert ("specs/", "/app/specs/") in copies
    assert ("fixtures/", "/app/fixtures/") in copies
    runs = " ".join(c.value[0] for c in final_stage() if c.cmd == "RUN")
    assert "--no-deps" in runs, "the package's own install adds no dependency layer"


def test_the_server_binds_all_interfaces_on_the_bundled_folders() -> None:
    assert env()["MOCKSERVER_HOST"] == "0.0.0.0"
    assert env()["MOCKSERVER_SPECS"] == "/app/specs"
    assert env()["MOCKSERVER_FIXTURES"] == "/app/fixtures"


def test_cmd_is_serve_in_exec_form_so_the_server_is_pid_1() -> None:
    cmd = only("CMD")
    assert cmd.json, (
        "a shell form CMD would make /bin/sh PID 1, and SIGTERM would not reach the server"
    )
    assert cmd.value == ("mockserver", "serve")
    assert not [c for c in final_stage() if c.cmd == "ENTRYPOINT"]


def test_exposes_4010() -> None:
    assert only("EXPOSE").value == (PORT,)


def test_user_is_numeric_and_not_root() -> None:
    stage = final_stage()
    user = only("USER")
    assert re.fullmatch(r"[0-9]+(:[0-9]+)?", user.value[0]), "numeric, so runAsNonRoot can check it"
    assert all(part != "0" for part in user.value[0].split(":"))
    assert stage.index(user) < stage.index(only("CMD"))


def health_argv() -> list[str]:
    health = only("HEALTHCHECK")
    assert health.json and health.value[0] == "CMD", "exec form: no shell needed"
    return list(health.value[1:])


def test_healthcheck_asks_mock_health_with_python_not_curl() -> None:
    argv = health_argv()
    assert argv[:2] == ["python", "-c"]
    assert "urllib" in argv[2] and HEALTH_PATH in argv[2]
    assert not {"curl", "wget"} & set(" ".join(argv).replace("'", " ").split())
    flags = dict(flag.lstrip("-").split("=", 1) for flag in only("HEALTHCHECK").flags)
    assert set(flags) <= {"interval", "timeout", "start-period", "retries"}


def test_healthcheck_passes_on_a_live_server_and_fails_without_one(
    live_server: LiveServer,
) -> None:
    argv = [sys.executable, *health_argv()[1:]]

    def run(port: object) -> int:
        env = {"MOCKSERVER_PORT": str(port), "PATH": "/usr/bin:/bin"}
        return subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode

    assert run(port_of(live_server)) == 0
    assert run(closed_port()) == 1  # Docker reads 1 as unhealthy (2 is reserved)


# -- README.md --------------------------------------------------------------------------
def test_docs_state_the_images_command_port_user_and_health_check() -> None:
    text = docs()
    assert 'CMD ["mockserver", "serve"]' in text
    assert f"EXPOSE {PORT}" in text and f"{PORT}:{PORT}" in text
    assert f"USER {only('USER').value[0]}" in text
    assert health_argv()[2] in text, "README.md quotes the image's health check"
    for name, value in env().items():
        if name.startswith("MOCKSERVER_"):
            assert f"{name}={value}" in text


REPEATABLE = {"--credential"}
"""Options given once per value; their variable holds the values separated by commas."""


def test_env_table_lists_every_serve_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    options = set(re.findall(r"\[(--[a-z-]+)", capsys.readouterr().out))
    rows = re.findall(r"^\| `(MOCKSERVER_[A-Z_]+)` \| `([^`]+)` \|", docs(), re.MULTILINE)
    table = dict(rows)
    assert len(table) == len(rows), "a variable listed twice"
    assert set(table.values()) == options | {"PATH..."}, "the table and `serve --help` differ"
    for variable, option in table.items():
        expected = "SPECS" if option == "PATH..." else option[2:].upper().replace("-", "_")
        if option in REPEATABLE:  # one variable holds all the values: its name is plural
            expected += "S"
        assert variable == f"MOCKSERVER_{expected}"
    assert {name for name in env() if name.startswith("MOCKSERVER_")} <= set(table)


def gha_health_cmd() -> str:
    options = re.search(r"options: >-\n((?:\s+--.*\n)+)", docs())
    assert options, "README.md has a GitHub Actions service with health options"
    argv = shlex.split(options.group(1))  # the runner splits options on double quotes too
    for flag in ("--health-cmd", "--health-interval", "--health-retries"):
        assert flag in argv
    return argv[argv.index("--health-cmd") + 1]


def test_github_actions_health_cmd_works(live_server: LiveServer) -> None:
    command = gha_health_cmd()
    url = f"http://127.0.0.1:{PORT}{HEALTH_PATH}"
    assert command.startswith("python -c ") and url in command and "curl" not in command
    assert "- 4010:4010" in docs()
    here = command.replace("python", shlex.quote(sys.executable), 1)
    live = here.replace(f":{PORT}/", f":{port_of(live_server)}/")
    assert subprocess.run(["/bin/sh", "-c", live], timeout=30).returncode == 0
    dead = here.replace(f":{PORT}/", f":{closed_port()}/")
    assert subprocess.run(["/bin/sh", "-c", dead], capture_output=True, timeout=30).returncode != 0


# -- .dockerignore and docker-compose.yml ----------------------------------------------------
def test_dockerignore_lets_in_only_what_the_build_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "everything is left out unless let in again"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = {
        source.rstrip("/")
        for command in instructions()
        if command.cmd == "COPY" and not any(f.startswith("--from") for f in command.flags)
        for source in command.value[:-1]
    }
    assert sources <= allowed, "a COPY source is left out of the build context"
    assert not allowed & {".venv", ".git", "tests", "bench", ".ci"}


def test_compose_runs_the_image_on_4010_with_the_same_health_check(
    live_server: LiveServer,
) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    service = compose["services"]["mockserver"]
    assert service["build"] == "."
    assert f"{PORT}:{PORT}" in service["ports"]
    variables = {name for name in service.get("environment", {}) if name.startswith("MOCKSERVER_")}
    documented = set(re.findall(r"^\| `(MOCKSERVER_[A-Z_]+)`", docs(), re.MULTILINE))
    assert variables <= documented
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"] and f"127.0.0.1:{PORT}{HEALTH_PATH}" in test[-1]
    argv = [sys.executable, *test[2:-1], test[-1].replace(PORT, port_of(live_server))]
    assert subprocess.run(argv, timeout=30).returncode == 0


def test_ci_container_script_is_executable_bash() -> None:
    script = ROOT / ".ci" / "container"
    assert script.stat().st_mode & 0o111
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
