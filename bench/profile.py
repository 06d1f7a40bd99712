"""Where the time of one mockserver request goes, for scenarios (a) and (b) of bench/run.py.

Run on purpose (never part of pytest), from the project root:

    .venv/bin/python bench/profile.py            # writes bench/PROFILE.md
    .venv/bin/python bench/profile.py --seconds 1

pyinstrument is installed into the venv if missing (`pip install pyinstrument`), for
this measurement only. In-process, nothing on the network:

* `Engine.handle(record)` alone: routing, controls, validation, response;
* the whole app through Flask's test client, set up as `mockserver serve` sets it
  up (a file-backed LocalStore, the access log on, written to /dev/null), so the
  gateway (environ -> engine -> bytes), the journal and the log line are in.

For each, the mean time per request (measured without the profiler), then the
profile: the functions with the most time of their own (self) and the most time
spent inside them (inclusive), each as a share of the whole, and the share of each
package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import TENANT, huawei_events  # noqa: E402

from mockserver.app import Settings, create_app  # noqa: E402
from mockserver.engine import Engine  # noqa: E402
from mockserver.journal import AccessLog  # noqa: E402
from mockserver.state import LocalStore  # noqa: E402
from mockserver.validation import RequestRecord  # noqa: E402


def ensure_pyinstrument() -> Any:
    try:
        return importlib.import_module("pyinstrument")
    except ImportError:
        print("profile: installing pyinstrument into the venv (for this measurement only)")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "pyinstrument"], check=True, timeout=600
        )
        return importlib.import_module("pyinstrument")


SCENARIOS: dict[str, dict[str, Any]] = {
    "a": {
        "title": "Huawei POST /V1.0/{project_id}/events, valid 3-event body",
        "spec": "huawei-ces-events.yaml",
        "method": "POST",
        "path": "/V1.0/0605767d1bd5a8ef2f31c00b8a0b1ab3/events",
        "headers": {"content-type": "application/json"},
    },
    "b": {
        "title": "Socotra GET /event/{uuid}/events/list, generated data",
        "spec": "socotra-events.yaml",
        "method": "GET",
        "path": f"/event/{TENANT}/events/list",
        "headers": {},
    },
}


def package_of(path: str) -> str:
    p = path.replace("\\", "/")
    for marker, name in (
        ("/mockserver/", "mockserver"),
        ("/jsonschema/", "jsonschema"),
        ("/referencing/", "referencing"),
        ("/rpds", "rpds"),
        ("/faker/", "faker"),
        ("/werkzeug/test.py", "test client"),
        ("/flask/testing.py", "test client"),
        ("<attrs generated methods jsonschema", "jsonschema"),
        ("/flask/", "flask"),
        ("/werkzeug/", "werkzeug"),
        ("/logging/", "logging (stdlib)"),
        ("/json/", "json (stdlib)"),
        ("sqlite3", "sqlite3"),
        ("/re/", "re (stdlib)"),
        ("/random.py", "random (stdlib)"),
        ("/uuid.py", "uuid (stdlib)"),
        ("/hashlib", "hashlib"),
        ("/site-packages/", "other packages"),
        ("/python3.", "stdlib (other)"),
    ):
        if marker in p:
            return name
    return "other"


def package_for(frame: Any) -> str:
    """A frame's package; a C function counts for the package that called it."""
    path = frame.file_path or ""
    if path.startswith("<built-in>") or not path:
        if frame.function.startswith(("Connection.", "Cursor.")):
            return "sqlite3"
        parent = getattr(frame, "parent", None)
        return package_for(parent) if parent is not None else "other"
    return package_of(path)


def label(frame: Any) -> str:
    path = frame.file_path or ""
    short = path
    for anchor in ("/site-packages/", "/work/main/", "/lib/python3.11/"):
        if anchor in path:
            short = path.split(anchor, 1)[1]
            break
    if frame.is_synthetic:
        return frame.function
    return f"{frame.function} ({short}:{frame.line_no})"


