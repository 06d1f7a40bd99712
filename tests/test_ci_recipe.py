"""The README's CI recipe, run as it is written, on a sample project under xdist.

Both shell blocks of "The recipe" are read from the README and run by bash in a
folder holding the sample project (`tests/notes_sample.py`: a spec, a client library,
four tests that serve 4 of its 6 documented statuses), with this checkout's `pytest`
and `mockserver` first on PATH and the port 4010 of the second block swapped for a free
one. Each must report the real coverage (66.7%) and fail under its threshold (80), and
pass once the threshold is lowered under it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.conftest import ROOT
from tests.notes_sample import write_sample

HEADING = "### The recipe: your test suite with the plugin, then the coverage threshold"


def recipe_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(HEADING, 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_block(block: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """The block in bash, from `folder`; a server it left in the background is stopped
    (SIGTERM) and waited for when the block ends."""
    script = "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + block
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTEST_XDIST_WORKER", None)  # this suite may itself run under xdist
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_has_both_recipes() -> None:
    plugin, running = recipe_blocks()
    assert "--mockserver-fail-under 80" in plugin and "-n 2" in plugin
    assert "mockserver coverage --url" in running and "--fail-under 80" in running


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_sample(tmp_path / "project")


def test_the_plugin_recipe_reports_real_coverage_and_fails_under_its_threshold(
    project: Path,
) -> None:
    block = recipe_blocks()[0]
    done = run_block(block, project)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "2 workers [4 items]" in out  # xdist, as written
    assert "4 passed" in out
    assert "statuses 4/6 66.7%  operations 3/3 100.0%" in out
    assert "GET /notes (notes.listNotes): X-Mock-Status: 500" in out
    assert "FAILED: mockserver status coverage 66.7% is under --mockserver-fail-under 80.0%" in out
    junit = ElementTree.parse(project / "mock-coverage.xml").getroot()
    assert (junit.get("failures"), junit.get("skipped")) == ("1", "2")

    passing = run_block(
        block.replace("--mockserver-fail-under 80", "--mockserver-fail-under 60"), project
    )
    assert passing.returncode == 0, passing.stdout + passing.stderr
    junit = ElementTree.parse(project / "mock-coverage.xml").getroot()
    assert (junit.get("failures"), junit.get("skipped")) == ("0", "2")


def test_the_running_mock_recipe_reports_real_coverage_and_fails_under_its_threshold(
    project: Path,
) -> None:
    block = recipe_blocks()[1].replace("4010", str(free_port()))
    done = run_block(block, project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "4 passed" in done.stdout and "2 workers [4 items]" in done.stdout
    assert re.search(r"statuses +4/6 +66\.7%", done.stdout)
    assert "mockserver: status coverage 66.7% is under 80.0%" in done.stderr
    assert "GET /notes (notes.listNotes): X-Mock-Status: 500" in done.stdout

    passing = run_block(block.replace("--fail-under 80", "--fail-under 60"), project)
    assert passing.returncode == 0, passing.stdout + passing.stderr
