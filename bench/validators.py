"""jsonschema against jsonschema-rs (what mockserver validates requests with), on our schemas.

Run on purpose (never part of pytest), from the project root:

    .venv/bin/python bench/validators.py            # prints, and writes bench/validators.md
    .venv/bin/python bench/validators.py --quick    # fewer iterations

What is compared, each with a validator built once and used many times:

* jsonschema: the Python validator mockserver still builds for responses
  (`SchemaContext.validator(schema, for_request=False)`: 2020-12, mockserver's format
  checker, refs resolved in the spec's registry), called as `list(iter_errors(body))`;
* jsonschema-rs: mockserver's own request validator for the same body, taken from the
  compiled operation (`mockserver.spec.load_apis` -> `op.body.media[0].validator`, a
  `schemas.RequestValidator`: jsonschema-rs with `x-time-window` and the int32/int64
  ranges as custom keywords), called as the server calls it: `list(iter_errors(body))`,
  and `is_valid`.

Instances: the Huawei 3-event body (CreateEventsRequest, time generated now) and the
Harness workspace body (WorkspaceEventRequest, the spec's own example), each valid and
invalid. Then the errors each gives for the invalid instances, side by side: the field
and rule mockserver reports must be the same from both.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mockserver.schemas import RequestValidator, SchemaContext, error_field  # noqa: E402
from mockserver.spec import load_apis, read_document  # noqa: E402


# -- instances ---------------------------------------------------------------------------
def huawei_valid() -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT / "bench"))
    from run import huawei_events  # the body bench/run.py sends in scenario (a)

    return huawei_events()


def huawei_invalid() -> list[dict[str, Any]]:
    body = huawei_valid()
    body[0]["time"] = 1522121194000  # 2018: outside the time window (x-time-window)
    body[0]["event_name"] = "9-bad name"  # pattern
    del body[1]["event_source"]  # required
    body[1]["detail"]["event_level"] = "Catastrophic"  # enum
    body[2]["detail"]["dimensions"] = [{"name": "n"}] * 5  # maxItems; each misses value
    body[2]["time"] = 2**64  # type integer ok, int64 format out of range
    return body


def harness_valid(document: dict[str, Any]) -> dict[str, Any]:
    op = document["paths"]["/iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}/events"]
    return copy.deepcopy(
        op["post"]["requestBody"]["content"]["application/json"]["examples"]["fromDoc"]["value"]
    )


def harness_invalid(document: dict[str, Any]) -> dict[str, Any]:
    body = harness_valid(document)
    body["event_type"] = "exploded"  # enum
    body["data"]["count"] = 3  # additionalProperties: string
    body["metadata"]["drift_counts"]["added"] = "many"  # type integer
    del body["metadata"]["resource_counts"]["unchanged"]  # required
    body["metadata"]["enable_solutions_factory"] = "yes"  # type boolean
    return body


# -- the two validators --------------------------------------------------------------------
def body_validator(apis: list[Any], operation_id: str) -> tuple[Any, Any]:
    """(the request validator mockserver uses, the raw schema node) for an operation's body."""
    for api in apis:
        for op in api.operations:
            if op.operation_id == operation_id:
                media = op.body.media[0]
                return media.validator, media.schema
    raise KeyError(operation_id)


# -- timing -----------------------------------------------------------------------------------
def per_call_us(fn: Callable[[], Any], budget_s: float, repeats: int = 5) -> dict[str, float]:
    """Median and best of `repeats` rounds, in microseconds per call."""
    fn()
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 0.05:
        fn()
        n += 1
    per = (time.perf_counter() - t0) / n
    iterations = max(20, int(budget_s / repeats / per))
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        rounds.append((time.perf_counter() - start) / iterations * 1e6)
    return {
        "median_us": statistics.median(rounds),
        "best_us": min(rounds),
        "iterations": iterations * repeats,
    }


def _all_errors(validator: Any, instance: Any) -> list[Any]:
    return list(validator.iter_errors(instance))


