"""mockserver against Stoplight Prism, and against a bare-Flask ceiling, under wrk.

Run on purpose (never part of pytest), from the project root:

    .venv/bin/python bench/run.py                    # everything, about 4-5 minutes
    .venv/bin/python bench/run.py --duration 3 --connections 16
    .venv/bin/python bench/run.py --scenarios a,c --no-prism

What it does, one server at a time on 127.0.0.1 only:

* installs what it needs if missing: `wrk` (apt-get update, apt-get install -y wrk) and
  Prism (`npm install --prefix bench/.prism @stoplight/prism-cli`; bench/.prism/ is
  git-ignored);
* for each spec file used by a scenario, starts `mockserver serve <spec>` and then
  `prism mock <spec> -v silent` (errors off, its default; `-d` where the scenario asks
  for generated data), measures start-up to the first answer (mockserver: 200 from
  GET /__mock/health; Prism: any HTTP answer from the scenario's documented route),
  checks one request by hand, warms up, and drives each scenario with wrk at 1, 16
  and 64 connections; samples the RSS of the server's process tree all along;
* serves a bare Flask view (bench/bare_flask.py) under the same server as mockserver
  (gunicorn's arbiter over mockserver's uvicorn `MockWorker`, same workers and
  keep-alive; `--ceiling-worker gthread` for gunicorn's threaded WSGI worker) and
  drives it with the same requests as scenarios a, c, d: the ceiling mockserver is
  compared against;
* prints a table and writes the same figures to bench/results.md and bench/results.json.

Scenarios (same method, path, headers and body for every server, except the header
that forces a status, which each server spells its own way):

    a  huawei-ces-events  POST /V1.0/{project_id}/events, valid body of 3 events whose
                          `time` is generated at run time inside the accepted window
    b  socotra-events     GET /event/{uuid}/events/list, generated data (Prism: -d)
    c  harness-iacm       POST /iacm/api/modules/{moduleId}/events, invalid body, x-api-key
    d  huawei-ces-events  the valid body of (a), status 500 forced: X-Mock-Status: 500
                          for mockserver, Prefer: code=500 for Prism

Every figure comes with the 1-minute load average when its run started and the CPU
that processes other than the server, wrk and this script used during the run ("other
CPU", in cores): other work on the machine shows there.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SPECS = ROOT / "specs"
PRISM_DIR = BENCH / ".prism"
PRISM_BIN = PRISM_DIR / "node_modules" / ".bin" / "prism"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

TENANT = "7f3c2a9e-1b4d-4c8e-9a2f-3d5e6f7a8b9c"
HARNESS_KEY = "bench-key-0001"
INVALID_MODULE_EVENT = {
    "account": 7,
    "org": "acme",
}  # eventType, project missing; account no string


# -- scenarios -----------------------------------------------------------------------------
def huawei_events(
    now_ms: int | None = None, resource: str = "1234567890sjgggad"
) -> list[dict[str, Any]]:
    """Three valid events; `time` within [now - 1h + 10s, now + 10min - 10s] for ~50 min;
    resource ids `<resource>-0` to `-2`."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    names = ("systemInvaded", "systemParalysis", "diskFull")
    return [
        {
            "event_name": name,
            "event_source": "financial.System",
            "time": now - (3 - i) * 60_000,
            "detail": {
                "content": f"The financial system reported {name}",
                "group_id": "rg15221211517051YWWkEnVd",
                "resource_id": f"{resource}-{i}",
                "resource_name": "ecs001",
                "event_state": "normal",
                "event_level": "Major",
                "event_user": "xiaokong",
                "event_type": "EVENT.CUSTOM",
                "sub_event_type": "SUB_EVENT.OPS",
                "dimensions": [{"name": "instance_id", "value": f"i-{i:04d}"}],
            },
        }
        for i, name in enumerate(names)
    ]


@dataclass
class Scenario:
    key: str
    title: str
    spec: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    mock_headers: dict[str, str] = field(default_factory=dict)
    prism_headers: dict[str, str] = field(default_factory=dict)
    prism_dynamic: bool = False
    documented_status: int = 200

    def headers_for(self, server: str) -> dict[str, str]:
        extra = self.prism_headers if server == "prism" else self.mock_headers
        return {**self.headers, **extra}