def summarise(root: Any) -> dict[str, Any]:
    total = root.time
    self_time: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)
    packages: dict[str, float] = defaultdict(float)

    def walk(frame: Any, stack: frozenset[str]) -> None:
        key = label(frame)
        if frame.is_synthetic:  # "[self]" and the like: time of the parent's own
            parent = frame.parent
            owner = label(parent) if parent is not None else key
            self_time[owner] += frame.time
            packages[package_for(parent) if parent else "other"] += frame.time
        else:
            own = (
                frame.total_self_time
                if not frame.children
                else max(0.0, frame.time - sum(c.time for c in frame.children))
            )
            self_time[key] += own
            packages[package_for(frame)] += own
            if key not in stack:
                inclusive[key] += frame.time
            stack = stack | {key}
        for child in frame.children:
            walk(child, stack)

    walk(root, frozenset())
    return {"total": total, "self": self_time, "inclusive": inclusive, "packages": packages}


MARKER = "<!-- Everything below is written by bench/profile.py; the text above is kept. -->"


def _through_flask(client: Any, sc: dict[str, Any], data: bytes) -> Any:
    response = client.open(sc["path"], method=sc["method"], headers=sc["headers"], data=data)
    assert response.status_code < 300, response.data[:300]
    return response


STAGES = (
    ("handle", "mockserver/engine.py", "Engine.handle: the whole engine"),
    ("match", "mockserver/routing.py", "routing (Router.match)"),
    ("decode", "mockserver/controls.py", "control headers (controls.decode)"),
    ("pick", "mockserver/scenarios.py", "scenarios (ScenarioBook.pick)"),
    ("check", "mockserver/validation.py", "validation (validation.check)"),
    ("iter_errors", "mockserver/schemas.py", "  of which schema validation (jsonschema-rs)"),
    ("respond", "mockserver/responder.py", "responder (Responder.respond)"),
    ("_generate", "mockserver/responder.py", "  of which data generation"),
    ("fill_template", "mockserver/responder.py", "  of which the error template"),
    ("serialise", "mockserver/responder.py", "serialising the body (responder.serialise)"),
    ("__call__", "mockserver/gateway.py", "the gateway, engine included (Gateway.__call__)"),
    ("read_body", "mockserver/gateway.py", "  of which reading the body (gateway.read_body)"),
    ("_answer", "mockserver/gateway.py", "  of which the reply's bytes and headers"),
    ("_journal", "mockserver/gateway.py", "  of which journal and access log (Gateway._journal)"),
    ("build_entry", "mockserver/journal.py", "    of which journal.build_entry"),
    ("record", "mockserver/state/local.py", "    of which LocalStore.record (handed to a thread)"),
    ("write", "mockserver/state/local.py", "the journal's thread: LocalStore.write"),
    ("__call__", "mockserver/journal.py", "the journal's thread: the access log"),
)
"""(function, file it is in, what it stands for): the stages of one request."""


def stages(root: Any) -> list[tuple[str, float]]:
    found: dict[int, float] = defaultdict(float)

    def walk(frame: Any, inside: frozenset[int]) -> None:
        path = (frame.file_path or "").replace("\\", "/")
        hit = set()
        for index, (function, file, _) in enumerate(STAGES):
            if frame.function == function and path.endswith(file) and index not in inside:
                found[index] += frame.time
                hit.add(index)
        for child in frame.children:
            walk(child, inside | hit)

    walk(root, frozenset())
    return [(STAGES[i][2], found.get(i, 0.0)) for i in range(len(STAGES))]


