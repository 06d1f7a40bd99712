"""The pytest plugin (entry point `pytest11: mockserver`): one mock for the whole test
run, a fresh mock session per test, and the run's contract coverage at the end.

Fixtures:

* ``mockserver_url`` (session scope) -- the base URL of a mock: the one named by
  ``--mockserver-url`` / ini ``mockserver_url`` (a container, say), else one started
  here with ``mockserver serve`` on a free port of 127.0.0.1, with the specs, fixtures
  and scenarios of ``--mockserver-specs`` / ``--mockserver-fixtures`` /
  ``--mockserver-scenarios`` (or the ini keys of the same names; a relative path in the
  ini file is taken from the rootdir, one on the command line from where pytest runs).
* ``mockserver`` (function scope) -- a `MockSession` with its own `X-Mock-Session`
  id: send ``mockserver.headers`` with your client's requests, and the journal and the
  scenarios you set are this test's alone (cleared after it; its coverage is kept).

Under pytest-xdist the workers share one mock (`SharedMock`): the first to need it
starts it, and writes its URL and pid into a state file in the run's base temporary
folder (the parent of each worker's own), under an exclusive `flock`; the others find
it there and add themselves to its users; the last user stops it. A worker takes its
share right after collection, before any test runs (xdist schedules no test before
every worker has collected), so no worker can stop the mock while another has still to
come.

Coverage: at the end of the run the plugin prints the run's coverage (every session of
it), fails the run under ``--mockserver-fail-under`` / ini ``mockserver_fail_under``,
and writes ``--mockserver-coverage-report`` / ini ``mockserver_coverage_report`` (a
`.json` path: the report as the mock's ``GET /__mock/coverage`` gives it; `.xml`:
JUnit). With a mock started here, the run's coverage is the mock's, all sessions,
read by its last user before stopping it; with ``--mockserver-url`` (or a conftest's
own ``mockserver_url`` fixture, for which none is started), it is the sum of the tests'
own sessions (a shared mock may serve others too). Workers send theirs to xdist's
controller, which sums them. ``--mockserver-url`` waits up to ``--mockserver-url-wait``
seconds (30) for that mock to answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

if sys.platform != "win32":
    import fcntl

SESSION_HEADER = "X-Mock-Session"
DEFAULT_SESSION = "default"
"""The session of requests that carry no `X-Mock-Session` (the mock's `state.DEFAULT_SESSION`)."""
STATE_FILE = "mockserver-shared.json"
COVERAGE_KEY = "mockserver_coverage"
"""Where a worker puts its coverage reports for xdist's controller (`workeroutput`)."""
UNCOVERED_SHOWN = 30
OUTSIDE_WAIT = 30.0
"""Seconds a mock at `--mockserver-url` (one started just before pytest) has to answer."""


class MockServerError(RuntimeError):
    """The mock could not be started or reached, or refused an admin call."""


def _admin_request(
    base_url: str,
    method: str,
    path: str,
    token: str | None,
    body: bytes | None = None,
    query: Mapping[str, Any] | None = None,
) -> Any:
    """One call of the mock's admin API; its JSON answer (None when empty)."""
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    request = urllib.request.Request(f"{base_url}/__mock/{path}{suffix}", data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise MockServerError(f"{method} /__mock/{path} answered {exc.code}: {detail}") from None
    except OSError as exc:
        raise MockServerError(f"{method} {base_url}/__mock/{path} failed: {exc}") from None
    return json.loads(payload) if payload else None


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
        self._started = time.time()

    # -- admin calls ------------------------------------------------------------------
    def _admin(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> Any:
        params = {"session": self.session, **(query or {})}
        return _admin_request(self.url, method, path, self._admin_token, body, params)

    def calls(self, **filters: Any) -> list[Call]:
        """This session's requests, oldest first; filters as in GET /__mock/requests."""
        entries = self._admin("GET", "requests", query=filters)["requests"]
        return [Call.from_entry(e) for e in entries]

    def coverage(self) -> dict[str, Any]:
        """This session's coverage (`GET /__mock/coverage?session=...`)."""
        result: dict[str, Any] = self._admin("GET", "coverage")
        return result

    def scenario(self, document: str | Mapping[str, Any]) -> None:
        """Script this test's session (YAML text or a mapping; see README)."""
        text = document if isinstance(document, str) else json.dumps(document)
        self._admin("PUT", "scenarios", body=text.encode("utf-8"))

    def reset(self) -> None:
        """Clear this session's scenarios and journal (its coverage stays counted)."""
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
            return self._no_request_hint()
        lines = [f"Requests in this session ({len(calls)}):"]
        lines += [
            f"  {c.method} {c.path} -> {c.status} ({c.operation_id or 'no operation'})"
            for c in calls[-20:]
        ]
        return "\n".join(lines)

    def _no_request_hint(self) -> str:
        """Why a session may have seen nothing: the client did not send its header."""
        lines = [
            f"No request reached the mock in this session ({SESSION_HEADER}: {self.session}).",
            "Send the session header with every request of your client, e.g. "
            "`requests.get(url, headers=mockserver.headers)` or "
            "`httpx.Client(base_url=mockserver.url, headers=mockserver.headers)`; "
            f"mockserver.headers is {self.headers!r}.",
        ]
        with contextlib.suppress(MockServerError):
            stray = _admin_request(
                self.url,
                "GET",
                "requests",
                self._admin_token,
                query={"session": DEFAULT_SESSION, "since": f"{self._started:.3f}", "last": 5},
            )["requests"]
            if stray:
                lines.append(
                    "Requests that came without the header while this test ran (maybe "
                    "yours; the newest last):"
                )
                lines += [f"  {e['method']} {e['path']} -> {e['status']}" for e in stray]
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


# -- one mock for the run -----------------------------------------------------------------
class SharedMock:
    """One mock for every process of a test run, counted in a state file under `flock`.

    The file (`STATE_FILE` in `folder`) holds the mock's URL, its pid and the pids of the
    processes using it. `acquire` starts the mock when there is none (the others wait on
    the lock meanwhile) or joins it; `release` leaves it, and the last user (also the
    last one alive: users that died are dropped) reads its coverage and stops it. A
    mock that could not start is written down too, so each process fails at once with
    the same message instead of trying again.
    """

    def __init__(self, folder: Path, start: Callable[[], MockServerProcess], token: str | None):
        self.path = folder / STATE_FILE
        self.start = start
        self.token = token
        self.url: str | None = None
        self.process: MockServerProcess | None = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as handle:
            if sys.platform != "win32":  # (on Windows each process has a folder of its own)
                fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            try:
                state: dict[str, Any] = json.loads(handle.read() or "{}")
            except ValueError:  # cut short by a process killed while writing it
                state = {}
            before = dict(state)
            try:
                yield state
            finally:  # also when the mock could not start: the others read why
                if state != before:
                    handle.seek(0)
                    handle.truncate()
                    handle.write(json.dumps(state))
                    handle.flush()
            # closing the file releases the lock

    def acquire(self) -> str:
        """The mock's URL, started here if no live one is shared yet."""
        if self.url is not None:
            return self.url
        with self._locked() as state:
            if state.get("error"):
                raise MockServerError(state["error"])
            if not state.get("url") or not _alive(int(state["pid"])):
                try:
                    self.process = self.start()
                except MockServerError as exc:
                    state["error"] = str(exc)
                    raise
                state.update(url=self.process.url, pid=self.process.process.pid, users=[])
            state["users"] = [*_living(state["users"]), os.getpid()]
            self.url = str(state["url"])
        return self.url

    def release(self) -> dict[str, Any] | None:
        """Leave the mock; the last user stops it and returns its coverage (all sessions)."""
        if self.url is None:
            return None
        report = None
        with self._locked() as state:
            users = [pid for pid in _living(state.get("users", [])) if pid != os.getpid()]
            state["users"] = users
            if not users and state.get("url") == self.url:
                with contextlib.suppress(MockServerError):
                    report = _admin_request(self.url, "GET", "coverage", self.token)
                self._stop(int(state["pid"]))
                state.clear()
        self.url = None
        return report

    def _stop(self, pid: int) -> None:
        if self.process is not None and self.process.process.pid == pid:
            self.process.stop()
            return
        _terminate(pid)  # started by another process of the run, maybe gone by now


def wait_for(url: str, within: float) -> None:
    """Wait until the mock at `url` answers `GET /__mock/health` (a container or a
    `mockserver serve &` started just before pytest may still be loading its specs)."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(f"{url}/__mock/health", timeout=5) as answer:
                answer.read()
            return
        except urllib.error.HTTPError:
            return  # something answers HTTP there: let the tests' calls say what
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise MockServerError(
                    f"no mock answers at {url} (--mockserver-url; waited {within:g} s): {exc}"
                ) from None
            time.sleep(0.25)  # nothing to wait on but the port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _living(pids: Iterable[int]) -> list[int]:
    return [int(pid) for pid in pids if _alive(int(pid))]


def _terminate(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM to a process that is not our child, and wait until it has exited (its
    pidfd is readable then; SIGKILL after `timeout`)."""
    try:
        handle: int | None = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfd (not Linux)
        handle = None
    try:
        os.kill(pid, signal.SIGTERM)
        if handle is None:
            deadline = time.monotonic() + timeout  # nothing to wait on: look now and then
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        elif not select.select([handle], [], [], timeout)[0]:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        if handle is not None:
            os.close(handle)


# -- coverage of the run ------------------------------------------------------------------
def merge_reports(reports: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Coverage reports of the same specs (sessions, workers, mocks) as one report of the
    mock's shape: per operation, statuses and examples served by any, counts summed.
    One report is returned as the mock made it (its totals are the mock's own)."""
    reports = list(reports)
    if len(reports) == 1:
        return dict(reports[0])
    operations: dict[tuple[str, str], dict[str, Any]] = {}
    for report in reports:
        for op in report["operations"]:
            key = (op["api"], op["operationId"])
            mine = operations.get(key)
            if mine is None:
                operations[key] = json.loads(json.dumps(op))  # a copy to add to
                continue
            statuses, theirs = mine["statuses"], op["statuses"]
            served = {*map(str, statuses["served"]), *map(str, theirs["served"])}
            statuses["served"] = [s for s in statuses["documented"] if str(s) in served]
            statuses["uncovered"] = [s for s in statuses["documented"] if str(s) not in served]
            counts = statuses["counts"]
            for status, count in theirs["counts"].items():
                counts[status] = counts.get(status, 0) + count
            reach = {**theirs.get("reach", {}), **statuses.get("reach", {})}
            statuses["reach"] = {
                str(s): reach[str(s)] for s in statuses["uncovered"] if str(s) in reach
            }
            examples = mine["examples"]
            seen = {*examples["served"], *op["examples"]["served"]}
            examples["served"] = [e for e in examples["documented"] if e in seen]
            examples["uncovered"] = [e for e in examples["documented"] if e not in seen]
            for kind in ("valid", "invalid"):
                mine["requests"][kind] += op["requests"][kind]
    ops = list(operations.values())
    return {
        "session": None,
        "sessions": "run",
        "totals": {
            "operations": _share(sum(1 for op in ops if op["statuses"]["counts"]), len(ops)),
            "statuses": _share(
                sum(len(op["statuses"]["served"]) for op in ops),
                sum(len(op["statuses"]["documented"]) for op in ops),
            ),
            "examples": _share(
                sum(len(op["examples"]["served"]) for op in ops),
                sum(len(op["examples"]["documented"]) for op in ops),
            ),
        },
        "operations": ops,
    }


def _share(part: int, whole: int) -> dict[str, Any]:
    percent = 100.0 if whole == 0 else round(100.0 * part / whole, 1)
    return {"covered": part, "total": whole, "percent": percent}


def summary_lines(report: Mapping[str, Any], fail_under: float | None) -> list[str]:
    """What the end of the run shows: the totals, then every status never served with
    the header that reaches it, then the verdict of the threshold."""
    totals = report["totals"]
    lines = [
        "  ".join(
            f"{name} {totals[name]['covered']}/{totals[name]['total']} "
            f"{totals[name]['percent']:.1f}%"
            for name in ("statuses", "operations", "examples")
        )
    ]
    uncovered = [op for op in report["operations"] if op["statuses"]["uncovered"]]
    if uncovered:
        lines.append(
            "never served (send the header with a request, or load a scenario rule "
            "{match: {operationId: ID}, respond: {status: S}}):"
        )
        for op in uncovered[:UNCOVERED_SHOWN]:
            headers = ", ".join(f"X-Mock-Status: {s}" for s in op["statuses"]["uncovered"])
            lines.append(
                f"  {op['method']} {op['path']} ({op['api']}.{op['operationId']}): {headers}"
            )
        if len(uncovered) > UNCOVERED_SHOWN:
            lines.append(
                f"  ... and {len(uncovered) - UNCOVERED_SHOWN} more operations "
                "(the whole list: --mockserver-coverage-report PATH.json)"
            )
    verdict = _verdict(report, fail_under)
    if verdict:
        lines.append(verdict)
    return lines


def _verdict(report: Mapping[str, Any], fail_under: float | None) -> str | None:
    """The threshold's message when the run's status coverage is under it."""
    percent = float(report["totals"]["statuses"]["percent"])
    if fail_under is not None and percent < fail_under:
        return (
            f"FAILED: mockserver status coverage {percent:.1f}% is under "
            f"--mockserver-fail-under {fail_under:.1f}%"
        )
    return None


def write_report(path: Path, report: Mapping[str, Any], fail_under: float | None) -> None:
    """`.json`: the report itself; `.xml`: JUnit, as `mockserver coverage --format junit`
    writes it (a test case per operation and status, the uncovered skipped; one failing
    case, the threshold's, only under `fail_under`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".xml":
        from mockserver.journal import render_junit  # the one JUnit form of the project

        text = render_junit(report, fail_under)
    else:
        text = json.dumps(report, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")


# -- pytest wiring ------------------------------------------------------------------------
OPTIONS = (
    ("url", "use the mock at this URL instead of starting one"),
    ("url-wait", f"seconds the mock at --mockserver-url has to answer (default {OUTSIDE_WAIT:g})"),
    ("specs", "spec files or folders for the mock started here (':'-separated)"),
    ("fixtures", "fixtures folder for the mock started here"),
    ("scenarios", "scenario file for the mock started here"),
    ("admin-token", "token of the mock's admin API"),
    ("fail-under", "fail the run when its status coverage is under this percent"),
    (
        "coverage-report",
        "write the run's coverage to this file: PATH.json (JSON) or PATH.xml (JUnit)",
    ),
)
PATH_OPTIONS = ("specs", "fixtures", "scenarios", "coverage-report")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockserver")
    for name, help_text in OPTIONS:
        group.addoption(f"--mockserver-{name}", default=None, help=help_text)
        parser.addini(f"mockserver_{name.replace('-', '_')}", help_text, default=None)


def _option(config: pytest.Config, name: str) -> str | None:
    """An option's value; a relative path from the ini file is taken from the rootdir,
    one from the command line from the folder pytest was started in."""
    value = config.getoption(f"--mockserver-{name}")
    base = config.invocation_params.dir
    if value is None:
        value = config.getini(f"mockserver_{name.replace('-', '_')}")
        base = config.rootpath
    if not value:
        return None
    text = str(value).strip()
    if name in PATH_OPTIONS:
        parts = [p for p in text.replace("\n", ":").split(":") if p.strip()]
        text = ":".join(str(base / Path(p.strip()).expanduser()) for p in parts)
    return text


def _fail_under(config: pytest.Config) -> float | None:
    text = _option(config, "fail-under")
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 100:
        raise pytest.UsageError(
            f"mockserver fail-under must be a percent from 0 to 100, not {text!r}"
        )
    return value


def _url_wait(config: pytest.Config) -> float:
    text = _option(config, "url-wait")
    if text is None:
        return OUTSIDE_WAIT
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1e6:
        raise pytest.UsageError(f"mockserver url-wait must be a number of seconds, not {text!r}")
    return value


def _report_path(config: pytest.Config) -> Path | None:
    text = _option(config, "coverage-report")
    if text is None:
        return None
    path = Path(text)
    if path.suffix not in (".json", ".xml"):
        raise pytest.UsageError(
            f"mockserver coverage report {text!r}: name it .json (the JSON report) or .xml (JUnit)"
        )
    return path


def _server_args(config: pytest.Config) -> list[str]:
    args: list[str] = []
    specs = _option(config, "specs")
    if specs:
        args += [p for p in specs.split(":") if p]
    for name in ("fixtures", "scenarios"):
        value = _option(config, name)
        if value:
            args += [f"--{name}", value]
    token = _option(config, "admin-token")
    if token:
        args += ["--admin-token", token]
    return args


@dataclass
class RunCoverage:
    """The plugin's state in one pytest process: its share of the mock, the coverage
    reports gathered (the mock's when this process stopped it, or the tests' sessions
    with an outside mock; a controller gathers its workers'), and the verdict."""

    config: pytest.Config
    fail_under: float | None
    report_path: Path | None
    outside: str | None
    shared: SharedMock | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None
    reached: bool = False
    per_session: bool = False
    """The reports gathered are the tests' sessions (not every session of a mock)."""
    wait: float = OUTSIDE_WAIT

    def add(self, report: dict[str, Any]) -> None:
        """Sum `report` into those gathered (one report kept, however many tests)."""
        self.reports = [merge_reports([*self.reports, report])]

    @property
    def token(self) -> str | None:
        return _option(self.config, "admin-token")

    def url(self) -> str:
        if self.outside:
            if not self.reached:
                wait_for(self.outside.rstrip("/"), self.wait)
                self.reached = True
            return self.outside.rstrip("/")
        if self.shared is None:
            config = self.config
            factory = getattr(config, "_tmp_path_factory", None)  # the tmp_path plugin's
            if factory is None or sys.platform == "win32":  # no flock: a mock of its own
                folder = Path(tempfile.mkdtemp(prefix="mockserver-run-"))
            else:
                base = factory.getbasetemp()
                # Under xdist each worker has a folder of its own in the run's.
                folder = base.parent if hasattr(config, "workerinput") else base
            args = _server_args(config)
            self.shared = SharedMock(
                folder,
                lambda: MockServerProcess("--workers", "1", *args, cwd=config.rootpath),
                self.token,
            )
        return self.shared.acquire()

    # The hooks, registered on the config as a plugin of their own.
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Take this process's share of the mock before the first test: under xdist,
        every worker is then a user before any of them can finish."""
        if (
            self.outside
            or session.config.option.collectonly
            or not any(_uses_our_mock(item) for item in session.items)
        ):
            return
        with contextlib.suppress(MockServerError):  # the fixture raises it, in a test
            self.url()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.shared is not None:
            report = self.shared.release()
            if report is not None:
                self.reports.append(report)
        if hasattr(self.config, "workerinput"):  # the controller sums and judges
            output = self.config.workeroutput  # type: ignore[attr-defined]
            output[COVERAGE_KEY] = json.dumps(
                {"reports": self.reports, "per_session": self.per_session}
            )
            return
        if not self.reports:
            return
        self.final = merge_reports(self.reports)
        if self.report_path is not None:
            write_report(self.report_path, self.final, self.fail_under)
        if _verdict(self.final, self.fail_under) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist's controller: a worker finished, with its coverage reports."""
        output = getattr(node, "workeroutput", None) or {}
        sent = json.loads(output.get(COVERAGE_KEY, "{}"))
        self.reports.extend(sent.get("reports", []))
        self.per_session = self.per_session or bool(sent.get("per_session"))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        if self.final is None:
            if self.fail_under is not None or self.report_path is not None:
                terminalreporter.write_sep("=", "mockserver coverage")
                terminalreporter.write_line(
                    "no coverage was gathered (no test used the mock, or it did not start): "
                    "nothing to judge or write"
                )
            return
        per_session = self.per_session or self.outside
        where = "the tests' sessions" if per_session else "every session of the mock"
        terminalreporter.write_sep("=", f"mockserver coverage ({where})")
        for line in summary_lines(self.final, self.fail_under):
            red = line.startswith("FAILED")
            terminalreporter.write_line(line, red=red, bold=red)
        if self.report_path is not None:
            terminalreporter.write_line(f"coverage report written to {self.report_path}")


RUN = pytest.StashKey[RunCoverage]()


def _uses_our_mock(item: pytest.Item) -> bool:
    """`item` needs the `mockserver_url` of this plugin (not one a conftest overrides)."""
    if "mockserver_url" not in getattr(item, "fixturenames", ()):
        return False
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the fixtures used
    definitions = getattr(info, "name2fixturedefs", {}).get("mockserver_url")
    if not definitions:
        return True
    return getattr(definitions[-1].func, "__module__", None) == __name__


def pytest_configure(config: pytest.Config) -> None:
    run = RunCoverage(config, _fail_under(config), _report_path(config), _option(config, "url"))
    run.wait = _url_wait(config)
    config.stash[RUN] = run
    config.pluginmanager.register(run, "mockserver-run")


@pytest.fixture(scope="session")
def mockserver_url(pytestconfig: pytest.Config) -> str:
    """The base URL of the mock this test run uses (one for all xdist workers)."""
    return pytestconfig.stash[RUN].url()


@pytest.fixture
def mockserver(mockserver_url: str, pytestconfig: pytest.Config) -> Iterator[MockSession]:
    """A fresh mock session for this test; its scenarios and journal are cleared after,
    its coverage stays counted."""
    run = pytestconfig.stash[RUN]
    session = MockSession(mockserver_url, f"pytest-{uuid.uuid4().hex[:12]}", run.token)
    yield session
    if run.outside or run.shared is None:  # an outside mock, or a conftest's: may be shared
        run.add(session.coverage())
        run.per_session = True
    # (a mock of ours is read whole, every session, by its last user)
    session.reset()
