"""Schemathesis against the mock, in process, for every bundled spec.

Every spec in `specs/` is loaded by Schemathesis twice, once per generation mode, and
every operation becomes one test per mode (25 operations x 2 modes):

- positive: data valid per the schema, which the mock must accept;
- negative: data that breaks the schema, which the mock must reject with a documented
  4xx.

All of Schemathesis' checks are on (`not_a_server_error`, `status_code_conformance`,
`content_type_conformance`, `response_schema_conformance`,
`response_headers_conformance`, `positive_data_acceptance`, `negative_data_rejection`,
`missing_required_header`, `ignored_auth`, `unsupported_method`,
`allow_header_conformance`, `use_after_free`, `ensure_resource_availability`,
`object_level_authorization`) for every operation, in every phase that applies to a
single operation (the spec's examples, the deterministic coverage cases, then
fuzzing): no check is switched off anywhere.

`ignored_auth` works as for a real API: the app is started with
`--credential x-api-key=API_KEY` and Schemathesis sends that key, so it can check
that the same request without a key, and with a made-up one, is refused with 401.

Schemathesis plays two parts of a well-behaved client that its WSGI transport does
not: Werkzeug's test client leaves `!$'()*,/:;?@` unencoded in the query (the WHATWG
URL rules), which no parameter of the bundled specs allows (`allowReserved`), so the
query is percent-encoded as `requests` encodes it (`_client_encodes_the_query`);
and `reportEvents` documents that each event's `time` lies within an hour of now
(`x-time-window`), which generated integers cannot know, so a body generated as
valid carries the current time, as a client of that API does (`_client_sends_now`).

Requests go through Schemathesis' WSGI transport to the app built once, at collection
(`SECURED_APP`): no network, no server process.

Runs are reproducible and bounded: a fixed seed, Hypothesis derandomised, no example
database, and `MAX_EXAMPLES` fuzzed cases per operation and mode.

Negative `getProjectSubscriptions` has one parameter, an unconstrained string in the
path: no value breaks its schema, so after its coverage cases (undeclared methods)
Schemathesis reports it skipped with "Impossible to generate negative test cases".
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from flask import Flask
from schemathesis import Case, GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.hypothesis.builder import ApiOperationMark

from mockserver.app import create_app
from mockserver.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
OPERATIONS_PER_MODE = 25

SEED = 4010
# Fuzzed cases per operation and mode. The examples and coverage phases add their own
# deterministic cases on top of these.
MAX_EXAMPLES = 50
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})

API_KEY = "schemathesis-key-4010"
"""The one x-api-key the app accepts (`--credential x-api-key=...`)."""
RAW_IN_WERKZEUG_QUERIES = frozenset("!$'()*,/:;?@")


def _config(mode: GenerationMode) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # `too_slow` is the one health check that depends on the machine's speed, not
            # on the (derandomised) data: a slow CI runner must not fail a run for it.
            "suppress-health-check": ["too_slow"],
            "generation": {
                "mode": mode.value,
                "max-examples": MAX_EXAMPLES,
                # Hypothesis `derandomize=True`: the same cases on every run and machine.
                "deterministic": True,
                "database": "none",
            },
        }
    )


def _operation_id(case_or_operation: Any) -> str:
    operation = getattr(case_or_operation, "operation", case_or_operation)
    return str(operation.definition.raw["operationId"])


def _spec_operations(spec: Path) -> dict[str, str]:
    """operationId -> "METHOD /path", as the spec file documents them."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    return {
        operation["operationId"]: f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def _spec_operation_ids(spec: Path) -> set[str]:
    return set(_spec_operations(spec))


