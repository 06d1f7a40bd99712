"""Shared fixtures: one engine and app per session, and a real server run by the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mockserver.app import create_app
from mockserver.engine import Engine

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.from_paths([ROOT / "specs"], ROOT / "fixtures")


@pytest.fixture(scope="session")
def app(engine: Engine) -> Flask:
    return create_app(engine=engine)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class LiveServer:
    """`mockserver serve` in a subprocess, on a free port of 127.0.0.1."""

    def __init__(self, *args: str) -> None:
        # stderr (one log line per request) goes to a file, so a full pipe never blocks it.
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mockserver",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        # The server prints its address once it is listening: that line is the signal.
        line = self.process.stdout.readline()
        if "http://" not in line:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process.stdout.close()
            self.log.seek(0)
            output = self.log.read()[-2000:]
            self.log.close()
            raise RuntimeError(f"mockserver did not start: {line!r} {output}")
        self.url = line.rsplit(" ", 1)[-1].strip()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.log.close()


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    assert server.stop() == 0
