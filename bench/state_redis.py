"""The cost of the Redis store: throughput and p99 against the local store, one instance
and three, under wrk (bench/run.py's harness). Run on purpose, from the project root:

    .venv/bin/python bench/state_redis.py                  # ~1 minute
    .venv/bin/python bench/state_redis.py --duration 10 --repeat 3

Four set-ups, each `mockserver serve huawei-ces-events.yaml --workers W` per instance:
local store x 1 instance, Redis x 1, local x 3, Redis x 3 (the three on one Redis; the
three local ones each have a journal of their own, so they are not one mock: the
baseline only). Scenario (a) of run.py (a valid Huawei POST, which matches no scenario
rule: one round trip to Redis a request), and the same request matched by a scenario
rule that always fires (a counter in Redis too). With three instances, `--connections`
are split over three wrk processes run at once, one per instance: req/s is their sum,
p99 the worst of the three. Redis is Debian's redis-server on a free port with no
persistence (`apt-get install redis-server` if missing). Writes bench/state_redis.md and
bench/state_redis.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime as dt
import json
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import (
    BENCH,
    HOST,
    SPECS,
    Server,
    ensure_wrk,
    free_port,
    machine,
    request,
    run_wrk,
    scenarios,
    write_lua,
)

from tests.redis_server import RedisServer, redis_binary

RULE = {
    "scenarios": [
        {"name": "always", "match": {"operationId": "reportEvents"}, "respond": {"status": 201}}
    ]
}


def start(count: int, state: str | None, args: argparse.Namespace, work: Path) -> list[Server]:
    servers = []
    for index in range(count):
        port = free_port()
        cmd = [sys.executable, "-m", "mockserver", "serve", str(SPECS / "huawei-ces-events.yaml"),
               "--host", HOST, "--port", str(port), "--workers", str(args.workers)]  # fmt: skip
        if state:
            cmd += ["--state", state]
        server = Server("mockserver", f"{'redis' if state else 'local'}-{index}", cmd, port, work)
        server.start()
        servers.append(server)
    for server in servers:
        started = server.wait_ready(None)
        if not started.ok:
            raise SystemExit(f"mockserver did not start: {started.message}")
    return servers


def load_rule(servers: list[Server], shared: bool) -> None:
    for server in servers[:1] if shared else servers:
        put = urllib.request.Request(
            f"http://{HOST}:{server.port}/__mock/scenarios?session=ruled",
            data=json.dumps(RULE).encode(),
            method="PUT",
        )
        with urllib.request.urlopen(put, timeout=10) as answer:
            assert answer.status == 200


def drive(
    wrk: str, script: Path, servers: list[Server], path: str, conns: int, seconds: int
) -> dict[str, Any]:
    """wrk against every server at once, the connections split between them."""
    shares = [conns // len(servers) + (i < conns % len(servers)) for i in range(len(servers))]
    pids = [pid for server in servers for pid in server.pids()]
    with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
        runs = list(
            pool.map(
                lambda pair: run_wrk(wrk, script, pair[0].port, path, pair[1], seconds, pids),
                zip(servers, shares, strict=True),
            )
        )
    return {
        "rps": sum(r["rps"] for r in runs),
        "p50_ms": max(r["p50_ms"] for r in runs),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "errors": sum(r["socket_errors"] + r["non2xx"] for r in runs),
        "load1": runs[0]["load1"],
        "other_cpu_cores": max(r["other_cpu_cores"] for r in runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="workers per instance")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (medians reported)")
    args = parser.parse_args()
    wrk = ensure_wrk()
    huawei = next(sc for sc in scenarios() if sc.key == "a")
    ruled = dataclasses.replace(huawei, headers={**huawei.headers, "X-Mock-Session": "ruled"})
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mockserver-bench-redis-") as folder:
        work = Path(folder)
        redis = RedisServer(redis_binary(), work)
        redis.start()
        try:
            plain_lua = write_lua(work, "plain", huawei, "mockserver")
            ruled_lua = write_lua(work, "ruled", ruled, "mockserver")
            for _ in range(args.repeat):
                for count in (1, 3):
                    for store in ("local", "redis"):
                        redis.flush()
                        servers = start(count, redis.url if store == "redis" else None, args, work)
                        try:
                            load_rule(servers, shared=store == "redis")
                            status, _, _ = request(
                                servers[0].port, "POST", huawei.path, huawei.headers, huawei.body
                            )
                            assert status == 201, status
                            drive(wrk, plain_lua, servers, huawei.path, args.connections, 1)
                            for kind, lua in (("no rule", plain_lua), ("rule fires", ruled_lua)):
                                got = drive(
                                    wrk, lua, servers, huawei.path, args.connections, args.duration
                                )
                                rows.append({"instances": count, "store": store, "request": kind,
                                             **got})  # fmt: skip
                                print(
                                    f"{count} x {store:5} {kind:10} {got['rps']:7.0f} req/s  "
                                    f"p99 {got['p99_ms']:6.2f} ms  errors {got['errors']}  "
                                    f"load {got['load1']:.1f}",
                                    flush=True,
                                )
                        finally:
                            for server in servers:
                                server.stop()
        finally:
            redis.stop()
    write(rows, args)
    return 0


def write(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """One line per (instances, request): the local store and Redis side by side."""
    cells: dict[tuple[int, str], dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        cells.setdefault((row["instances"], row["request"]), {}).setdefault(
            row["store"], []
        ).append(row)
    lines = [
        "# The Redis store against the local store (bench/state_redis.py)",
        "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine().get('cpu', '?')}; "
        f"`huawei-ces-events` scenario (a) of bench/run.py, {args.connections} connections "
        f"in all, {args.workers} worker(s) per instance, {args.duration} s per run, "
        f"{args.repeat} round(s) (medians). Three instances: one wrk per instance at once, "
        "req/s summed, p99 the worst of the three (three local stores are three separate "
        "mocks: a baseline only). Everything (instances, Redis, wrk) shares this machine's "
        "cores: see the load.",
        "",
        "| instances | request | local req/s | local p99 ms | redis req/s | redis p99 ms "
        "| redis/local req/s | errors | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (count, kind), stores in cells.items():
        local, shared = stores.get("local", []), stores.get("redis", [])
        rps = [statistics.median(r["rps"] for r in runs) for runs in (local, shared)]
        p99 = [statistics.median(r["p99_ms"] for r in runs) for runs in (local, shared)]
        errors = sum(r["errors"] for r in local + shared)
        load = statistics.median(r["load1"] for r in local + shared)
        lines.append(
            f"| {count} | {kind} | {rps[0]:,.0f} | {p99[0]:.1f} | {rps[1]:,.0f} | {p99[1]:.1f} "
            f"| {rps[1] / rps[0]:.2f} | {errors} | {load:.1f} |"
        )
    (BENCH / "state_redis.md").write_text("\n".join(lines) + "\n")
    (BENCH / "state_redis.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
