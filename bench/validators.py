"""jsonschema (what mockserver uses) against jsonschema-rs, on mockserver's own schemas.

Run on purpose (never part of pytest), from the project root:

    .venv/bin/python bench/validators.py            # prints, and writes bench/validators.md
    .venv/bin/python bench/validators.py --quick    # fewer iterations

jsonschema-rs is installed into the venv if missing (`pip install jsonschema-rs`); it
is for this measurement only (schemathesis, a dev dependency, happens to pull it in).

What is compared, each with a validator built once and used many times:

* jsonschema: the exact validator mockserver uses for the request body, taken from the
  compiled operation (`mockserver.spec.load_apis` -> `op.body.media[0].validator`: the
  2020-12 validator extended with `x-time-window`, with mockserver's format checker),
  called as the server calls it: `list(validator.iter_errors(body))`;
* jsonschema-rs: `validator_for` on the same rebased schema, with the whole spec in a
  `Registry` under the same base URI, `validate_formats=True`, and `x-time-window` as a
  custom keyword; called as `list(iter_errors(body))` too, and `is_valid` for the valid
  case (the fast path a server could take first).

Instances: the Huawei 3-event body (CreateEventsRequest, time generated now) and the
Harness workspace body (WorkspaceEventRequest, the spec's own example), each valid and
invalid. Then the errors each library gives for the invalid instances, side by side,
and whether jsonschema-rs gives what mockserver/validation.py needs: the instance path,
the failing keyword, and (for `required`) the missing property.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mockserver.schemas import INT32, INT64, SchemaContext, error_field  # noqa: E402
from mockserver.spec import load_apis, read_document  # noqa: E402


def ensure_jsonschema_rs() -> Any:
    try:
        return importlib.import_module("jsonschema_rs")
    except ImportError:
        print("validators: installing jsonschema-rs into the venv (for this measurement only)")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "jsonschema-rs"], check=True, timeout=600
        )
        return importlib.import_module("jsonschema_rs")


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


class TimeWindow:
    """`x-time-window` for jsonschema-rs: the same rule as mockserver.schemas._time_window."""

    def __init__(self, parent_schema: dict[str, Any], value: Any, schema_path: list[Any]) -> None:
        self.unit = str(value.get("unit", "ms"))
        self.scale = {"ms": 1000.0, "s": 1.0}.get(self.unit, 1000.0)
        self.before = float(value.get("before", 0))
        self.after = float(value.get("after", 0))
        self.raw = value

    def validate(self, instance: Any) -> None:
        if isinstance(instance, bool) or not isinstance(instance, int | float):
            return
        now = time.time() * self.scale
        if not now - self.before <= instance <= now + self.after:
            raise ValueError(
                f"{instance} is outside the accepted time window [now - "
                f"{self.raw.get('before', 0)}{self.unit}, now + {self.raw.get('after', 0)}"
                f"{self.unit}] (now is {int(now)})"
            )


class IntFormat:
    """OpenAPI's int32/int64 ranges for jsonschema-rs: its `formats` only see strings."""

    def __init__(self, parent_schema: dict[str, Any], value: Any, schema_path: list[Any]) -> None:
        self.bounds = {"int32": INT32, "int64": INT64}.get(value)

    def validate(self, instance: Any) -> None:
        if self.bounds is None or isinstance(instance, bool) or not isinstance(instance, int):
            return
        low, high = self.bounds
        if not low <= instance <= high:
            raise ValueError(f"{instance} is out of the {low}..{high} range of this format")


def mark_int_formats(node: Any) -> Any:
    """A copy of `node` with `x-int-format` beside every `format: int32|int64`.

    jsonschema-rs hands custom `formats` strings only, and a custom keyword named
    `format` replaces the built-in one (uuid, date-time, ... would go unchecked), so
    the integer ranges get a keyword of their own.
    """
    if isinstance(node, dict):
        out = {key: mark_int_formats(value) for key, value in node.items()}
        if node.get("format") in ("int32", "int64"):
            out["x-int-format"] = node["format"]
        return out
    if isinstance(node, list):
        return [mark_int_formats(item) for item in node]
    return node


RS_RULES = {"x-int-format": "format"}
"""jsonschema-rs keyword names that stand for a jsonschema one."""


def rs_validator(rs: Any, ctx: SchemaContext, schema: Any) -> Any:
    registry = rs.Registry([(ctx.base_uri, mark_int_formats(ctx.document))])
    rebased = mark_int_formats(ctx.rebase(schema))
    return rs.validator_for(
        rebased,
        registry=registry,
        validate_formats=True,
        keywords={"x-time-window": TimeWindow, "x-int-format": IntFormat},
    )


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


