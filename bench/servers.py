"""Which server: gunicorn's workers, mockserver's MockWorker (uvicorn), granian, waitress.

Run on purpose (never part of pytest), from the project root, with the project's venv:

    .venv/bin/python bench/servers.py                      # everything, ~14 minutes
    .venv/bin/python bench/servers.py --rounds 1 --only granian-bt1,mockworker-t4
    .venv/bin/python bench/servers.py --list               # the candidates
    .venv/bin/python bench/servers.py --rewrite --conclusion FILE   # re-render servers.md
                                                           # from servers.json, FILE's text
                                                           # as the conclusion

For each candidate server, one at a time on 127.0.0.1 only, it serves (1) the bare
Flask ceiling (bench/bare_flask.py) and (2) the real mockserver app built as
`mockserver serve` builds it on the bundled specs (bench/mock_app.py, the WSGI app;
the MockWorker candidate is `mockserver serve` itself, serving the ASGI form, and its
bare app is bare_flask.py's `asgi`), with 2 worker processes (waitress: one
process, it has no workers), warms up 1 s and drives scenarios (a) Huawei POST of a
valid 3-event body and (d) the same POST with `X-Mock-Status: 500` with wrk at 16
connections for 5 s each (bench/run.py's requests, wrk script and parsing). Then it
sends the mock app the four `X-Mock-Fault` values over a raw socket and records what
the client saw. All of it `--rounds` times (default 2, candidates interleaved);
tables show medians.

Every run records the 1-minute load average when it started and the CPU other
processes used meanwhile ("other CPU", cores); a run with other CPU >= 0.25 cores is
marked `*`. Server CPU per request (ms) is printed too: it is less sensitive to the
machine being shared than req/s.

granian, waitress and gevent are `pip install`ed into the venv when missing: they are
for the measurement only, not project dependencies. Writes bench/servers.md and
bench/servers.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (
    BENCH,
    BUSY,
    HOST,
    ROOT,
    Scenario,
    Server,
    ensure_wrk,
    free_port,
    loadavg,
    machine,
    request,
    run_quiet,
    run_wrk,
    scenarios,
    write_lua,
)

WORKERS = 2
CONNECTIONS = 16
SCENARIO_KEYS = ("a", "d")
APPS = ("bare", "mock")
FAULTS = ("reset", "empty", "malformed", "truncated")
MEASUREMENT_PACKAGES = {"granian": "granian", "waitress": "waitress", "gevent": "gevent"}


@dataclass(frozen=True)
class Candidate:
    key: str
    server: str  # what the table shows
    shape: str  # processes x threads
    kind: str  # gunicorn | mockworker | granian | waitress
    threads: int = 1
    gunicorn_worker: str = ""
    needs: str = ""  # python package to import, if any

    def command(self, app: str, port: int) -> list[str]:
        py = sys.executable
        target = "bare_flask:app" if app == "bare" else "mock_app:app"
        if self.kind == "mockworker":
            target = "bare_flask:asgi"  # an ASGI worker: the same view, called on its loop
        if self.kind == "mockworker" and app == "mock":
            return [
                *[py, "-m", "mockserver", "serve", str(ROOT / "specs")],
                *["--host", HOST, "--port", str(port)],
                *["--workers", str(WORKERS), "--threads", str(self.threads)],
            ]
        if self.kind in ("gunicorn", "mockworker"):
            worker = "mockserver.serving.MockWorker" if self.kind == "mockworker" else None
            cmd = [
                *[py, "-m", "gunicorn", "--chdir", str(BENCH)],
                *["-k", worker or self.gunicorn_worker, "-w", str(WORKERS)],
                *["--keep-alive", "5", "--timeout", "30", "--log-level", "warning"],
                *["--no-control-socket", "-b", f"{HOST}:{port}"],
            ]
            if self.gunicorn_worker == "gthread":
                cmd += ["--threads", str(self.threads)]
            if self.gunicorn_worker == "gevent":
                cmd += ["--worker-connections", "1000"]
            return [*cmd, target]
        if self.kind == "granian":
            return [
                *[py, "-m", "granian", "--interface", "wsgi", "--host", HOST, "--port", str(port)],
                *["--workers", str(WORKERS), "--blocking-threads", str(self.threads)],
                *["--runtime-threads", "1", "--no-access-log", "--log-level", "warning"],
                *["--no-ws", "--http", "1", "--working-dir", str(BENCH), target],
            ]
        if self.kind == "waitress":
            return [
                *[py, "-m", "waitress", f"--listen={HOST}:{port}", f"--threads={self.threads}"],
                *["--channel-timeout=30", target],
            ]
        raise ValueError(self.kind)


CANDIDATES = [
    Candidate("gunicorn-sync", "gunicorn sync", "2 x 1", "gunicorn", 1, "sync"),
    Candidate("gunicorn-gthread-t4", "gunicorn gthread", "2 x 4", "gunicorn", 4, "gthread"),
    Candidate("gunicorn-gthread-t16", "gunicorn gthread", "2 x 16", "gunicorn", 16, "gthread"),
    Candidate(
        "mockworker", "MockWorker: uvicorn (mockserver serve)", "2 x 1 loop", "mockworker", 4
    ),
    Candidate("granian-bt1", "granian wsgi", "2 x 1 bt", "granian", 1, needs="granian"),
    Candidate("granian-bt4", "granian wsgi", "2 x 4 bt", "granian", 4, needs="granian"),
    Candidate("granian-bt16", "granian wsgi", "2 x 16 bt", "granian", 16, needs="granian"),
    Candidate("waitress-t4", "waitress", "1 x 4", "waitress", 4, needs="waitress"),
    Candidate("waitress-t16", "waitress", "1 x 16", "waitress", 16, needs="waitress"),
    Candidate(
        "gunicorn-gevent", "gunicorn gevent", "2 x 1000 conns", "gunicorn", 1, "gevent", "gevent"
    ),
]

FAULT_SUPPORT = {
    "gunicorn": (
        "possible, not served: every gunicorn WSGI worker puts the client socket in "
        "environ['gunicorn.socket'] (gunicorn/http/wsgi.py), and until the switch to uvicorn "
        "workers a WSGI middleware made the faults on it (4/4 in the first run of this "
        "script); the WSGI app no longer carries it, so here it answers 501"
    ),
    "mockworker": (
        "yes: `mockserver serve`'s worker (uvicorn's httptools protocol, subclassed) makes "
        "them on the connection's asyncio transport (mockserver/faults.py): itself for the "
        "requests it answers inline, through each request's ASGI scope for the others; the "
        "one the fault tests run against"
    ),
    "granian": (
        "no: the WSGI environ is a dict built in Rust with no socket, file descriptor or "
        "transport (granian/wsgi.py; probed: only CGI keys and wsgi.*); the response is "
        "written by the Rust (hyper) side. An exception before the body answers 500 with an "
        "empty body; an exception raised by the response iterator closed the connection "
        "with 0 bytes (probed), so `empty` could be faked; reset (SO_LINGER 0), malformed "
        "bytes and truncated bodies would need a change to granian's Rust core or a "
        "proxy of our own in front"
    ),
    "waitress": (
        "only through internals: environ['waitress.client_disconnected'] is the bound "
        "method HTTPChannel.check_client_disconnected, so its __self__ is the channel and "
        "channel.socket the client socket, but the socket belongs to waitress's asyncore "
        "loop thread while the app runs in a task thread; doing it safely means a "
        "subclassed HTTPChannel/WSGITask set on the server (channel_class), writing through "
        "the channel and closing via the loop trigger: private API (a PR putting the "
        "channel in environ for exactly this, Pylons/waitress#389, was closed: the channel "
        "is not an API and handle_close from a WSGI thread is not safe), and one process "
        "only (no workers), so the GIL caps it at one core"
    ),
}


# -- setup ---------------------------------------------------------------------------------
def ensure_packages(wanted: list[Candidate]) -> dict[str, str]:
    """pip install the measurement-only servers that are missing; name -> problem."""
    problems: dict[str, str] = {}
    for pkg in sorted({c.needs for c in wanted if c.needs}):
        if importlib.util.find_spec(pkg) is not None:
            continue
        print(f"servers: pip install {MEASUREMENT_PACKAGES[pkg]} (measurement only)", flush=True)
        done = run_quiet(
            [sys.executable, "-m", "pip", "install", "-q", MEASUREMENT_PACKAGES[pkg]], timeout=600
        )
        importlib.invalidate_caches()
        if done.returncode != 0 or importlib.util.find_spec(pkg) is None:
            problems[pkg] = (done.stdout + done.stderr)[-600:] or "not importable"
    return problems


def versions(wrk: str) -> dict[str, str]:
    from importlib.metadata import version

    out: dict[str, str] = {}
    first = run_quiet([wrk, "--version"], timeout=10)
    out["wrk"] = (first.stdout + first.stderr).split("Copyright")[0].removeprefix("wrk ").strip()
    for name in (
        "mockserver",
        "flask",
        "werkzeug",
        "gunicorn",
        "uvicorn",
        "uvloop",
        "httptools",
        "granian",
        "waitress",
        "gevent",
    ):
        try:
            out[name] = version(name)
        except Exception:
            out[name] = "-"
    return out


# -- faults --------------------------------------------------------------------------------
def raw_exchange(port: int, sc: Scenario, fault: str, timeout: float = 5.0) -> str:
    """Send scenario (a) with X-Mock-Fault over a raw socket; what the client saw."""
    headers = {**sc.headers, "X-Mock-Fault": fault, "Connection": "close"}
    head = [f"{sc.method} {sc.path} HTTP/1.1", f"Host: {HOST}:{port}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head += [f"Content-Length: {len(sc.body)}", "", ""]
    data = b""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall("\r\n".join(head).encode("latin-1") + sc.body)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except ConnectionResetError:
        return "reset" if not data else f"reset after {len(data)} B"
    except TimeoutError:
        return f"timeout after {len(data)} B"
    except OSError as exc:
        return f"error {exc.__class__.__name__}"
    if not data:
        return "empty"
    if not data.startswith(b"HTTP/"):
        return "malformed"
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = lines[0].split(" ")[1] if " " in lines[0] else "?"
    length = next(
        (
            int(v)
            for k, _, v in (ln.partition(":") for ln in lines[1:])
            if k.lower() == "content-length"
        ),
        None,
    )
    if length is not None and len(body) < length:
        return "truncated"
    return f"answered {status}"


def fault_checks(port: int, sc: Scenario) -> dict[str, str]:
    return {fault: raw_exchange(port, sc, fault) for fault in FAULTS}


# -- one server ----------------------------------------------------------------------------
def bench_one(
    cand: Candidate,
    app: str,
    chosen: list[Scenario],
    args: argparse.Namespace,
    wrk: str,
    workdir: Path,
    round_no: int,
) -> dict[str, Any]:
    port = free_port()
    state = workdir / f"state-{cand.key}-{app}-{round_no}.sqlite"
    cmd = cand.command(app, port)
    # kind "mockserver" sends stdout (the access log) to /dev/null, as bench/run.py does
    kind = "mockserver" if app == "mock" else "ceiling"
    label = f"{cand.key} {app} r{round_no}"
    server = Server(kind, label, cmd, port, workdir)
    rec: dict[str, Any] = {
        "candidate": cand.key,
        "app": app,
        "round": round_no,
        "command": " ".join(cmd),
        "load1_before": loadavg(),
        "runs": {},
    }
    print(f"\n== {label}  (load {rec['load1_before']:.2f})", flush=True)
    # the server inherits these: the SQLite file its workers share, and bench/ on the path
    old_env = {k: os.environ.get(k) for k in ("MOCK_APP_STATE", "MOCK_APP_SPECS", "PYTHONPATH")}
    os.environ["MOCK_APP_STATE"] = str(state)
    os.environ.pop("MOCK_APP_SPECS", None)
    os.environ["PYTHONPATH"] = str(BENCH)
    try:
        server.start()
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        started = server.wait_ready(None if app == "mock" else chosen[0], limit=60)
        rec["startup_s"] = round(started.seconds, 3) if started.seconds is not None else None
        if not started.ok:
            rec["failed"] = started.message
            print(f"   did not start: {started.message}", flush=True)
            return rec
        for sc in chosen:
            status, ctype, data = request(
                port, sc.method, sc.path, sc.headers_for("mockserver"), sc.body
            )
            rec.setdefault("checks", {})[sc.key] = {
                "status": status,
                "content_type": ctype,
                "bytes": len(data),
                "body": data[:160].decode("utf-8", "replace"),
            }
            script = write_lua(workdir, f"{cand.key}-{app}-{sc.key}", sc, "mockserver")
            pids = server.pids()
            if args.warmup > 0:
                run_wrk(wrk, script, port, sc.path, CONNECTIONS, args.warmup, pids)
            pids = server.pids()
            res = run_wrk(wrk, script, port, sc.path, CONNECTIONS, args.duration, pids)
            res["expected_status"] = status
            res["statuses_as_checked"] = (
                res["non2xx"] == 0 if 200 <= status < 400 else res["non2xx"] == res["requests"]
            )
            res["cpu_ms_per_request"] = (
                round(res["server_cpu_cores"] * 1000 / res["rps"], 3) if res["rps"] else None
            )
            rec["runs"][sc.key] = res
            print(
                f"   [{sc.key}] {status} {res['rps']:8.0f} req/s  p50 {res['p50_ms']:7.2f} ms  "
                f"p99 {res['p99_ms']:7.2f} ms  errors {res['socket_errors']}  "
                f"server {res['server_cpu_cores']:.2f} cores "
                f"({res['cpu_ms_per_request']} ms/req)  other {res['other_cpu_cores']:.2f}  "
                f"load {res['load1']:.2f}",
                flush=True,
            )
        if app == "mock" and round_no == 1:
            rec["faults"] = fault_checks(port, chosen[0])
            print(f"   faults: {rec['faults']}", flush=True)
    finally:
        mem = server.stop()
        rec["largest_process_mb"] = mem.get("max_child_hwm_mb") or mem.get("root_hwm_mb")
        rec["processes"] = mem.get("processes")
        rec["log_tail"] = server.log_tail(400)
    return rec


# -- report --------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def summarize(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per candidate x app x scenario: medians over the rounds."""
    rows = []
    for cand in result["candidates"]:
        for app in APPS:
            recs = [
                r for r in result["records"] if r["candidate"] == cand["key"] and r["app"] == app
            ]
            for key in SCENARIO_KEYS:
                runs = [r["runs"][key] for r in recs if key in r.get("runs", {})]
                if not runs:
                    rows.append({"candidate": cand["key"], "app": app, "scenario": key, "runs": 0})
                    continue
                rps = [r["rps"] for r in runs]
                cpu = [r["cpu_ms_per_request"] for r in runs if r["cpu_ms_per_request"]]
                rows.append(
                    {
                        "candidate": cand["key"],
                        "app": app,
                        "scenario": key,
                        "runs": len(runs),
                        "rps_median": round(statistics.median(rps), 1),
                        "rps_min": round(min(rps), 1),
                        "rps_max": round(max(rps), 1),
                        "p50_ms_median": round(statistics.median(r["p50_ms"] for r in runs), 2),
                        "p99_ms_median": round(statistics.median(r["p99_ms"] for r in runs), 2),
                        "cpu_ms_per_request_median": (
                            round(statistics.median(cpu), 3) if cpu else None
                        ),
                        "socket_errors": sum(r["socket_errors"] for r in runs),
                        "statuses_as_checked": all(r["statuses_as_checked"] for r in runs),
                        "load1": [r["load1"] for r in runs],
                        "other_cpu_cores": [r["other_cpu_cores"] for r in runs],
                        "noisy": any(r["other_cpu_cores"] >= BUSY for r in runs),
                        "largest_process_mb": max(
                            (r["largest_process_mb"] or 0 for r in recs), default=None
                        ),
                    }
                )
    return rows