def scenarios() -> list[Scenario]:
    huawei_body = json.dumps(huawei_events(), separators=(",", ":")).encode()
    json_type = {"Content-Type": "application/json"}
    return [
        Scenario(
            "a",
            "Huawei POST events (valid, 3 events)",
            "huawei-ces-events.yaml",
            "POST",
            "/V1.0/0605767d1bd5a8ef2f31c00b8a0b1ab3/events",
            dict(json_type),
            huawei_body,
            documented_status=201,
        ),
        Scenario(
            "b",
            "Socotra GET events/list (generated)",
            "socotra-events.yaml",
            "GET",
            f"/event/{TENANT}/events/list",
            {},
            prism_dynamic=True,
            documented_status=200,
        ),
        Scenario(
            "c",
            "Harness POST module event (invalid body)",
            "harness-iacm.yaml",
            "POST",
            "/iacm/api/modules/mod-0042/events",
            {**json_type, "x-api-key": HARNESS_KEY},
            json.dumps(INVALID_MODULE_EVENT).encode(),
            documented_status=400,
        ),
        Scenario(
            "d",
            "Huawei POST events, 500 forced by header",
            "huawei-ces-events.yaml",
            "POST",
            "/V1.0/0605767d1bd5a8ef2f31c00b8a0b1ab3/events",
            dict(json_type),
            huawei_body,
            mock_headers={"X-Mock-Status": "500"},
            prism_headers={"Prefer": "code=500"},
            documented_status=500,
        ),
    ]


CEILING_SCENARIOS = ("a", "c", "d")


