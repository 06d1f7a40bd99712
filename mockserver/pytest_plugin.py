"""The pytest plugin (entry point `pytest11: mockserver`): a mock per test session,
a fresh mock session per test.

Fixtures:

* ``mockserver_url`` (session scope) -- the base URL of a mock: the one named by
  ``--mockserver-url`` / ini ``mockserver_url`` (a container, say), else one started
  here with ``mockserver serve`` on a free port of 127.0.0.1, with the specs, fixtures
  and scenarios of ``--mockserver-specs`` / ``--mockserver-fixtures`` /
  ``--mockserver-scenarios`` (or the ini keys of the same names).
* ``mockserver`` (function scope) -- a `MockSession` with its own `X-Mock-Session`
  id: send ``mockserver.headers`` with your client's requests, and the journal, the
  coverage and the scenarios you set are this test's alone. That is what makes it
  safe under pytest-xdist: every worker and every test has its own session.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

SESSION_HEADER = "X-Mock-Session"


class MockServerError(RuntimeError):
    """The mock could not be started or reached, or refused an admin call."""


@dataclass(frozen=True)
class Call:
    """One journal entry, as Python values."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: Any
    status: int
    operation_id: str | None
    api: str | None
    problems: list[dict[str, str]]
    controls: Mapping[str, Any]
    raw: Mapping[str, Any]

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> Call:
        return cls(
            entry["method"],
            entry["path"],
            entry["query"],
            entry["headers"],
            entry["body"],
            entry["status"],
            entry["operationId"],
            entry["api"],
            entry["problems"],
            entry["controls"],
            entry,
        )