def faults_cell(result: dict[str, Any], cand_key: str) -> str:
    for rec in result["records"]:
        if rec["candidate"] == cand_key and rec.get("faults"):
            seen = rec["faults"]
            ok = sum(seen[f] == f for f in FAULTS)
            if ok == len(FAULTS):
                return f"{ok}/4"
            others = sorted({v for f, v in seen.items() if v != f})
            return f"{ok}/4 ({', '.join(others)})"
    return "-"


def table(result: dict[str, Any]) -> str:
    cands = {c["key"]: c for c in result["candidates"]}
    lines = [
        "| server | procs x threads | app | scen | req/s median (min-max) | p50 ms | p99 ms | "
        "server CPU ms/req | errors | load1 per round | other CPU per round | "
        "largest process MB | faults 4/4 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["summary"]:
        c = cands[row["candidate"]]
        if not row["runs"]:
            lines.append(
                f"| {c['server']} | {c['shape']} | {row['app']} | {row['scenario']} | "
                "FAILED | | | | | | | | |"
            )
            continue
        mark = "*" if row["noisy"] else ""
        status_note = "" if row["statuses_as_checked"] else " (statuses!)"
        lines.append(
            f"| {c['server']} | {c['shape']} | {row['app']} | {row['scenario']} | "
            f"{fmt(row['rps_median'])}{mark} ({fmt(row['rps_min'])}-{fmt(row['rps_max'])}) | "
            f"{row['p50_ms_median']:.2f} | {row['p99_ms_median']:.2f} | "
            f"{fmt(row['cpu_ms_per_request_median'], 3)} | "
            f"{row['socket_errors']}{status_note} | "
            f"{'/'.join(f'{x:.1f}' for x in row['load1'])} | "
            f"{'/'.join(f'{x:.2f}' for x in row['other_cpu_cores'])} | "
            f"{fmt(row['largest_process_mb'], 1)} | "
            f"{faults_cell(result, row['candidate']) if row['app'] == 'mock' else ''} |"
        )
    return "\n".join(lines)


def write_markdown(result: dict[str, Any], conclusion: str) -> str:
    m, s, v = result["machine"], result["settings"], result["versions"]
    fault_rows = []
    kinds = list(dict.fromkeys(c["kind"] for c in result["candidates"]))
    for kind in kinds:
        of_kind = [c for c in result["candidates"] if c["kind"] == kind]
        names = ", ".join(f"{c['server']} {c['shape']}" for c in of_kind)
        cells = ", ".join(dict.fromkeys(faults_cell(result, c["key"]) for c in of_kind))
        fault_rows.append(f"| {names} | {cells} | {FAULT_SUPPORT[kind]} |")
    seen = []
    for c in result["candidates"]:
        for rec in result["records"]:
            if rec["candidate"] == c["key"] and rec.get("faults"):
                seen.append(
                    f"| {c['key']} | " + " | ".join(rec["faults"][f] for f in FAULTS) + " |"
                )
                break
    lines = [
        "# Servers for mockserver (issue 6)",
        "",
        f"Measured {result['when']} by `.venv/bin/python bench/servers.py` "
        f"({s['rounds']} rounds, candidates interleaved; per server and scenario a "
        f"{s['warmup']:g} s warm-up then {s['duration']:g} s of `wrk -t1 -c{CONNECTIONS} "
        "--timeout 5s`; 127.0.0.1 only).",
        "",
        f"Machine: nproc {m['nproc']}, {m['cpu']}, {m['memory_gib']} GiB, Linux {m['kernel']}, "
        f"Python {m['python']}. Load average (1 min) at the start: {result['load_at_start']}; "
        f"at the end: {result.get('load_at_end', '-')}. The machine was shared with other "
        "work during the runs (see load1 and other CPU per run).",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        "Apps: **bare** = bench/bare_flask.py (a Flask view answering fixed bytes, the "
        "ceiling; for MockWorker its `asgi` form, the view called inline on the event "
        "loop); **mock** = the real mockserver app on all bundled specs, built as "
        "`mockserver serve` builds it (bench/mock_app.py, the WSGI app: shared SQLite "
        "LocalStore, access log to stdout = /dev/null, gc.freeze) -- for MockWorker it is "
        "`mockserver serve specs --workers 2` itself. Scenarios: **a** Huawei "
        "POST /V1.0/{project_id}/events, valid 3-event body (mock: 201); **d** the same "
        "with `X-Mock-Status: 500` (mock: 500; bare ignores the header).",
        "",
        "Candidates: 2 worker processes each (waitress has no worker processes: one process, "
        "so one core for Python). gunicorn runs with `--keep-alive 5 --timeout 30`; sync "
        "closes the connection after every answer (wrk reconnects); gevent with "
        "`--worker-connections 1000`; granian `--interface wsgi --http 1 --runtime-threads "
        "1 --blocking-threads N` (bt = blocking threads, the Python threads per worker); "
        "MockWorker is gunicorn's arbiter over uvicorn workers (uvloop, httptools), one "
        "event loop each.",
        "",
        "Cells: the median over the rounds of req/s, p50 and p99, the min-max of req/s; "
        "server CPU ms/req = CPU time of the server's processes / requests (less sensitive "
        "to sharing than req/s: it does not count time spent waiting for the CPU). load1 "
        "is the 1-minute load average when each run started (it counts the bench's own "
        "server and wrk too); other CPU is what processes other than the server, wrk and "
        f"the bench used during the run, in cores. `*`: at least one round ran with other "
        f"CPU >= {BUSY} cores (noisy: read the req/s as a lower bound). errors = wrk socket "
        "errors (sync's reconnects show as none; a non-zero count is worth a look). "
        "largest process MB: the highest VmHWM of one server process over the rounds (a "
        "worker, or waitress's only process).",
        "",
        "## Throughput and latency at 16 connections",
        "",
        table(result),
        "",
        "## Network faults (X-Mock-Fault on the mock app, raw socket client)",
        "",
        "| candidate | reset | empty | malformed | truncated |",
        "|---|---|---|---|---|",
        *seen,
        "",
        "What the client saw for each fault (a cell equal to the fault's name is a pass). "
        "`answered NNN`: the server could not reach the socket and the app answered with "
        "its documented problem (FaultUnavailable).",
        "",
        "| candidates | faults | what implementing reset/empty/malformed/truncated takes |",
        "|---|---|---|",
        *fault_rows,
        "",
        "## Conclusion",
        "",
        conclusion,
        "",
    ]
    if result.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in result["notes"]], ""]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated candidate keys")
    parser.add_argument("--apps", default="bare,mock")
    parser.add_argument("--list", action="store_true", help="list the candidates and exit")
    parser.add_argument("--out", type=Path, default=BENCH / "servers")
    parser.add_argument(
        "--conclusion",
        type=Path,
        default=None,
        help="a file whose text goes under '## Conclusion' (written after looking at the figures)",
    )
    parser.add_argument(
        "--rewrite",
        action="store_true",
        help="measure nothing: re-render servers.md from servers.json with --conclusion",
    )
    args = parser.parse_args(argv)
    if args.rewrite:
        if args.conclusion is None:
            parser.error("--rewrite needs --conclusion FILE")
        return rewrite(args.out, args.conclusion)
    if args.list:
        for c in CANDIDATES:
            print(f"{c.key:24} {c.server} {c.shape}")
        return 0
    if not 1 <= args.rounds <= 5 or not 0 < args.duration <= 60:
        parser.error("rounds must be 1..5 and duration 1..60 s")
    only = {k for k in args.only.split(",") if k}
    wanted = [c for c in CANDIDATES if not only or c.key in only]
    apps = [a for a in APPS if a in args.apps.split(",")]
    wrk = ensure_wrk()
    problems = ensure_packages(wanted)
    notes = [
        f"{pkg} could not be installed, its candidates skipped: {msg}"
        for pkg, msg in problems.items()
    ]
    wanted = [c for c in wanted if c.needs not in problems]
    chosen = [sc for sc in scenarios() if sc.key in SCENARIO_KEYS]
    result: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(wrk),
        "load_at_start": Path("/proc/loadavg").read_text().strip(),
        "settings": {
            "duration": args.duration,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "connections": CONNECTIONS,
            "workers": WORKERS,
            "apps": apps,
        },
        "scenarios": [
            {"key": sc.key, "title": sc.title, "path": sc.path, "mock_headers": sc.mock_headers}
            for sc in chosen
        ],
        "candidates": [
            {
                "key": c.key,
                "server": c.server,
                "shape": c.shape,
                "kind": c.kind,
                "threads": c.threads,
            }
            for c in wanted
        ],
        "fault_support": FAULT_SUPPORT,
        "records": [],
        "notes": notes,
    }
    print(f"machine: {result['machine']}\nversions: {result['versions']}", flush=True)
    print(f"load at start: {result['load_at_start']}", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mockservers-") as tmp:
        workdir = Path(tmp)
        for round_no in range(1, args.rounds + 1):
            for cand in wanted:
                for app in apps:
                    rec = bench_one(cand, app, chosen, args, wrk, workdir, round_no)
                    result["records"].append(rec)
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    result["load_at_end"] = Path("/proc/loadavg").read_text().strip()
    result["summary"] = summarize(result)
    conclusion = (
        args.conclusion.read_text().strip()
        if args.conclusion is not None
        else "(not written: run with --conclusion FILE once the figures have been read)"
    )
    result["conclusion"] = conclusion
    print("\n" + table(result))
    print(f"\nelapsed {result['elapsed_s']} s; load at end {result['load_at_end']}")
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(write_markdown(result, conclusion))
    print(f"wrote {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    return 0


def rewrite(out: Path, conclusion_file: Path) -> int:
    """Re-render servers.md from servers.json with a conclusion (no new measurement)."""
    result = json.loads(out.with_suffix(".json").read_text())
    result["conclusion"] = conclusion_file.read_text().strip()
    result["fault_support"] = FAULT_SUPPORT
    result["summary"] = summarize(result)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(write_markdown(result, result["conclusion"]))
    print(f"rewrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