# -- machine and tools ---------------------------------------------------------------------
def run_quiet(cmd: list[str], timeout: float, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk is missing; apt-get update && apt-get install -y wrk", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        done = run_quiet(cmd, timeout=600, env=env)
        if done.returncode != 0:
            sys.exit(f"bench: {' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    found = shutil.which("wrk")
    if not found:
        sys.exit("bench: wrk is still missing after apt-get install")
    return found


def ensure_prism() -> Path:
    if PRISM_BIN.exists():
        return PRISM_BIN
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("bench: npm is missing (apt-get install -y npm), Prism cannot be installed")
    print(f"bench: installing Prism: npm install --prefix {PRISM_DIR} @stoplight/prism-cli")
    done = run_quiet(
        [
            npm,
            "install",
            "--prefix",
            str(PRISM_DIR),
            "--no-audit",
            "--no-fund",
            "@stoplight/prism-cli",
        ],
        timeout=600,
    )
    if done.returncode != 0 or not PRISM_BIN.exists():
        sys.exit(f"bench: npm install failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return PRISM_BIN


def ensure_bytecode() -> None:
    """Compile mockserver's modules to bytecode (`__pycache__/`, git-ignored) before any
    server starts. An installed package has it (pip compiles on install, and the image
    is built so); an editable install gets it from its first run, except where
    PYTHONDONTWRITEBYTECODE is set, as on the bench machine: there every start compiled
    the package's source again, ~80 ms of the master's start-up."""
    done = run_quiet([sys.executable, "-m", "compileall", "-q", str(ROOT / "mockserver")], 120)
    if done.returncode != 0:
        sys.exit(f"bench: compileall failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def versions(wrk: str, prism: Path | None) -> dict[str, str]:
    out: dict[str, str] = {}
    first = run_quiet([wrk, "--version"], timeout=10)
    line = (first.stdout + first.stderr).splitlines()[0].split("Copyright")[0].strip()
    out["wrk"] = line.removeprefix("wrk ").strip()
    if prism is not None:
        out["prism"] = run_quiet([str(prism), "--version"], timeout=30).stdout.strip()
        out["node"] = run_quiet(["node", "--version"], timeout=10).stdout.strip()
    from importlib.metadata import version

    for name in ("mockserver", "flask", "werkzeug", "gunicorn", "uvicorn", "uvloop", "jsonschema"):
        try:
            out[name] = version(name)
        except Exception:
            out[name] = "?"
    return out


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_quiet(limit: float, threshold: float = 0.25) -> float:
    """Wait (at most `limit` s) until the machine's busy CPU over 2 s is under `threshold`
    cores; nothing of the bench runs meanwhile. Returns the last busy figure."""
    deadline = time.monotonic() + limit
    while True:
        before = system_busy_ticks()
        time.sleep(2.0)
        busy = (system_busy_ticks() - before) / CLK_TCK / 2.0
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        print(f"   machine busy ({busy:.2f} cores used by others), waiting", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# -- processes: tree, memory, CPU ----------------------------------------------------------
def proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime+stime ticks) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree(root: int) -> list[int]:
    """`root` and all its descendants, root first; [] when `root` is gone."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := proc_stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(sorted(children.get(pid, ())))
    return out if proc_stat(root) is not None else []


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_cpu_ticks(pids: list[int]) -> int:
    return sum(st[1] for pid in pids if (st := proc_stat(pid)) is not None)


def system_busy_ticks() -> int:
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts[:8]) - idle


class MemorySampler(threading.Thread):
    """Samples the RSS (and PSS) of a process tree every `interval` seconds."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.stop_event = threading.Event()
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.pids: list[int] = [root]
        self.hwm_kb: dict[int, int] = {}
        self.names: dict[int, str] = {}

    def sample(self) -> None:
        pids = tree(self.root)
        self.pids = pids
        rss = 0
        for pid in pids:
            rss += status_kb(pid, "VmRSS")
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), status_kb(pid, "VmHWM"))
            if pid not in self.names:
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                    self.names[pid] = cmd.decode(errors="replace").strip()[:120]
                except OSError:
                    self.names[pid] = "?"
        self.peak_rss_kb = max(self.peak_rss_kb, rss)
        self.peak_pss_kb = max(self.peak_pss_kb, sum(_pss_kb(pid) for pid in pids))

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()

    def finish(self) -> None:
        self.sample()
        self.stop_event.set()
        self.join(timeout=5)


# -- servers --------------------------------------------------------------------------------
@dataclass
class StartResult:
    ok: bool
    seconds: float | None
    message: str = ""


class Server:
    """One server process (tree) in its own session, stopped with SIGTERM then SIGKILL."""

    def __init__(
        self, kind: str, label: str, cmd: list[str], port: int, workdir: Path, cwd: Path = ROOT
    ) -> None:
        self.kind = kind
        self.label = label
        self.cmd = cmd
        self.port = port
        self.log_path = workdir / f"{label.replace(' ', '_').replace('/', '_')}.log"
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.sampler: MemorySampler | None = None
        self.started_at = 0.0

    def start(self) -> None:
        log = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if self.kind == "mockserver" else log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.sampler = MemorySampler(self.proc.pid)
        self.sampler.start()

    def wait_ready(self, probe: Scenario | None, limit: float = 30.0) -> StartResult:
        """Poll until the first healthy answer: its time since the process was started."""
        assert self.proc is not None
        deadline = self.started_at + limit
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                return StartResult(
                    False, None, f"exited with code {self.proc.returncode}: " + self.log_tail()
                )
            try:
                if probe is None:
                    status, _, _ = request(self.port, "GET", "/__mock/health", {}, b"", 1.0)
                    healthy = status == 200
                else:
                    status, _, _ = request(
                        self.port,
                        probe.method,
                        probe.path,
                        probe.headers_for(self.kind),
                        probe.body,
                        1.0,
                    )
                    healthy = True  # any HTTP answer from a documented route
                if healthy:
                    return StartResult(True, time.perf_counter() - self.started_at)
            except OSError:
                pass
            time.sleep(0.01)
        return StartResult(
            False, None, f"no healthy answer within {limit:.0f} s: " + self.log_tail()
        )

    def log_tail(self, chars: int = 1500) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return re.sub(r"\x1b\[[0-9;]*m", "", text)[-chars:].strip()

    def pids(self) -> list[int]:
        return tree(self.proc.pid) if self.proc else []

    def stop(self) -> dict[str, Any]:
        """Stop the tree; the memory it used at its peak."""
        memory: dict[str, Any] = {}
        if self.sampler is not None:
            self.sampler.finish()
            s = self.sampler
            per = sorted(((s.hwm_kb[p], s.names.get(p, "?"), p) for p in s.hwm_kb), reverse=True)
            root = self.proc.pid if self.proc else -1
            workers = [kb for kb, _, pid in per if pid != root]
            memory = {
                "peak_tree_rss_mb": round(s.peak_rss_kb / 1024, 1),
                "peak_tree_pss_mb": round(s.peak_pss_kb / 1024, 1),
                "processes": len(per),
                "root_hwm_mb": round(s.hwm_kb.get(root, 0) / 1024, 1),
                "max_child_hwm_mb": round(max(workers) / 1024, 1) if workers else None,
                "per_process_hwm_mb": [
                    {"pid": pid, "hwm_mb": round(kb / 1024, 1), "cmd": name}
                    for kb, name, pid in per
                ],
            }
        if self.proc is not None:
            stop_group(self.proc, grace=10)
        return memory


def stop_group(proc: subprocess.Popen[Any], grace: float) -> int | None:
    """SIGTERM a server started in a session of its own; SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    return proc.returncode


def request(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes, timeout: float = 5.0
) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, response.getheader("Content-Type") or "", data
    finally:
        conn.close()


# -- wrk ------------------------------------------------------------------------------------
LUA = """\
wrk.method = {method}
local f = io.open({body_path}, "rb")
wrk.body = f:read("*a")
f:close()
if wrk.body == "" then wrk.body = nil end
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,' ..
    '"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p50":%.0f,"p90":%.0f,' ..
    '"p99":%.0f,"max":%.0f,"mean":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


def lua_string(text: str) -> str:
    return json.dumps(text)  # ASCII only here: JSON's escapes are Lua's


def write_lua(workdir: Path, name: str, sc: Scenario, server: str) -> Path:
    body_path = workdir / f"{name}.body"
    body_path.write_bytes(sc.body)
    headers = "\n".join(
        f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in sc.headers_for(server).items()
    )
    script = workdir / f"{name}.lua"
    script.write_text(
        LUA.format(
            method=lua_string(sc.method), body_path=lua_string(str(body_path)), headers=headers
        )
    )
    return script


def run_wrk(
    wrk: str,
    script: Path,
    port: int,
    path: str,
    connections: int,
    seconds: int,
    server_pids: list[int],
) -> dict[str, Any]:
    url = f"http://{HOST}:{port}{path}"
    cmd = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    load = loadavg()
    busy0, server0 = system_busy_ticks(), tree_cpu_ticks(server_pids)
    self0, kids0 = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    t0 = time.perf_counter()
    done = run_quiet(cmd, timeout=seconds + 30)
    wall = time.perf_counter() - t0
    busy1, server1 = system_busy_ticks(), tree_cpu_ticks(server_pids)
    self1, kids1 = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    found = re.search(r"^BENCH_JSON (\{.*\})$", done.stdout, re.M)
    if done.returncode != 0 or not found:
        raise RuntimeError(
            f"wrk failed ({done.returncode}): {done.stdout[-800:]}{done.stderr[-800:]}"
        )
    res = json.loads(found.group(1))
    secs = res["duration_us"] / 1e6
    mine = (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime) * CLK_TCK
    wrk_ticks = (kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime) * CLK_TCK
    server_ticks = server1 - server0
    other = max(0.0, (busy1 - busy0) - server_ticks - wrk_ticks - mine)
    return {
        "connections": connections,
        "rps": res["requests"] / secs if secs else 0.0,
        "requests": int(res["requests"]),
        "p50_ms": res["p50"] / 1000,
        "p90_ms": res["p90"] / 1000,
        "p99_ms": res["p99"] / 1000,
        "max_ms": res["max"] / 1000,
        "non2xx": int(res["status"]),
        "socket_errors": int(res["connect"] + res["read"] + res["write"] + res["timeout"]),
        "load1": load,
        "server_cpu_cores": round(server_ticks / CLK_TCK / wall, 2),
        "wrk_cpu_cores": round(wrk_ticks / CLK_TCK / wall, 2),
        "other_cpu_cores": round(other / CLK_TCK / wall, 2),
    }


# -- one server through its scenarios -------------------------------------------------------
def mockserver_command(specs: list[str], port: int, args: argparse.Namespace) -> list[str]:
    """`mockserver serve` on `specs`, with the bench's workers and threads."""
    return [
        sys.executable,
        "-m",
        "mockserver",
        "serve",
        *specs,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
    ]


def bench_server(
    kind: str,
    spec: str,
    group: list[Scenario],
    args: argparse.Namespace,
    wrk: str,
    prism: Path | None,
    workdir: Path,
) -> dict[str, Any]:
    port = free_port()
    if kind == "mockserver":
        cmd = mockserver_command([str(SPECS / spec)], port, args)
        probe = None
    elif kind == "prism":
        assert prism is not None
        cmd = [
            str(prism),
            "mock",
            str(SPECS / spec),
            "-p",
            str(port),
            "-h",
            HOST,
            "-v",
            "silent",
            "--errors",
            "false",
        ]
        if any(sc.prism_dynamic for sc in group):
            cmd.append("-d")
        probe = group[0]
    else:  # the bare-Flask ceiling
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(BENCH),
            "-k",
            args.ceiling_worker,
            "-w",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--keep-alive",
            "5",
            "--timeout",
            "30",
            "--log-level",
            "warning",
            "-b",
            f"{HOST}:{port}",
            "bare_flask:app" if args.ceiling_worker == "gthread" else "bare_flask:asgi",
        ]
        probe = group[0]
    if args.settle > 0:
        wait_quiet(args.settle)
    label = f"{kind} {spec}"
    server = Server(kind, label, cmd, port, workdir)
    record: dict[str, Any] = {
        "server": kind,
        "spec": spec,
        "command": " ".join(cmd),
        "load1_at_start": loadavg(),
        "runs": {},
        "checks": {},
    }
    print(f"\n== {label}  (load {record['load1_at_start']:.2f})", flush=True)
    server.start()
    try:
        started = server.wait_ready(probe)
        record["startup_s"] = round(started.seconds, 3) if started.seconds is not None else None
        if not started.ok:
            record["failed"] = started.message
            print(f"   did not start: {started.message}", flush=True)
            return record
        print(f"   first healthy answer after {started.seconds * 1000:.0f} ms", flush=True)
        pids = server.pids()
        for sc in group:
            status, ctype, data = request(port, sc.method, sc.path, sc.headers_for(kind), sc.body)
            check = {
                "status": status,
                "content_type": ctype,
                "body": data[:300].decode("utf-8", "replace"),
                "documented_status": sc.documented_status,
            }
            record["checks"][sc.key] = check
            note = "" if kind == "ceiling" or status == sc.documented_status else "  (UNEXPECTED)"
            print(f"   [{sc.key}] check: {status} {ctype} {len(data)} B{note}", flush=True)
            script = write_lua(workdir, f"{kind}-{sc.key}", sc, kind)
            if args.warmup > 0:
                run_wrk(wrk, script, port, sc.path, 16, args.warmup, pids)
            runs = []
            for conns in args.connections:
                pids = server.pids()
                result = run_wrk(wrk, script, port, sc.path, conns, args.duration, pids)
                expect_2xx = 200 <= status < 400
                ok_status = (
                    result["non2xx"] == 0
                    if expect_2xx
                    else (result["non2xx"] == result["requests"])
                )
                result["statuses_as_checked"] = ok_status
                runs.append(result)
                print(
                    f"   [{sc.key}] c={conns:<3} {result['rps']:8.0f} req/s  "
                    f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                    f"errors {result['socket_errors']}  "
                    f"server {result['server_cpu_cores']:.2f} cores  "
                    f"other {result['other_cpu_cores']:.2f}  load {result['load1']:.2f}",
                    flush=True,
                )
            record["runs"][sc.key] = runs
    finally:
        record["memory"] = server.stop()
        if server.proc is not None and server.proc.returncode not in (0, None, -15):
            record["exit"] = f"exit code {server.proc.returncode}: {server.log_tail(600)}"
    mem = record["memory"]
    if mem:
        print(
            f"   peak RSS tree {mem['peak_tree_rss_mb']} MB (PSS {mem['peak_tree_pss_mb']} MB), "
            f"largest worker {mem['max_child_hwm_mb']} MB, root {mem['root_hwm_mb']} MB",
            flush=True,
        )
    return record


def startup_only(args: argparse.Namespace, workdir: Path, specs: list[str]) -> dict[str, Any]:
    """mockserver start-up on several specs (default: all bundled), nothing else."""
    port = free_port()
    cmd = mockserver_command(specs, port, args)
    server = Server("mockserver", "mockserver all-specs", cmd, port, workdir)
    load = loadavg()
    server.start()
    try:
        started = server.wait_ready(None)
    finally:
        memory = server.stop()
    return {
        "specs": specs,
        "startup_s": round(started.seconds, 3) if started.seconds else None,
        "load1": load,
        "memory": memory,
        "failed": None if started.ok else started.message,
    }


# -- report ---------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


BUSY = 0.25
"""Other CPU, in cores, from which a run is marked with * (the machine was not ours)."""


def busy(run: dict[str, Any] | None, text: str) -> str:
    return f"{text}*" if run and run["other_cpu_cores"] >= BUSY else text


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def all_runs(
    records: list[dict[str, Any]], server: str, key: str, conns: int
) -> list[dict[str, Any]]:
    return [
        run
        for rec in records
        if rec["server"] == server
        for run in rec.get("runs", {}).get(key, [])
        if run["connections"] == conns
    ]


def find(records: list[dict[str, Any]], server: str, key: str, conns: int) -> dict[str, Any] | None:
    """The run with the median req/s over the rounds (its latencies come with it)."""
    runs = sorted(all_runs(records, server, key, conns), key=lambda r: r["rps"])
    return runs[(len(runs) - 1) // 2] if runs else None


def spread(records: list[dict[str, Any]], server: str, key: str, conns: int) -> str:
    """` (min-max)` of req/s when there were several rounds."""
    rps = [r["rps"] for r in all_runs(records, server, key, conns)]
    return f" ({min(rps):,.0f}-{max(rps):,.0f})" if len(rps) > 1 else ""


def server_record(records: list[dict[str, Any]], server: str, spec: str) -> dict[str, Any] | None:
    for rec in records:
        if rec["server"] == server and rec["spec"] == spec:
            return rec
    return None


def build_tables(result: dict[str, Any]) -> tuple[str, str, list[str]]:
    records = result["records"]
    scs = {sc["key"]: sc for sc in result["scenarios"]}
    conns_list = result["settings"]["connections"]
    head = (
        "| scen | conns | mock req/s | mock p50 | mock p99 | prism req/s | prism p50 | "
        "prism p99 | mock/prism | ceiling req/s | mock/ceiling | load1 m/p/c | other CPU m/p/c |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for key, _sc in scs.items():
        for conns in conns_list:
            m = find(records, "mockserver", key, conns)
            p = find(records, "prism", key, conns)
            c = find(records, "ceiling", key, conns)
            loads = "/".join(fmt(r["load1"], 2) if r else "-" for r in (m, p, c))
            other = "/".join(fmt(r["other_cpu_cores"], 2) if r else "-" for r in (m, p, c))
            cells = [
                key,
                str(conns),
                busy(m, fmt(m and m["rps"])) + spread(records, "mockserver", key, conns),
                fmt(m and m["p50_ms"], 2),
                fmt(m and m["p99_ms"], 2),
                busy(p, fmt(p and p["rps"])) + spread(records, "prism", key, conns),
                fmt(p and p["p50_ms"], 2),
                fmt(p and p["p99_ms"], 2),
                ratio(m and m["rps"], p and p["rps"]),
                busy(c, fmt(c and c["rps"])) + spread(records, "ceiling", key, conns),
                ratio(m and m["rps"], c and c["rps"]),
                loads,
                other,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    main = "\n".join(lines)

    rows = [
        "| server | spec | round | start-up to first answer | peak RSS, tree | peak PSS, tree | "
        "largest worker (VmHWM) | processes | load1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def memory_row(
        server: str, spec: str, rnd: str, startup: float | None, mem: dict[str, Any], load: float
    ) -> str:
        worker = mem.get("max_child_hwm_mb") or mem.get("root_hwm_mb")
        cells = [
            server,
            spec,
            rnd,
            f"{fmt(startup * 1000)} ms" if startup else "FAILED",
            f"{fmt(mem.get('peak_tree_rss_mb'), 1)} MB",
            f"{fmt(mem.get('peak_tree_pss_mb'), 1)} MB",
            f"{fmt(worker, 1)} MB",
            str(mem.get("processes", "-")),
            fmt(load, 2),
        ]
        return "| " + " | ".join(cells) + " |"

    for rec in records:
        rows.append(
            memory_row(
                rec["server"],
                rec["spec"],
                str(rec.get("round", 1)),
                rec.get("startup_s"),
                rec.get("memory") or {},
                rec["load1_at_start"],
            )
        )
    extra = result.get("startup_all_specs")
    if extra:
        rows.append(
            memory_row(
                "mockserver",
                "all bundled specs, specs/ (start-up only)",
                "-",
                extra.get("startup_s"),
                extra.get("memory") or {},
                extra["load1"],
            )
        )
    side = "\n".join(rows)
    return main, side, targets(result)


def targets(result: dict[str, Any]) -> list[str]:
    records = result["records"]
    keys = [sc["key"] for sc in result["scenarios"]]
    conns_list = result["settings"]["connections"]
    out = []

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("MET" if ok else "MISSED")

    if 16 in conns_list:
        for key in keys:
            need = 10.0 if key == "b" else 2.0
            m, p = find(records, "mockserver", key, 16), find(records, "prism", key, 16)
            got = m["rps"] / p["rps"] if m and p and p["rps"] else None
            out.append(
                f"req/s at 16 conns >= {need:g}x Prism on ({key}): "
                f"{'-' if got is None else f'{got:.2f}x'} -> "
                f"{verdict(None if got is None else got >= need)}"
            )
    for key in keys:
        worse = []
        seen = False
        for conns in conns_list:
            m, p = find(records, "mockserver", key, conns), find(records, "prism", key, conns)
            if m and p:
                seen = True
                if m["p99_ms"] > p["p99_ms"]:
                    worse.append(f"c={conns}: {m['p99_ms']:.2f} vs {p['p99_ms']:.2f} ms")
        out.append(
            f"p99 no worse than Prism on ({key}) at {'/'.join(map(str, conns_list))}: "
            f"{verdict(not worse if seen else None)}" + (f" ({'; '.join(worse)})" if worse else "")
        )
    starts = [r["startup_s"] for r in records if r["server"] == "mockserver" and r.get("startup_s")]
    extra = result.get("startup_all_specs") or {}
    if extra.get("startup_s"):
        starts.append(extra["startup_s"])
    if starts:
        out.append(
            f"start-up under 1 s: fastest {min(starts) * 1000:.0f} ms, median "
            f"{statistics.median(starts) * 1000:.0f} ms, slowest {max(starts) * 1000:.0f} ms "
            f"-> {verdict(max(starts) < 1.0)}"
        )
    workers = [
        r["memory"].get("max_child_hwm_mb")
        for r in records
        if r["server"] == "mockserver" and r.get("memory")
    ]
    workers = [w for w in workers if w]
    if workers:
        out.append(
            f"peak memory under 80 MB per worker: largest worker {max(workers):.1f} MB -> "
            f"{verdict(max(workers) < 80)}"
        )
    for key in CEILING_SCENARIOS:
        if key not in keys:
            continue
        parts, oks = [], []
        for conns in conns_list:
            m, c = find(records, "mockserver", key, conns), find(records, "ceiling", key, conns)
            if m and c and c["rps"]:
                share = m["rps"] / c["rps"]
                parts.append(f"c={conns} {share:.0%}")
                oks.append(share >= 0.7)
        out.append(
            f">= 70% of the bare-Flask ceiling on ({key}): {', '.join(parts) or '-'} -> "
            f"{verdict(all(oks) if oks else None)}"
        )
    return out


def write_markdown(result: dict[str, Any], main: str, side: str, verdicts: list[str]) -> str:
    m = result["machine"]
    v = result["versions"]
    s = result["settings"]
    checks = []
    for rec in result["records"]:
        if rec.get("round", 1) != 1:
            continue
        for key, chk in rec.get("checks", {}).items():
            checks.append(
                f"| {rec['server']} | {key} | {chk['status']} | {chk['content_type']} | "
                f"`{chk['body'][:160].replace('|', '/')}` |"
            )
        if rec.get("failed"):
            checks.append(
                f"| {rec['server']} | {rec['spec']} | FAILED TO START | | `{rec['failed'][:300]}` |"
            )
    lines = [
        "# mockserver vs Prism vs bare Flask",
        "",
        f"Measured {result['when']} by `.venv/bin/python bench/run.py` "
        f"({s['duration']:g} s per wrk run after a {s['warmup']:g} s warm-up at 16 connections, "
        f"`wrk -t1 --timeout 5s`, 127.0.0.1 only).",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB memory, Linux "
        f"{m['kernel']}, Python {m['python']}. wrk, the servers and anything else running share "
        "the same cores.",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        f"mockserver: `mockserver serve <spec> --workers {s['workers']} --threads {s['threads']}` "
        "(access log on, to /dev/null; its bytecode compiled first, as an installed package "
        "has it). Prism: `prism mock <spec> -v silent --errors false` "
        "(`-d` for b). Ceiling: bench/bare_flask.py under "
        f"`gunicorn -k {s['ceiling_worker']} -w {s['workers']} --threads {s['threads']}`.",
        "",
        (
            f"{s['repeat']} rounds: each server was started {s['repeat']} times and every "
            "cell shows the round with the median req/s (its latencies with it) and, in "
            "brackets, the lowest and highest req/s of the rounds. "
            if s.get("repeat", 1) > 1
            else ""
        )
        + "Latencies in ms. load1 is the 1-minute load average when the run started (m = "
        "mockserver, p = Prism, c = ceiling); it counts runnable threads, the bench's own "
        "server and wrk included, so a loaded 16-thread server raises it by itself. other "
        "CPU is the better sign of outside work: the CPU, in cores, that processes other "
        "than the server, wrk and the bench used during the run (0.00 = the machine was "
        f"ours). A req/s marked * ran while others used {BUSY} cores or more: read it "
        "as a lower bound.",
        "",
        "## Throughput and latency",
        "",
        main,
        "",
        "Scenarios: "
        + "; ".join(f"**{sc['key']}** {sc['title']}" for sc in result["scenarios"])
        + ".",
        "",
        "## Start-up and memory",
        "",
        side,
        "",
        "Peak RSS of the tree counts pages shared by forked workers once per process; PSS "
        "shares them out. The largest worker is the highest VmHWM of a process below the root "
        "(for Prism, the node process itself).",
        "",
        "## Every run",
        "",
        "| server | round | scen | conns | req/s | p50 | p90 | p99 | max | non-2xx | "
        "socket errors | server CPU | wrk CPU | other CPU | load1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {rec['server']} | {rec.get('round', 1)} | {key} | {r['connections']} | "
            f"{r['rps']:,.0f} | "
            f"{r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | "
            f"{r['non2xx']} | {r['socket_errors']} | {r['server_cpu_cores']:.2f} | "
            f"{r['wrk_cpu_cores']:.2f} | {r['other_cpu_cores']:.2f} | {r['load1']:.2f} |"
            for rec in result["records"]
            for key, runs in rec.get("runs", {}).items()
            for r in runs
        ],
        "",
        "CPU columns are in cores (2 = both cores busy the whole run). non-2xx is what wrk "
        "counted as status errors: every request in c and d, where an error status is the "
        "answer asked for.",
        "",
        "## Targets (issue 6)",
        "",
        *[f"- {line}" for line in verdicts],
        "",
        "## What each server answered (one request by hand before each load)",
        "",
        "| server | scenario | status | content type | body (start) |",
        "|---|---|---|---|---|",
        *checks,
        "",
    ]
    if result.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in result["notes"]], ""]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    from mockserver.defaults import default_workers

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument(
        "--warmup", type=int, default=1, help="seconds of warm-up per scenario (0: none)"
    )
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--scenarios", default="a,b,c,d")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument(
        "--threads", type=int, default=4, help="mockserver's admin threads; the ceiling's threads"
    )
    parser.add_argument(
        "--ceiling-worker",
        default="mockserver.serving.MockWorker",
        help="gunicorn worker class of the ceiling: mockserver.serving.MockWorker (what "
        "`mockserver serve` runs; the default) or gthread (gunicorn's threaded WSGI worker)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0,
        help="before each server, wait up to this many seconds for other work on the "
        "machine to use under 0.25 cores (default 0: do not wait)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of everything; tables show the median round and the min-max of req/s",
    )
    parser.add_argument("--no-prism", action="store_true")
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",") if c]
    wanted = set(args.scenarios.split(","))
    if not all(0 < c <= 1000 for c in args.connections) or not 0 < args.duration <= 60:
        parser.error("connections must be 1..1000 and duration 0..60 s")
    if not 1 <= args.repeat <= 10 or not 0 <= args.settle <= 600:
        parser.error("repeat must be 1..10 and settle 0..600 s")

    wrk = ensure_wrk()
    prism = None if args.no_prism else ensure_prism()
    ensure_bytecode()
    chosen = [sc for sc in scenarios() if sc.key in wanted]
    result: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(wrk, prism),
        "settings": {
            "duration": args.duration,
            "warmup": args.warmup,
            "connections": args.connections,
            "workers": args.workers,
            "threads": args.threads,
            "repeat": args.repeat,
            "ceiling_worker": args.ceiling_worker,
        },
        "scenarios": [
            {
                "key": sc.key,
                "title": sc.title,
                "spec": sc.spec,
                "method": sc.method,
                "path": sc.path,
                "headers": sc.headers,
                "mock_headers": sc.mock_headers,
                "prism_headers": sc.prism_headers,
                "body": sc.body.decode(),
            }
            for sc in chosen
        ],
        "records": [],
        "notes": [],
    }
    print(
        f"machine: {result['machine']}\nversions: {result['versions']}\n"
        f"load at start: {Path('/proc/loadavg').read_text().strip()}",
        flush=True,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mockbench-") as tmp:
        workdir = Path(tmp)
        specs = list(dict.fromkeys(sc.spec for sc in chosen))
        ceiling = [sc for sc in chosen if sc.key in CEILING_SCENARIOS]
        for round_no in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"\n#### round {round_no} of {args.repeat}", flush=True)
            batch = []
            for spec in specs:
                group = [sc for sc in chosen if sc.spec == spec]
                batch.append(bench_server("mockserver", spec, group, args, wrk, prism, workdir))
                if prism is not None:
                    rec = bench_server("prism", spec, group, args, wrk, prism, workdir)
                    batch.append(rec)
                    if rec.get("failed") and round_no == 1:
                        result["notes"].append(f"Prism failed to load {spec}: {rec['failed']}")
            if ceiling and not args.no_ceiling:
                batch.append(
                    bench_server("ceiling", "bare_flask.py", ceiling, args, wrk, prism, workdir)
                )
            for rec in batch:
                rec["round"] = round_no
            result["records"].extend(batch)
        print("\n== mockserver start-up on all bundled specs", flush=True)
        result["startup_all_specs"] = startup_only(args, workdir, [str(SPECS)])
    for rec in result["records"]:
        if rec["server"] != "prism" or rec.get("round", 1) != 1:
            continue
        for key, chk in rec.get("checks", {}).items():
            if chk["status"] != chk["documented_status"]:
                result["notes"].append(
                    f"Prism on ({key}) answered {chk['status']} {chk['content_type']} where the "
                    f"spec documents {chk['documented_status']}: {chk['body'][:240]}"
                )
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    main_table, side_table, verdicts = build_tables(result)
    print(
        "\n"
        + main_table
        + f"\n(* = other work used {BUSY} cores or more during that run)\n\n"
        + side_table
        + "\n\nTargets:\n"
        + "\n".join(f"  {v}" for v in verdicts)
    )
    if result["notes"]:
        print("\nNotes:\n" + "\n".join(f"  - {n}" for n in result["notes"]))
    print(
        f"\nelapsed {result['elapsed_s']} s; load at end: "
        f"{Path('/proc/loadavg').read_text().strip()}"
    )
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(write_markdown(result, main_table, side_table, verdicts))
    print(f"wrote {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