# -- error mapping -----------------------------------------------------------------------------
def js_errors(validator: Any, instance: Any) -> list[dict[str, str]]:
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]
    )
    return [
        {"field": error_field(e), "rule": str(e.validator), "message": e.message} for e in errors
    ]


def rs_errors(validator: RequestValidator, instance: Any) -> list[dict[str, str]]:
    violations = sorted(validator.iter_errors(instance), key=lambda v: [str(p) for p in v.path])
    return [{"field": v.field, "rule": v.rule, "message": v.message} for v in violations]


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="jsonschema vs jsonschema-rs on our schemas")
    parser.add_argument("--quick", action="store_true", help="about 0.2 s per measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "validators.md")
    args = parser.parse_args(argv)
    budget = 0.2 if args.quick else 1.0
    from importlib.metadata import version

    specs = [ROOT / "specs" / "huawei-ces-events.yaml", ROOT / "specs" / "harness-iacm.yaml"]
    apis = load_apis(specs)
    docs = {p.stem: read_document(p) for p in specs}
    ctxs = {name: SchemaContext(name, doc) for name, doc in docs.items()}

    cases = []
    for api_id, op_id, valid, invalid in (
        ("huawei-ces-events", "reportEvents", huawei_valid(), huawei_invalid()),
        (
            "harness-iacm",
            "sendWorkspaceEvent",
            harness_valid(docs["harness-iacm"]),
            harness_invalid(docs["harness-iacm"]),
        ),
    ):
        fast, schema = body_validator(apis, op_id)
        t0 = time.perf_counter()
        ctxs[api_id].validator(schema, for_request=True)  # built again, only to time it
        rs_build_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        # The Python validator has no x-time-window: it is a request-only keyword.
        js = ctxs[api_id].validator(schema, for_request=False)
        js_build_ms = (time.perf_counter() - t0) * 1000
        cases.append((api_id, op_id, js, fast, valid, invalid, js_build_ms, rs_build_ms))

    load = Path("/proc/loadavg").read_text().split()[0]
    rows, comparisons, results = [], [], []
    for _api_id, op_id, js, fast, valid, invalid, js_build, rs_build in cases:
        assert not list(js.iter_errors(valid)), f"{op_id}: the valid body is not valid (jsonschema)"
        assert not list(fast.iter_errors(valid)), f"{op_id}: the valid body is not valid (rs)"
        measured = {
            "valid, list(iter_errors)": (
                per_call_us(partial(_all_errors, js, valid), budget),
                per_call_us(partial(_all_errors, fast, valid), budget),
            ),
            "valid, is_valid": (
                per_call_us(partial(js.is_valid, valid), budget),
                per_call_us(partial(fast.is_valid, valid), budget),
            ),
            "invalid, list(iter_errors)": (
                per_call_us(partial(_all_errors, js, invalid), budget),
                per_call_us(partial(_all_errors, fast, invalid), budget),
            ),
        }
        for what, (a, b) in measured.items():
            rows.append(
                f"| {op_id} | {what} | {a['median_us']:.1f} | {b['median_us']:.1f} | "
                f"{a['median_us'] / b['median_us']:.1f}x | {a['iterations']}/{b['iterations']} |"
            )
            results.append({"operation": op_id, "case": what, "jsonschema": a, "jsonschema_rs": b})
        rows.append(
            f"| {op_id} | build the validator (ms) | {js_build:.2f} | {rs_build:.2f} | "
            f"{js_build / rs_build:.1f}x | 1/1 |"
        )
        a_err, b_err = js_errors(js, invalid), rs_errors(fast, invalid)
        comparisons.append((op_id, invalid, a_err, b_err))

    lines = [
        "# Validators: jsonschema against jsonschema-rs",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by "
        f"`.venv/bin/python bench/validators.py{' --quick' if args.quick else ''}` on "
        f"{os.cpu_count()} cores ({_cpu()}), Python {platform.python_version()}, "
        f"jsonschema {version('jsonschema')}, jsonschema-rs {version('jsonschema_rs')}; "
        f"load average (1 min) at start: {load}, at end: "
        f"{Path('/proc/loadavg').read_text().split()[0]}.",
        "",
        "Each validator is built once; figures are the median of 5 rounds, in microseconds "
        "per validation (the instance's conversion from Python objects included for "
        "jsonschema-rs). `list(iter_errors)` is what mockserver/validation.py calls. "
        "Building: jsonschema compiles nothing up front (it resolves `$ref`s on every "
        "call, which is part of its per-call cost); jsonschema-rs compiles the whole "
        "schema when built.",
        "",
        "| operation | case | jsonschema µs | jsonschema-rs µs | speed-up | iterations |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "## Errors for the invalid instances",
        "",
        "`field` is what mockserver reports as the violation's name: for jsonschema "
        "`schemas.error_field` (the instance path, plus the missing property of `required`, "
        "which jsonschema gives only inside the message); for jsonschema-rs the "
        "`SchemaViolation` mockserver's request validator yields. `rule` is jsonschema's "
        "`error.validator` against the violation's rule.",
        "",
    ]
    for op_id, invalid, a_err, b_err in comparisons:
        lines += [
            f"### {op_id}",
            "",
            "Instance:",
            "",
            "```json",
            json.dumps(invalid, indent=None)[:1500],
            "```",
            "",
            "| library | field | rule | message |",
            "|---|---|---|---|",
        ]
        for lib, errs in (("jsonschema", a_err), ("jsonschema-rs", b_err)):
            for e in errs:
                msg = e["message"].replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {lib} | `{e['field']}` | {e['rule']} | {msg[:220]} |")
        same = sorted((e["field"], e["rule"]) for e in a_err) == sorted(
            (e["field"], e["rule"]) for e in b_err if e["rule"] != "x-time-window"
        )
        lines += [
            "",
            "Same (field, rule) pairs from both, x-time-window aside (the Python validator "
            f"has no request-only keyword): **{'yes' if same else 'no'}** "
            f"({len(a_err)} errors from jsonschema, {len(b_err)} from jsonschema-rs).",
            "",
        ]
    lines += [
        "mockserver's request validator reads the field and rule from jsonschema-rs's "
        "error data (`error.instance_path`, `error.kind`), and adapts its messages where "
        "they served the user less well: `mockserver/schemas.py` says how.",
        "",
    ]
    lines += _format_notes()
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {
                "results": results,
                "errors": [
                    {"operation": c[0], "jsonschema": c[2], "jsonschema_rs": c[3]}
                    for c in comparisons
                ],
            },
            indent=2,
        )
        + "\n"
    )
    print(text)
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


