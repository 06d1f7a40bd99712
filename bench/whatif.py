"""What-if server: `mockserver serve` with one part swapped or switched off, for measuring.

An experiment harness, not a way to run the mock: it patches mockserver in memory to
estimate what a change would buy before anyone makes it. Run on purpose, then drive it
with wrk as bench/run.py does:

    .venv/bin/python bench/whatif.py specs/huawei-ces-events.yaml --port 4551 \\
        --no-journal --no-log --threads 2

    --no-journal  LocalStore.record does nothing (no SQLite write per request)
    --no-log      no access log line
    --time-record write LocalStore.record's wall-time figures to bench-record-<pid>.json
                  in the temp folder, every 200 calls

(`--rs`, request validators on jsonschema-rs, is gone: the server has used them since
the what-if figures in bench/README.md were taken.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mockserver.app import Settings, asgi_app, create_app  # noqa: E402
from mockserver.engine import Engine  # noqa: E402
from mockserver.serving import ServeOptions, serve  # noqa: E402
from mockserver.state import LocalStore  # noqa: E402


def time_record(folder: Path) -> None:
    original = LocalStore.record
    stats = {"calls": 0, "total_s": 0.0, "over_1ms": 0, "over_5ms": 0, "max_s": 0.0}

    def record(self: LocalStore, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        original(self, *args, **kwargs)
        took = time.perf_counter() - start
        stats["calls"] += 1
        stats["total_s"] += took
        stats["max_s"] = max(stats["max_s"], took)
        stats["over_1ms"] += took > 0.001
        stats["over_5ms"] += took > 0.005
        if stats["calls"] % 200 == 0:
            (folder / f"bench-record-{os.getpid()}.json").write_text(json.dumps(stats))

    LocalStore.record = record  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--no-journal", action="store_true")
    parser.add_argument("--no-log", action="store_true")
    parser.add_argument("--time-record", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mockwhatif-"))
    if args.time_record:
        time_record(folder)
        print(f"LocalStore.record figures go to {folder}", flush=True)
    if args.no_journal:
        LocalStore.record = lambda self, *a, **k: None  # type: ignore[method-assign]
    store = LocalStore(folder / "state.sqlite")
    fixtures = ROOT / "fixtures"
    engine = Engine.from_paths([args.spec], fixtures, 4010, store)
    settings = Settings(specs=(args.spec,), fixtures=fixtures, log_requests=not args.no_log)
    app = asgi_app(create_app(settings, engine), args.threads)  # access log (if on): stdout
    options = ServeOptions("127.0.0.1", args.port, args.workers, args.threads)
    return serve(app, options, lambda url: print(f"whatif: serving on {url}", flush=True))


if __name__ == "__main__":
    sys.exit(main())