def timed(fn: Callable[[], Any], seconds: float) -> tuple[float, int]:
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return (time.perf_counter() - start) / n * 1e6, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="profile one mockserver request")
    parser.add_argument("--seconds", type=float, default=3.0, help="per profile and per timing")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "PROFILE.md")
    args = parser.parse_args(argv)
    pyinstrument = ensure_pyinstrument()

    body = json.dumps(huawei_events(), separators=(",", ":")).encode()
    sections: list[str] = []
    summary_rows: list[str] = []
    load_start = Path("/proc/loadavg").read_text().split()[0]
    with tempfile.TemporaryDirectory(prefix="mockprof-") as tmp:
        for key, sc in SCENARIOS.items():
            spec = ROOT / "specs" / sc["spec"]
            store = LocalStore(Path(tmp) / f"{key}.sqlite")
            engine = Engine.from_paths([spec], ROOT / "fixtures", store=store)
            settings = Settings(specs=(spec,), fixtures=ROOT / "fixtures", log_requests=True)
            app = create_app(settings, engine)
            devnull = open(os.devnull, "w")  # noqa: SIM115
            store.after_write = AccessLog(devnull, "text")
            data = body if sc["method"] == "POST" else b""
            record = RequestRecord(sc["method"], sc["path"], (), dict(sc["headers"]), data)

            via_engine = partial(engine.handle, record)
            via_flask = partial(_through_flask, app.test_client(), sc, data)

            for what, fn in (("Engine.handle", via_engine), ("whole app, test client", via_flask)):
                mean_us, calls = timed(fn, args.seconds)
                profiler = pyinstrument.Profiler(interval=0.0002)
                profiler.start()
                deadline = time.perf_counter() + args.seconds
                n = 0
                while time.perf_counter() < deadline:
                    fn()
                    n += 1
                profiler.stop()
                root = profiler.last_session.root_frame()
                found = summarise(root)
                total = found["total"]
                summary_rows.append(f"| ({key}) | {what} | {mean_us:.0f} | {calls} |")
                top_self = sorted(found["self"].items(), key=lambda kv: -kv[1])[: args.top]
                top_incl = sorted(found["inclusive"].items(), key=lambda kv: -kv[1])[: args.top + 8]
                pkgs = sorted(found["packages"].items(), key=lambda kv: -kv[1])
                steps = [(name, t) for name, t in stages(root) if t > 0]
                sections += [
                    f"### ({key}) {sc['title']}: {what}",
                    "",
                    f"{mean_us:.0f} µs per request without the profiler ({calls} calls); "
                    f"profiled {n} calls, {total:.2f} s sampled.",
                    "",
                    "Stages (inclusive):",
                    "",
                    "| stage | share | ≈ µs per request |",
                    "|---|---|---|",
                    *[
                        f"| {name.replace('  ', '&nbsp;&nbsp;')} | {t / total:.1%} | "
                        f"{t / total * mean_us:.0f} |"
                        for name, t in steps
                    ],
                    "",
                    "By package (self time):",
                    "",
                    "| package | share |",
                    "|---|---|",
                    *[f"| {name} | {t / total:.1%} |" for name, t in pkgs if t / total >= 0.005],
                    "",
                    "Top functions by self time:",
                    "",
                    "| function | self | ≈ µs per request |",
                    "|---|---|---|",
                    *[
                        f"| `{name}` | {t / total:.1%} | {t / total * mean_us:.0f} |"
                        for name, t in top_self
                    ],
                    "",
                    "Top functions by inclusive time (time spent inside them):",
                    "",
                    "| function | inclusive | ≈ µs per request |",
                    "|---|---|---|",
                    *[
                        f"| `{name}` | {t / total:.1%} | {t / total * mean_us:.0f} |"
                        for name, t in top_incl
                    ],
                    "",
                ]
            store.close()

    text = "\n".join(
        [
            "# Profile: one mockserver request, scenarios (a) and (b)",
            "",
            f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by "
            f"`.venv/bin/python bench/profile.py` on {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, pyinstrument {pyinstrument.__version__} (sampling "
            f"every 0.2 ms); load average (1 min) at start {load_start}, at end "
            f"{Path('/proc/loadavg').read_text().split()[0]}. One thread, in-process: no "
            "network, no server.",
            "",
            "| scenario | path | µs per request | calls timed |",
            "|---|---|---|---|",
            *summary_rows,
            "",
            "Shares are of all sampled time; a function's inclusive share counts each call "
            "once even when it recurses; µs per request is the share times the mean measured "
            "without the profiler (the profiler itself slows the code about 2x). A C function "
            "counts for the package that called it (sqlite3 calls for sqlite3). The test "
            "client's own work (building the WSGI environ, reading the response) is in "
            "the test-client rows (package: test client) and is not paid under "
            "the server, which has its own instead.",
            "",
            *sections,
        ]
    )
    kept = ""
    if args.out.exists():
        previous = args.out.read_text()
        if MARKER in previous:
            kept = previous.split(MARKER, 1)[0]
    args.out.write_text(kept + MARKER + "\n\n" + text + "\n")
    print(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
