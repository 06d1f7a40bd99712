"""The command line: `mockserver serve | validate | routes`, as `main(argv) -> int`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from mockserver.app import PROJECT_ROOT, Settings, create_app
from mockserver.engine import DEFAULT_SEED, Engine
from mockserver.spec import SpecError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4010


def default_specs() -> list[Path]:
    """`./specs` when run from a folder that has one, else the bundled specs."""
    local = Path.cwd() / "specs"
    return [local if local.is_dir() else PROJECT_ROOT / "specs"]


def default_fixtures(specs: list[Path]) -> Path:
    """`fixtures/` beside the (first) specs folder."""
    first = specs[0]
    base = first if first.is_dir() else first.parent
    return base.parent / "fixtures"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockserver", description="An OpenAPI 3.1 mock server for contract tests."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_sources(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "paths",
            nargs="*",
            type=Path,
            help="spec files or folders (default: ./specs, else the bundled specs)",
        )
        sub.add_argument(
            "--fixtures",
            type=Path,
            default=None,
            help="fixtures folder (default: fixtures/ beside the specs)",
        )

    serve = commands.add_parser("serve", help="serve every spec")
    with_sources(serve)
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    serve.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="seed of generated data (same seed, same data)",
    )
    serve.add_argument(
        "--max-body",
        type=int,
        default=Settings().max_body,
        help="largest request body accepted, in bytes",
    )

    validate = commands.add_parser("validate", help="check specs and fixtures, then exit")
    with_sources(validate)

    routes = commands.add_parser("routes", help="list every operation and its statuses")
    with_sources(routes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    specs = list(args.paths) or default_specs()
    fixtures = args.fixtures if args.fixtures is not None else default_fixtures(specs)
    try:
        if args.command == "serve":
            settings = Settings(
                specs=tuple(specs), fixtures=fixtures, seed=args.seed, max_body=args.max_body
            )
            return serve(settings, args.host, args.port)
        engine = Engine.from_paths(specs, fixtures)
    except SpecError as exc:
        print(f"mockserver: {exc}", file=sys.stderr)
        return 1
    if args.command == "validate":
        print(
            f"ok: {len(engine.apis)} APIs, {len(engine.operations)} operations, "
            f"{sum(len(v) for v in engine.fixtures.bodies.values())} fixtures"
        )
        return 0
    for op in engine.operations:
        statuses = " ".join(map(str, op.statuses))
        print(f"{op.method:7} {op.path:70} {op.api}.{op.operation_id}  [{statuses}]")
    return 0


def serve(settings: Settings, host: str, port: int) -> int:
    """Serve until SIGTERM or SIGINT, then finish requests in flight and exit 0."""
    from werkzeug.serving import make_server

    app = create_app(settings)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = make_server(host, port, app, threaded=True)
    print(
        f"mockserver: serving {len(app.extensions['mockserver.engine'].operations)} "
        f"operations on http://{host}:{server.server_port}",
        flush=True,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    return 0
