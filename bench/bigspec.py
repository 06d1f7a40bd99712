"""Big specs: start-up time, memory per worker, and one route's speed, mockserver beside
Prism on the same real-world descriptions (issue 16: 8).

Run on purpose (never part of pytest), from the project root, with the project's venv:

    .venv/bin/python bench/bigspec.py                 # both servers, ~2 minutes
    .venv/bin/python bench/bigspec.py --no-prism

The specs are the corpus' biggest (tests/corpus/SOURCES.md): GitHub's REST API
(OpenAPI 3.0, 1,223 operations, 13 MB of JSON), Kubernetes 1.13 (Swagger 2.0, 1,014
operations) and OpenAI's (OpenAPI 3.1, 288 operations, 3 MB of YAML), plus a small one
(the Swagger 2.0 petstore, 20 operations) so that the cost of one request can be
compared across sizes. For each spec and server, one at a time on
127.0.0.1: start-up is the time from launching the process to the first answer on the
route; memory is the peak RSS of the biggest process of the tree (mockserver: a worker,
gunicorn's arbiter aside; Prism: its one node process), and the peak PSS of the whole
tree (mockserver's workers are forked after compiling, so most of their pages are
shared with the arbiter: RSS counts them in each, PSS once); then wrk drives the route at 16
connections for 5 s (bench/run.py's wrk script and parsing): requests/s and p99.
mockserver runs with 2 workers (`serve --workers 2`), as on a 2-core machine, its modules
byte-compiled first as `pip install` leaves them (an editable install where
PYTHONDONTWRITEBYTECODE is set has none: each start would compile ~50 modules, ~0.1 s).
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (
    HOST,
    ROOT,
    Scenario,
    Server,
    ensure_prism,
    ensure_wrk,
    free_port,
    run_wrk,
    write_lua,
)

CORPUS = ROOT / "tests" / "corpus" / "specs"
# (label, corpus file, the route driven): a route with a small answer in each, so that
# what differs is the spec's size, not the size of the body generated.
SPECS = (
    ("github", "github.json.gz", "/zen"),
    ("kubernetes", "kubernetes-1.13.json.gz", "/version/"),
    ("openai", "openai.yaml.gz", "/v1/models"),
    ("petstore (small)", "swagger2-petstore.yaml", "/v2/store/order/1"),
)
CONNECTIONS = 16
SECONDS = 5


def unpack(name: str, folder: Path) -> Path:
    source = CORPUS / name
    target = folder / name.removesuffix(".gz")
    if name.endswith(".gz"):
        with gzip.open(source, "rb") as packed, target.open("wb") as out:
            shutil.copyfileobj(packed, out)
    else:
        shutil.copyfile(source, target)
    return target


def command(kind: str, spec: Path, port: int, prism: Path | None) -> list[str]:
    if kind == "prism":
        assert prism is not None
        return [str(prism), "mock", str(spec), "-h", HOST, "-p", str(port), "-v", "silent"]
    return [
        sys.executable, "-m", "mockserver", "serve", str(spec),
        "--host", HOST, "--port", str(port), "--workers", "2",
    ]  # fmt: skip


def measure(kind: str, spec: Path, path: str, prism: Path | None, work: Path, wrk: str) -> dict:
    port = free_port()
    probe = Scenario(kind, path, spec.name, "GET", path, {"Authorization": "Bearer bench"})
    server = Server(kind, f"{kind}-{spec.stem}", command(kind, spec, port, prism), port, work)
    server.start()
    try:
        started = server.wait_ready(probe, limit=180.0)
        if not started.ok:
            return {"error": started.message[-300:]}
        script = write_lua(work, f"{kind}-{spec.stem}", probe, kind)
        run = run_wrk(wrk, script, port, path, CONNECTIONS, SECONDS, server.pids())
    finally:
        memory = server.stop()
    per = [p for p in memory.get("per_process_hwm_mb", []) if "arbiter" not in p["cmd"]]
    biggest = max((p["hwm_mb"] for p in per), default=memory.get("root_hwm_mb"))
    return {
        "start_s": round(started.seconds or 0.0, 2),
        "worker_mb": biggest,
        "tree_pss_mb": memory.get("peak_tree_pss_mb"),
        "rps": round(run["rps"]),
        "p99_ms": round(run["p99_ms"], 1),
        "non2xx": run["non2xx"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-prism", action="store_true")
    args = parser.parse_args()
    wrk = ensure_wrk()
    compileall.compile_dir(ROOT / "mockserver", quiet=1)
    prism = None if args.no_prism else ensure_prism()
    kinds = ["mockserver"] + ([] if prism is None else ["prism"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="bigspec-") as tmp:
        work = Path(tmp)
        for label, name, path in SPECS:
            spec = unpack(name, work)
            for kind in kinds:
                print(f"bench: {label} on {kind} ...", flush=True)
                rows.append((label, kind, measure(kind, spec, path, prism, work, wrk)))
    print()
    print(
        "| spec | server | start-up (s) | peak RSS per worker (MB) | all processes, PSS (MB) "
        "| req/s | p99 (ms) | non-2xx |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, kind, r in rows:
        if "error" in r:
            print(f"| {label} | {kind} | failed: {r['error']} | | | | | |")
            continue
        print(
            f"| {label} | {kind} | {r['start_s']} | {r['worker_mb']} | {r['tree_pss_mb']} "
            f"| {r['rps']} "
            f"| {r['p99_ms']} | {r['non2xx']} |"
        )


if __name__ == "__main__":
    main()