def _client_encodes_the_query(wsgi_app: Any) -> Any:
    """The app behind a client that percent-encodes reserved characters in the query."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        query = environ.get("QUERY_STRING") or ""
        if any(char in RAW_IN_WERKZEUG_QUERIES for char in query):
            environ["QUERY_STRING"] = "".join(
                f"%{ord(char):02X}" if char in RAW_IN_WERKZEUG_QUERIES else char for char in query
            )
        return wsgi_app(environ, start_response)

    return app


def _client_sends_now(case: Case) -> None:
    """A `reportEvents` body generated as valid carries the current time in each event."""
    if _operation_id(case) != "reportEvents" or not isinstance(case.body, list):
        return
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.BODY):
        return
    now = int(time.time() * 1000)
    for event in case.body:
        stamp = event.get("time") if isinstance(event, dict) else None
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            event["time"] = now


def _secured_app() -> Flask:
    """The app on the bundled specs, accepting only API_KEY as the x-api-key."""
    engine = Engine.from_paths(
        [ROOT / "specs"], ROOT / "fixtures", credentials=[f"x-api-key={API_KEY}"]
    )
    app = create_app(engine=engine)
    app.wsgi_app = _client_encodes_the_query(app.wsgi_app)  # type: ignore[method-assign]
    return app


SECURED_APP = _secured_app()
"""Built once, at collection: each schema sends its cases (and `ignored_auth` its
probes) to it."""


@pytest.fixture(scope="module")
def secured_app() -> Flask:
    return SECURED_APP


# Cases executed per (test name, operationId): proof that no test passed vacuously.
EXECUTED: Counter[tuple[str, str]] = Counter()


def _make_test(api_id: str, mode: GenerationMode) -> Any:
    name = f"test_{mode.value}_{api_id.replace('-', '_')}"

    def run(case: Case, secured_app: Flask, operation_id: str) -> None:
        assert _operation_id(case) == operation_id
        EXECUTED[(name, operation_id)] += 1
        _client_sends_now(case)
        # The key as an explicit header: `ignored_auth` then knows it is the valid one.
        case.call_and_validate(app=secured_app, headers={"x-api-key": API_KEY})

    run.__name__ = name
    return run


SCHEMAS: dict[tuple[str, GenerationMode], Any] = {}
for _spec in SPECS:
    for _mode in MODES:
        _schema = schemathesis.openapi.from_path(_spec, config=_config(_mode))
        _schema.app = SECURED_APP
        SCHEMAS[(_spec.stem, _mode)] = _schema
        _test = _schema.parametrize()(_make_test(_spec.stem, _mode))
        globals()[_test.__name__] = _test
del _spec, _mode, _schema, _test


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give each generated test its operationId as a parameter.

    Under pytest 9, Schemathesis 4 names its items `test_x[GET /path]` but, for a test
    without parameters, builds the node id from the bare function name: the 12 escapekit
    operations would share one node id, and a failure would not say which operation it
    is. With a parameter the node id is the item's name plus it, unique and selectable:
    `tests/test_schemathesis.py::test_positive_socotra_events[GET /event/...][fetchEvent]`.
    """
    operation = ApiOperationMark.get(metafunc.function)
    if operation is not None:
        operation_id = _operation_id(operation)
        metafunc.parametrize("operation_id", [operation_id], ids=[operation_id])


@pytest.fixture(autouse=True)
def _cases_were_executed(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each generated test: cases of that operation really reached the app."""
    yield
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and "operation_id" in callspec.params:
        key = (request.node.originalname.split("[")[0], callspec.params["operation_id"])
        assert EXECUTED[key] > 0, f"{request.node.nodeid} executed no case"


def test_every_operation_is_collected_in_both_modes() -> None:
    """50 generated tests, one per documented operation and mode, each with its own id."""
    expected = {
        f"test_{mode.value}_{spec.stem.replace('-', '_')}[{label}][{operation_id}]"
        for spec in SPECS
        for operation_id, label in _spec_operations(spec).items()
        for mode in MODES
    }
    assert len(SPECS) == 4
    assert len(expected) == OPERATIONS_PER_MODE * len(MODES)
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(Path(__file__)),
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    node_ids = [
        line.split("::", 1)[1]
        for line in collected.stdout.splitlines()
        if "::test_positive_" in line or "::test_negative_" in line
    ]
    assert len(node_ids) == len(set(node_ids)), "node ids must be unique"
    assert set(node_ids) == expected


def test_every_operation_is_loaded_in_both_modes() -> None:
    """Each schema yields exactly its spec's operations, valid, in its one mode."""
    for (api_id, mode), schema in SCHEMAS.items():
        spec = ROOT / "specs" / f"{api_id}.yaml"
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {_operation_id(op) for op in operations} == _spec_operation_ids(spec)
        assert schema.config.generation.modes == [mode]
    total = sum(len(_spec_operation_ids(spec)) for spec in SPECS)
    assert total == OPERATIONS_PER_MODE


@pytest.mark.parametrize("phase", ["examples", "coverage", "fuzzing"])
def test_every_check_is_on_everywhere(phase: str) -> None:
    """Every check is on for every operation, mode and phase: nothing is excluded."""
    load_all_checks()
    names = set(CHECKS.get_all_names())
    assert {
        "not_a_server_error",
        "positive_data_acceptance",
        "negative_data_rejection",
        "ignored_auth",
        "response_schema_conformance",
    } <= names
    for (_, mode), schema in SCHEMAS.items():
        for result in schema.get_all_operations():
            operation = result.ok()
            checks = schema.config.checks_config_for(operation=operation, phase=phase)
            for name in names:
                assert checks.get_by_name(name=name).enabled, (mode, operation, name)


def test_a_wrong_or_missing_key_is_refused(secured_app: Flask) -> None:
    """What `ignored_auth` relies on, shown directly: only API_KEY passes."""
    client = secured_app.test_client()
    path = "/iacm/api/modules/146/events"
    body = {"account": "7", "eventType": "apply", "org": "v", "project": "7ja"}
    accepted = client.post(path, json=body, headers={"x-api-key": API_KEY})
    wrong = client.post(path, json=body, headers={"x-api-key": "not-the-key"})
    missing = client.post(path, json=body)
    assert wrong.status_code == missing.status_code == 401, (wrong.text, missing.text)
    assert 200 <= accepted.status_code < 300, accepted.text
    assert wrong.headers["WWW-Authenticate"].startswith("ApiKey ")