def rs_field(error: Any) -> str:
    """error_field's rule for jsonschema-rs: instance path, plus the missing property."""
    text = ""
    for part in error.instance_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    prop = getattr(error.kind, "property", None)
    if error.kind.name == "required" and prop is not None:
        text = f"{text}.{prop}" if text else str(prop)
    return text


def rs_errors(validator: Any, instance: Any) -> list[dict[str, str]]:
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: [str(p) for p in e.instance_path]
    )
    return [
        {
            "field": rs_field(e),
            "rule": RS_RULES.get(e.kind.name, e.kind.name),
            "message": e.message,
            "details": _details(e),
        }
        for e in errors
    ]


def _details(error: Any) -> str:
    try:
        return json.dumps(error.kind.as_dict(), default=str)[:200]
    except Exception:  # custom keywords carry only their message
        return ""


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="jsonschema vs jsonschema-rs on our schemas")
    parser.add_argument("--quick", action="store_true", help="about 0.2 s per measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "validators.md")
    args = parser.parse_args(argv)
    budget = 0.2 if args.quick else 1.0
    rs = ensure_jsonschema_rs()
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
        _, schema = body_validator(apis, op_id)
        t0 = time.perf_counter()
        fast = rs_validator(rs, ctxs[api_id], schema)
        rs_build_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        # The server's request validators are jsonschema-rs now; the Python side is the
        # `jsonschema` validator the server still builds for responses (same document and
        # formats, without the request-only x-time-window keyword).
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
        "which jsonschema gives only inside the message); for jsonschema-rs the same rule "
        "from `error.instance_path` and `error.kind.property`. `rule` is jsonschema's "
        "`error.validator` against jsonschema-rs's `error.kind.name`.",
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
            "| library | field | rule | message | `error.kind.as_dict()` (jsonschema-rs) |",
            "|---|---|---|---|---|",
        ]
        for lib, errs in (("jsonschema", a_err), ("jsonschema-rs", b_err)):
            for e in errs:
                msg = e["message"].replace("|", "\\|").replace("\n", " ")
                details = e.get("details", "").replace("|", "\\|")
                lines.append(
                    f"| {lib} | `{e['field']}` | {e['rule']} | {msg[:220]} | "
                    f"{'`' + details + '`' if details else ''} |"
                )
        same = sorted((e["field"], e["rule"]) for e in a_err) == sorted(
            (e["field"], e["rule"]) for e in b_err
        )
        lines += [
            "",
            f"Same (field, rule) pairs from both: **{'yes' if same else 'no'}** "
            f"({len(a_err)} errors from jsonschema, {len(b_err)} from jsonschema-rs).",
            "",
        ]
    lines += [
        "jsonschema-rs in these runs: the custom keywords (`x-time-window`, and "
        "`x-int-format` added beside `format: int32|int64`, reported as `format`) are Python "
        "classes it calls back; its `error.kind.name` is the failing keyword, "
        "`error.instance_path` the location, and `error.kind.as_dict()` the structured "
        "details (`property` of `required`, `options` of `enum`, `limit` of `maxItems`), so "
        "`schemas.error_field` would no longer need to parse the message. Its messages quote "
        "JSON (`\"x\"`) where jsonschema quotes Python (`'x'`), and shorten long `enum` lists "
        "(`or 7 other candidates`); `kind.as_dict()['options']` has them all.",
        "",
    ]
    lines += _format_notes(rs)
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


def _format_notes(rs: Any) -> list[str]:
    """Where the two differ on formats mockserver relies on, checked, not assumed."""
    from jsonschema import Draft202012Validator

    from mockserver.schemas import FORMAT_CHECKER

    notes = [
        "## Formats",
        "",
        "| schema | instance | jsonschema (mockserver's checker) | "
        "jsonschema-rs (validate_formats) | jsonschema-rs + int format keyword |",
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
        rs_ok = rs.validator_for(schema, validate_formats=True).is_valid(instance)
        rs_kw = rs.validator_for(
            {k: v for k, v in schema.items()}
            | (
                {"x-int-format": schema["format"]}
                if schema.get("format", "").startswith("int")
                else {}
            ),
            validate_formats=True,
            keywords={"x-int-format": IntFormat},
        ).is_valid(instance)
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