class MockSession:
    """A test's own view of the mock: its URL, its session header, its journal."""

    def __init__(self, base_url: str, session: str, admin_token: str | None = None) -> None:
        self.url = base_url.rstrip("/")
        self.session = session
        self.headers = {SESSION_HEADER: session}
        self._admin_token = admin_token

    # -- admin calls ------------------------------------------------------------------
    def _admin(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> Any:
        params = {"session": self.session, **(query or {})}
        request = urllib.request.Request(
            f"{self.url}/__mock/{path}?{urllib.parse.urlencode(params)}", data=body, method=method
        )
        if self._admin_token:
            request.add_header("Authorization", f"Bearer {self._admin_token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise MockServerError(
                f"{method} /__mock/{path} answered {exc.code}: {detail}"
            ) from None
        return json.loads(payload) if payload else None

    def calls(self, **filters: Any) -> list[Call]:
        """This session's requests, oldest first; filters as in GET /__mock/requests."""
        entries = self._admin("GET", "requests", query=filters)["requests"]
        return [Call.from_entry(e) for e in entries]

    def coverage(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "coverage")
        return result

    def scenario(self, document: str | Mapping[str, Any]) -> None:
        """Script this test's session (YAML text or a mapping; see README)."""
        text = document if isinstance(document, str) else json.dumps(document)
        self._admin("PUT", "scenarios", body=text.encode("utf-8"))

    def reset(self) -> None:
        self._admin("DELETE", "scenarios")
        self._admin("DELETE", "requests")

    # -- assertions -------------------------------------------------------------------
    def assert_called(self, operation_id: str, times: int | None = None) -> list[Call]:
        """`operation_id` was called (exactly `times` times, if given)."""
        calls = self.calls(operationId=operation_id)
        if (times is None and not calls) or (times is not None and len(calls) != times):
            expected = "at least once" if times is None else f"{times} time(s)"
            raise AssertionError(
                f"expected {operation_id} to be called {expected}, it was called "
                f"{len(calls)} time(s).\n{self._summary()}"
            )
        return calls

    def assert_not_called(self, operation_id: str) -> None:
        self.assert_called(operation_id, times=0)

    def assert_last_body(
        self, operation_id: str, expected: Mapping[str, Any] | list[Any] | Callable[[Any], bool]
    ) -> Any:
        """The last body sent to `operation_id` contains `expected` (or satisfies it)."""
        calls = self.calls(operationId=operation_id)
        if not calls:
            raise AssertionError(f"{operation_id} was never called.\n{self._summary()}")
        body = calls[-1].body
        ok = expected(body) if callable(expected) else _contains(body, expected)
        if not ok:
            raise AssertionError(
                f"the last body sent to {operation_id} does not match.\n"
                f"expected (subset): {json.dumps(expected, default=repr, indent=2)}\n"
                f"actually sent:     {json.dumps(body, indent=2, default=repr)}"
            )
        return body

    def _summary(self) -> str:
        calls = self.calls()
        if not calls:
            return "No request reached the mock in this session."
        lines = [f"Requests in this session ({len(calls)}):"]
        lines += [
            f"  {c.method} {c.path} -> {c.status} ({c.operation_id or 'no operation'})"
            for c in calls[-20:]
        ]
        return "\n".join(lines)


def _contains(actual: Any, expected: Any) -> bool:
    """`expected` is a subset of `actual`: mappings by key, lists item by item."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _contains(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


# -- pytest wiring ------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockserver")
    for name, help_text in (
        ("url", "use the mock at this URL instead of starting one"),
        ("specs", "spec files or folders for the mock started here (':'-separated)"),
        ("fixtures", "fixtures folder for the mock started here"),
        ("scenarios", "scenario file for the mock started here"),
        ("admin-token", "token of the mock's admin API"),
    ):
        group.addoption(f"--mockserver-{name}", default=None, help=help_text)
        parser.addini(f"mockserver_{name.replace('-', '_')}", help_text, default=None)


def _option(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(f"--mockserver-{name}")
    if value is None:
        value = config.getini(f"mockserver_{name.replace('-', '_')}")
    return str(value) if value else None


class MockServerProcess:
    """`mockserver serve --port 0` in a subprocess on 127.0.0.1, stopped with SIGTERM.

    The server prints its URL once its port is bound: reading that line is how this
    waits for it (no polling, no sleeping). Its log goes to a temporary file, and a
    thread reads its stdout (one line per request) to the end, so a full pipe can never
    block it. With `keep_stdout`, those lines are kept in `printed` once it has stopped.
    """

    def __init__(
        self,
        *args: str,
        cwd: str | os.PathLike[str] | None = None,
        keep_stdout: bool = False,
    ) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop)
        self.printed = ""
        self._kept = tempfile.TemporaryFile(mode="w+") if keep_stdout else None  # noqa: SIM115
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
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "http://" not in line:
            self.process.wait(timeout=30)
            output = self.output()
            self.stop()
            raise MockServerError(f"mockserver did not start: {line.strip()} {output.strip()}")
        self.url = _announced_url(line)
        self._drain = threading.Thread(target=self._read_stdout, daemon=True)
        self._drain.start()

    def _read_stdout(self) -> None:
        stdout, kept = self.process.stdout, self._kept
        assert stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in stdout:
                if kept is not None:
                    kept.write(line)

    def output(self) -> str:
        """The last of what the server wrote on stderr."""
        if self.log.closed:
            return ""
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit code (killed after 15 s)."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            return int(self.process.returncode)
        finally:
            drain = getattr(self, "_drain", None)
            if drain is not None:
                drain.join(timeout=15)  # the server has exited: its stdout ends
            if self._kept is not None:
                self._kept.seek(0)
                self.printed = self._kept.read()
                self._kept.close()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.log.close()


def _announced_url(line: str) -> str:
    """The URL in the server's first line: `mockserver: serving N operations on URL`, or
    that line as JSON (`--log-format json`), its `url` member."""
    if line.startswith("{"):
        with contextlib.suppress(ValueError, TypeError, KeyError):
            return str(json.loads(line)["url"])
    return line.rsplit(" ", 1)[-1].strip()


@pytest.fixture(scope="session")
def mockserver_url(pytestconfig: pytest.Config) -> Iterator[str]:
    """The base URL of the mock this test session uses."""
    url = _option(pytestconfig, "url")
    if url:
        yield url.rstrip("/")
        return
    args: list[str] = []
    specs = _option(pytestconfig, "specs")
    if specs:
        args += [p for p in specs.split(":") if p]
    for name in ("fixtures", "scenarios"):
        value = _option(pytestconfig, name)
        if value:
            args += [f"--{name}", value]
    token = _option(pytestconfig, "admin-token")
    if token:
        args += ["--admin-token", token]
    server = MockServerProcess("--workers", "1", *args)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def mockserver(mockserver_url: str, pytestconfig: pytest.Config) -> Iterator[MockSession]:
    """A fresh mock session for this test; its scenarios and journal are cleared after."""
    session = MockSession(
        mockserver_url, f"pytest-{uuid.uuid4().hex[:12]}", _option(pytestconfig, "admin-token")
    )
    yield session
    session.reset()
