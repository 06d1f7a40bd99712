"""The command line: `mockserver serve | validate | routes`, as `main(argv) -> int`."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mockserver.app import PROJECT_ROOT, Settings, create_app
from mockserver.engine import DEFAULT_SEED, Engine
from mockserver.scenarios import ScenarioError, parse_document
from mockserver.serving import ServeOptions, default_workers
from mockserver.serving import serve as serve_forever
from mockserver.spec import SpecError
from mockserver.state import DEFAULT_SESSION, StateStore

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4010
DEFAULT_THREADS = 8


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
    serve.add_argument(
        "--scenarios", type=Path, default=None, help="a scenario file (YAML) to start with"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help=f"worker processes (default: one per core, here {default_workers()})",
    )
    serve.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="threads per worker process"
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
            options = ServeOptions(args.host, args.port, max(1, args.workers), max(1, args.threads))
            return serve(settings, options, args.scenarios)
        engine = Engine.from_paths(specs, fixtures)
    except (SpecError, ScenarioError, OSError) as exc:
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


def serve(settings: Settings, options: ServeOptions, scenarios: Path | None = None) -> int:
    """Build everything, then serve until SIGTERM or SIGINT (requests in flight finish)."""
    with tempfile.TemporaryDirectory(prefix="mockserver-") as state_dir:
        store = StateStore(Path(state_dir) / "state.sqlite")
        engine = Engine.from_paths(list(settings.specs), settings.fixtures, settings.seed, store)
        if scenarios is not None:
            try:
                text = scenarios.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ScenarioError(f"{scenarios}: cannot read: {exc}") from None
            try:
                engine.scenarios.load(DEFAULT_SESSION, parse_document(text))
            except ScenarioError as exc:
                raise ScenarioError(f"{scenarios}: {exc}") from None
        app = create_app(settings, engine)
        logging.basicConfig(level=logging.INFO, format="%(message)s")

        def announce(url: str) -> None:
            print(f"mockserver: serving {len(engine.operations)} operations on {url}", flush=True)

        try:
            return serve_forever(app, options, announce)
        finally:
            store.close()
