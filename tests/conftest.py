"""Shared fixtures: one engine and app per session, and a real server run by the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mockserver.app import create_app
from mockserver.engine import Engine
from mockserver.pytest_plugin import MockServerProcess

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


class LiveServer(MockServerProcess):
    """`mockserver serve` from this checkout, the way a user runs it."""

    def __init__(self, *args: str) -> None:
        super().__init__(*args, cwd=ROOT, keep_stdout=True)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    assert server.stop() == 0
