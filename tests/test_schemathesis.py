"""Schemathesis against the mock, in process, for every bundled spec.

Each spec in `specs/` is loaded by Schemathesis and every operation is tested twice:
once with positive data (valid per the schema: it must be accepted) and once with
negative data (invalid: it must be rejected with a documented 4xx). Every Schemathesis
check is on (`not_a_server_error`, `status_code_conformance`,
`content_type_conformance`, `response_schema_conformance`,
`response_headers_conformance`, `positive_data_acceptance`,
`negative_data_rejection`, `missing_required_header`, `ignored_auth`,
`unsupported_method`, `allow_header_conformance`, `use_after_free`,
`ensure_resource_availability`, `object_level_authorization`), and every phase that
applies to one operation runs (examples, coverage, fuzzing).

Requests go through Schemathesis' WSGI transport to the app built once for the whole
session (`app` in conftest.py): no network, no server process.

Runs are reproducible: a fixed seed, Hypothesis derandomised, no example database,
and a small `max-examples` per operation and mode so the file stays well inside the
CI time budget.

Exclusions are per check and per operation, each with the reason next to it in
`EXCLUDED_CHECKS`; nothing else is switched off.
"""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))

SEED = 4010
# Fuzzed cases per operation and mode; the examples and coverage phases add their own
# (deterministic) cases on top.
MAX_EXAMPLES = 25
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)

# (operationId, check name) -> why that check cannot hold for that operation by design.
EXCLUDED_CHECKS: dict[tuple[str, str], str] = {
    # `time` carries `x-time-window` (specs/huawei-ces-events.yaml): the doc requires the
    # timestamp to lie within [now - 1h + 10s, now + 10 min - 10s] when the request
    # arrives, and the server enforces it with the documented 400. Schema-based
    # generation cannot know the current time, so "positive" bodies (valid per the JSON
    # Schema) are rejected by design. Every other check still runs for reportEvents,
    # in both modes.
    (
        "reportEvents",
        "positive_data_acceptance",
    ): "x-time-window on `time`: schema-valid timestamps lie outside the accepted window",
}


def _config(mode: GenerationMode) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": mode.value,
                "max-examples": MAX_EXAMPLES,
                # Hypothesis `derandomize=True`: the same cases on every run and machine.
                "deterministic": True,
                "database": "none",
            },
            # A failing case is reported as found; shrinking it would only cost CI time.
            "operations": [
                {"include-operation-id": operation_id, "checks": {check: {"enabled": False}}}
                for operation_id, check in EXCLUDED_CHECKS
            ],
        }
    )


def _api_id(spec: Path) -> str:
    return spec.stem


def _operation_ids(spec: Path) -> set[str]:
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    return {
        operation["operationId"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    }


# Cases executed, per (api, mode, operationId): proof that no test passed vacuously.
EXECUTED: Counter[tuple[str, str, str]] = Counter()


def _make_test(api_id: str, mode: GenerationMode) -> Any:
    def run(case: Case, app: Flask) -> None:
        EXECUTED[(api_id, mode.value, case.operation.definition.raw["operationId"])] += 1
        case.call_and_validate(app=app)

    run.__name__ = f"test_{mode.value}_{api_id.replace('-', '_')}"
    return run


SCHEMAS: dict[tuple[str, GenerationMode], Any] = {}
for _spec in SPECS:
    for _mode in MODES:
        _schema = schemathesis.openapi.from_path(_spec, config=_config(_mode))
        SCHEMAS[(_api_id(_spec), _mode)] = _schema
        _test = _schema.parametrize()(_make_test(_api_id(_spec), _mode))
        globals()[_test.__name__] = _test
del _spec, _mode, _schema, _test


@pytest.fixture(autouse=True)
def _cases_were_executed(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each generated test: at least one case of that operation really ran."""
    before = sum(EXECUTED.values())
    yield
    if getattr(request.node, "operation_label", None) is not None:
        assert sum(EXECUTED.values()) > before, f"{request.node.nodeid} executed no case"


def test_every_operation_is_parametrized_in_both_modes() -> None:
    """25 operations x 2 modes, exactly the operations the spec files document."""
    expected = {(_api_id(spec), op) for spec in SPECS for op in _operation_ids(spec)}
    assert len(expected) == 25
    assert len(SPECS) == 4
    for mode in MODES:
        found = set()
        for (api_id, schema_mode), schema in SCHEMAS.items():
            if schema_mode is not mode:
                continue
            for result in schema.get_all_operations():
                operation = result.ok()
                found.add((api_id, operation.definition.raw["operationId"]))
            assert schema.config.generation.modes == [mode]
        assert found == expected, mode


def test_exclusions_are_exact() -> None:
    """Each exclusion names a real operation and a real check, and removes only that."""
    load_all_checks()
    names = set(CHECKS.get_all_names())
    operation_ids = {op for spec in SPECS for op in _operation_ids(spec)}
    for (operation_id, check), reason in EXCLUDED_CHECKS.items():
        assert operation_id in operation_ids
        assert check in names
        assert reason
    for (_, _mode), schema in SCHEMAS.items():
        for result in schema.get_all_operations():
            operation = result.ok()
            operation_id = operation.definition.raw["operationId"]
            checks = schema.config.checks_config_for(operation=operation)
            for name in names:
                expected = (operation_id, name) not in EXCLUDED_CHECKS
                assert checks.get_by_name(name=name).enabled is expected, (operation_id, name)