def _format_notes() -> list[str]:
    """Where the two differ on formats mockserver relies on, checked, not assumed."""
    import jsonschema_rs
    from jsonschema import Draft202012Validator

    from mockserver.schemas import FORMAT_CHECKER

    notes = [
        "## Formats",
        "",
        "| schema | instance | jsonschema (mockserver's checker) | "
        "jsonschema-rs (validate_formats) | mockserver's RequestValidator |",
        "|---|---|---|---|---|",
    ]
    probes = [
        ({"type": "integer", "format": "int64"}, 2**64),
        ({"type": "integer", "format": "int32"}, 2**31),
        ({"type": "string", "format": "uuid"}, "not-a-uuid"),
        ({"type": "string", "format": "date-time"}, "2024-13-01T00:00:00Z"),
        ({"type": "string", "format": "date-time"}, "yesterday"),
        ({"type": "string", "format": "email"}, "no-at-sign"),
        ({"type": "string", "format": "uri"}, "not a uri"),
        ({"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$"}, "9abc"),
    ]
    for schema, instance in probes:
        js_ok = Draft202012Validator(schema, format_checker=FORMAT_CHECKER).is_valid(instance)
        rs_ok = jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(instance)
        rs_kw = RequestValidator(schema).is_valid(instance)
        notes.append(
            f"| `{json.dumps(schema)}` | `{json.dumps(instance)}` | "
            f"{'accepts' if js_ok else 'rejects'} | {'accepts' if rs_ok else 'rejects'} | "
            f"{'accepts' if rs_kw else 'rejects'} |"
        )
    notes.append("")
    return notes


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
