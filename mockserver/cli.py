"""The command line: `mockserver serve | validate | routes | coverage`, as `main(argv) -> int`.

Every option of `serve` also reads an environment variable (`MOCKSERVER_<OPTION>`),
so a container is configured without rebuilding; a flag on the command line wins.

This module imports nothing heavy at the top: `serve` starts the spec check in a child
process (`spec.check.SpecCheck`) first, and only then imports Flask, Faker, jsonschema
and the server (gunicorn, uvicorn), while the child works.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockserver import __version__, logs
from mockserver.cors import CorsError, CorsPolicy
from mockserver.defaults import (
    DEFAULT_JOURNAL_BYTES,
    DEFAULT_JOURNAL_SIZE,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_HEAD,
    DEFAULT_MAX_HEADER,
    DEFAULT_MAX_REQUEST_LINE,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_SEED,
    DEFAULT_SESSION_TTL,
    bundled,
    default_workers,
)
from mockserver.security import CredentialError
from mockserver.spec.check import SpecCheck
from mockserver.spec.errors import Problem, Problems, SpecError

if TYPE_CHECKING:
    from mockserver.app import Settings
    from mockserver.engine import Engine
    from mockserver.gateway import AsgiGateway
    from mockserver.serving import ServeOptions
    from mockserver.spec import Operation
    from mockserver.state import Store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4010
DEFAULT_THREADS = 4
ENV_PREFIX = "MOCKSERVER_"
CHECK_BUDGET = 2.0
"""Seconds from the OpenAPI check's start within which lenient `serve` waits for it. It
runs beside compiling, so a spec that compiles for longer (a big one, whose check takes
several times as long: ~15 s for GitHub's) is served as soon as it is compiled."""


class ConfigError(ValueError):
    """An environment variable that cannot be used."""


def default_specs() -> list[Path]:
    """`./specs` when run from a folder that has one, else the bundled specs."""
    local = Path.cwd() / "specs"
    return [local if local.is_dir() else bundled("specs")]


def default_fixtures(specs: list[Path]) -> Path:
    """`fixtures/` beside the (first) specs folder."""
    first = specs[0]
    base = first if first.is_dir() else first.parent
    return base.parent / "fixtures"


def _env(name: str, convert: Callable[[str], Any], default: Any) -> Any:
    raw = os.environ.get(ENV_PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return convert(raw)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        reason = f": {exc}" if isinstance(exc, argparse.ArgumentTypeError) else ""
        raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not valid{reason}") from None


def _integer(text: str, least: int, most: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least or (most is not None and value > most):
        bounds = f"from {least} to {most}" if most is not None else f"{least} or more"
        raise argparse.ArgumentTypeError(f"{value} is out of range (it must be {bounds})")
    return value


def _port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    return _integer(text, 0, 65535)


def _count(text: str) -> int:
    """A number of workers, threads or entries: at least 1."""
    return _integer(text, 1)


def _bytes(text: str) -> int:
    """A size in bytes: 0 or more."""
    return _integer(text, 0)


def _limit(text: str) -> int:
    """A head limit in bytes: at least 256 (a request line or a header must fit)."""
    return _integer(text, 256)


def _seconds(text: str) -> float:
    """A timeout: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 1e9:  # NaN and infinity too
        raise argparse.ArgumentTypeError(f"{text} is out of range (it must be above 0)")
    return value


def _cors(text: str) -> CorsPolicy:
    """`on`, `off`, or origins separated by commas."""
    try:
        return CorsPolicy.parse(text)
    except CorsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _credential(text: str) -> str:
    """`SCHEME=VALUE`: a security scheme's name in the spec, and the one value it takes."""
    scheme, sep, _ = text.partition("=")
    if not sep or not scheme.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not SCHEME=VALUE")
    return text


def _credentials(text: str) -> list[str]:
    """`MOCKSERVER_CREDENTIALS`: `SCHEME=VALUE` pairs separated by commas."""
    return [_credential(pair.strip()) for pair in text.split(",") if pair.strip()]


def _base_path(text: str) -> tuple[str, str]:
    """`--base-path [API=]PATH`: ("", PATH) for every API, (API, PATH) for one."""
    api, sep, path = text.rpartition("=")
    if not sep and not text.startswith("/") and text != "":
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a base path: it starts with '/' (or is API=PATH for one API)"
        )
    if path and not path.startswith("/"):
        raise argparse.ArgumentTypeError(f"{path!r} is not a base path: it starts with '/'")
    return api, path


def _base_paths(text: str) -> list[tuple[str, str]]:
    """MOCKSERVER_BASE_PATH: entries of `--base-path`, with ',' between them."""
    return [_base_path(entry.strip()) for entry in text.split(",")]


def _switch(text: str) -> bool:
    """An on/off setting from the environment: 1/true/yes/on or 0/false/no/off."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not one of 1, true, yes, on, 0, false, no, off")


def _state_url(text: str) -> str:
    """`--state`: where the shared state lives, a Redis URL (`redis://`, `rediss://`),
    or `local` (the default: a file of this host's)."""
    if text != "local" and not text.lower().startswith(("redis://", "rediss://")):
        raise argparse.ArgumentTypeError(
            f"{text[:60]!r} is not a Redis URL (redis://[:PASSWORD@]HOST:PORT/DB or "
            "rediss://...), nor `local`"
        )
    return text


def _log_format(value: str) -> str:
    if value not in ("text", "json"):
        raise ValueError(value)
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockserver",
        description="An OpenAPI (3.1, 3.0, Swagger 2.0) mock server for contract tests.",
    )
    parser.add_argument("--version", action="version", version=f"mockserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_sources(sub: argparse.ArgumentParser, env: bool = False) -> None:
        sub.add_argument(
            "paths",
            nargs="*",
            type=Path,
            help="spec files or folders (default: ./specs, else the bundled specs"
            + ("; env MOCKSERVER_SPECS, ':'-separated)" if env else ")"),
        )
        sub.add_argument(
            "--base-path",
            type=_base_path,
            action="append",
            default=None,
            metavar="[API=]PATH",
            help="serve every API (or API, by its id) under PATH instead of its servers' "
            "path; '/' serves the bare paths; repeatable"
            + ("; env MOCKSERVER_BASE_PATH, ','-separated" if env else ""),
        )
        sub.set_defaults(base_path_env=_env("BASE_PATH", _base_paths, []) if env else [])
        sub.add_argument(
            "--fixtures",
            type=Path,
            default=_env("FIXTURES", Path, None) if env else None,
            help="fixtures folder (default: fixtures/ beside the specs)",
        )

    serve = commands.add_parser("serve", help="serve every spec")
    with_sources(serve, env=True)
    serve.add_argument(
        "--host",
        default=_env("HOST", str, DEFAULT_HOST),
        help=f"address to bind (default {DEFAULT_HOST})",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=_env("PORT", _port, DEFAULT_PORT),
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    serve.add_argument(
        "--seed",
        type=int,
        default=_env("SEED", int, DEFAULT_SEED),
        help="seed of generated data (same seed, same data)",
    )
    serve.add_argument(
        "--max-body",
        type=_bytes,
        default=_env("MAX_BODY", _bytes, DEFAULT_MAX_BODY),
        help="largest request body accepted, in bytes",
    )
    serve.add_argument(
        "--max-header",
        type=_limit,
        default=_env("MAX_HEADER", _limit, None),
        help=f"longest header (name and value) accepted, in bytes (default {DEFAULT_MAX_HEADER}, "
        "or the longest maxLength a loaded spec documents for a header, if more)",
    )
    serve.add_argument(
        "--max-request-line",
        type=_limit,
        default=_env("MAX_REQUEST_LINE", _limit, DEFAULT_MAX_REQUEST_LINE),
        help=f"longest request target (path and query) accepted, in bytes "
        f"(default {DEFAULT_MAX_REQUEST_LINE})",
    )
    serve.add_argument(
        "--max-head",
        type=_limit,
        default=_env("MAX_HEAD", _limit, DEFAULT_MAX_HEAD),
        help=f"largest request head (request line and headers) accepted, in bytes "
        f"(default {DEFAULT_MAX_HEAD})",
    )
    serve.add_argument(
        "--scenarios",
        type=Path,
        default=_env("SCENARIOS", Path, None),
        help="a scenario file (YAML) to start with",
    )
    serve.add_argument(
        "--workers",
        type=_count,
        default=_env("WORKERS", _count, default_workers()),
        help=f"worker processes (default: one per core, here {default_workers()})",
    )
    serve.add_argument(
        "--threads",
        type=_count,
        default=_env("THREADS", _count, DEFAULT_THREADS),
        help="threads per worker process for /__mock/ admin requests; API requests run on "
        f"the worker's event loop (default {DEFAULT_THREADS})",
    )
    serve.add_argument(
        "--request-timeout",
        type=_seconds,
        default=_env("REQUEST_TIMEOUT", _seconds, 10.0),
        help="seconds a client has to send a whole request (default 10)",
    )
    serve.add_argument(
        "--journal-size",
        type=_count,
        default=_env("JOURNAL_SIZE", _count, DEFAULT_JOURNAL_SIZE),
        help=f"requests kept in the journal, per session (default {DEFAULT_JOURNAL_SIZE})",
    )
    serve.add_argument(
        "--journal-bytes",
        type=_count,
        default=_env("JOURNAL_BYTES", _count, DEFAULT_JOURNAL_BYTES),
        help="bytes of journal entries kept, all sessions together; the oldest go first "
        f"(default {DEFAULT_JOURNAL_BYTES})",
    )
    serve.add_argument(
        "--max-sessions",
        type=_count,
        default=_env("MAX_SESSIONS", _count, DEFAULT_MAX_SESSIONS),
        help="sessions whose state is kept; the least recently used is forgotten first "
        f"(default {DEFAULT_MAX_SESSIONS})",
    )
    serve.add_argument(
        "--session-ttl",
        type=_seconds,
        default=_env("SESSION_TTL", _seconds, DEFAULT_SESSION_TTL),
        help=f"seconds a session may go unused before it is forgotten "
        f"(default {DEFAULT_SESSION_TTL:g})",
    )
    serve.add_argument(
        "--admin-token",
        default=_env("ADMIN_TOKEN", str, None),
        help="require this token on /__mock/ admin routes (health stays open)",
    )
    serve.add_argument(
        "--cors",
        type=_cors,
        default=_env("CORS", _cors, CorsPolicy()),
        metavar="on|off|ORIGIN,...",
        help="CORS for browser front-ends: on (any origin, the default), off, or only "
        "these origins (http://localhost:3000,https://app.example)",
    )
    serve.add_argument(
        "--credential",
        type=_credential,
        action="append",
        default=None,
        metavar="SCHEME=VALUE",
        help="accept only VALUE for the security scheme SCHEME (its name in the spec; "
        "repeatable; for bearer-like schemes the token, for basic user:pass); without it "
        "any well-formed credential passes (env MOCKSERVER_CREDENTIALS, comma-separated)",
    )
    serve.add_argument(
        "--state",
        type=_state_url,
        default=_env("STATE", _state_url, None),
        metavar="URL",
        help="keep the shared state (journal, coverage, scenarios, counters, sessions) in "
        "Redis at this URL, redis://[:PASSWORD@]HOST:PORT/DB or rediss://..., shared by "
        "every instance that names it (default: a local file of this host's)",
    )
    serve.add_argument(
        "--watch",
        action="store_true",
        default=_env("WATCH", _switch, False),
        help="reload the specs, fixtures and scenario file when one changes (SIGHUP "
        "reloads them too)",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=_env("LOG_FORMAT", _log_format, "text"),
        help="one line per request on stdout, as text or JSON",
    )

    serve.add_argument(
        "--strict",
        action="store_true",
        default=_env("STRICT", _switch, False),
        help="refuse to start on any spec problem, as `validate` reports them (default: "
        "serve, with one warning line per problem)",
    )

    validate = commands.add_parser(
        "validate", help="list every problem of the specs and fixtures; exit 1 if any"
    )
    with_sources(validate)
    routes = commands.add_parser("routes", help="list every operation and its statuses")
    with_sources(routes)

    coverage = commands.add_parser("coverage", help="contract coverage of a running mock")
    coverage.add_argument(
        "--url", default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}", help="base URL of the mock"
    )
    coverage.add_argument(
        "--session", default=None, help="report on this X-Mock-Session only (default: all)"
    )
    coverage.add_argument(
        "--fail-under",
        type=float,
        default=None,
        help="exit 1 when documented statuses covered are under this percent",
    )
    coverage.add_argument("--format", choices=("text", "json", "junit"), default="text")
    coverage.add_argument("--admin-token", default=_env("ADMIN_TOKEN", str, None))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except ConfigError as exc:  # before the flags are read: the environment's log format
        wanted = os.environ.get(ENV_PREFIX + "LOG_FORMAT", "").strip()
        print(
            logs.line("json" if wanted == "json" else "text", "error", f"mockserver: {exc}"),
            file=sys.stderr,
        )
        return 2
    if args.command == "coverage":
        return coverage(args)
    specs = list(args.paths)
    if not specs and args.command == "serve" and os.environ.get(ENV_PREFIX + "SPECS"):
        specs = [Path(p) for p in os.environ[ENV_PREFIX + "SPECS"].split(":") if p]
    specs = specs or default_specs()
    fixtures = args.fixtures if args.fixtures is not None else default_fixtures(specs)
    base_paths = tuple(args.base_path if args.base_path is not None else args.base_path_env)
    check = SpecCheck(specs) if args.command == "serve" else None
    # Everything heavy is imported from here on, while the spec check runs.
    from mockserver.app import Settings
    from mockserver.controls import documented_keys
    from mockserver.engine import Engine
    from mockserver.problems import StateUnavailable
    from mockserver.scenarios import ScenarioError
    from mockserver.serving import ListenError, ServeOptions

    log_format = args.log_format if args.command == "serve" else "text"
    try:
        if check is not None:
            settings = Settings(
                specs=tuple(specs),
                fixtures=fixtures,
                base_paths=base_paths,
                seed=args.seed,
                max_body=args.max_body,
                journal_size=args.journal_size,
                journal_bytes=args.journal_bytes,
                max_sessions=args.max_sessions,
                session_ttl=args.session_ttl,
                admin_token=args.admin_token or None,
                log_format=args.log_format,
                log_requests=True,
                cors=args.cors,
                credentials=tuple(
                    args.credential
                    if args.credential is not None
                    else _env("CREDENTIALS", _credentials, [])
                ),
                strict=args.strict,
                state=args.state,
            )
            options = ServeOptions(
                args.host,
                args.port,
                args.workers,
                args.threads,
                request_timeout=args.request_timeout,
                max_header=args.max_header,
                max_request_line=args.max_request_line,
                max_head=args.max_head,
                log_format=args.log_format,
            )
            return serve(settings, options, args.scenarios, check, watch=args.watch)
        problems = Problems(echo=False)
        try:
            engine = Engine.from_paths(
                specs, fixtures, base_paths=dict(base_paths), problems=problems
            )
        except SpecError as exc:
            if args.command != "validate":
                raise
            problems.extend(exc.problems)
            return _refuse(problems)
    except (ConfigError, CredentialError, ScenarioError) as exc:
        # a value that cannot be used, as for the options
        print(logs.line(log_format, "error", f"mockserver: {exc}"), file=sys.stderr)
        return 2
    except ListenError as exc:
        print(logs.line(log_format, "error", f"mockserver: {exc.strerror}"), file=sys.stderr)
        return 2
    except StateUnavailable as exc:  # --state names a Redis that does not answer
        print(logs.line(log_format, "error", f"mockserver: --state: {exc}"), file=sys.stderr)
        return 2
    except SpecError as exc:
        for line in str(exc).splitlines():
            print(logs.line(log_format, "error", f"mockserver: {line}"), file=sys.stderr)
        return 1
    except OSError as exc:
        print(logs.line(log_format, "error", f"mockserver: {exc}"), file=sys.stderr)
        return 1
    finally:
        if check is not None:
            check.cancel()
    if args.command == "validate":
        if len(problems):
            return _refuse(problems)
        emit(
            f"ok: {len(engine.apis)} APIs, {len(engine.operations)} operations, "
            f"{sum(len(v) for v in engine.fixtures.bodies.values())} fixtures\n"
        )
        return 0
    warn_about(problems)
    lines = []
    for op in engine.operations:
        statuses = " ".join(map(str, documented_keys(op)))
        lines.append(f"{op.method:7} {op.served_path:70} {op.api}.{op.operation_id}  [{statuses}]")
    emit("".join(line + "\n" for line in lines))
    return 0


def _refuse(problems: Problems) -> int:
    """`validate`'s verdict on specs with problems: each on a line of its own, exit 1."""
    for problem in problems:
        print(problem, file=sys.stderr)
    files = len({p.source for p in problems})
    noun = "problem" if len(problems) == 1 else "problems"
    print(f"mockserver: {len(problems)} {noun} in {files} file(s)", file=sys.stderr)
    return 1


def warn_about(problems: Iterable[Problem], log_format: str = "text") -> None:
    """One line on stderr per spec defect that did not stop loading."""
    for problem in problems:
        print(logs.line(log_format, "warning", f"mockserver: warning: {problem}"), file=sys.stderr)


def emit(text: str) -> None:
    """Write `text` on stdout. A reader that went away (`mockserver routes | head -1`)
    wanted no more: the rest goes to /dev/null, quietly, and the command's exit code
    stays what it would have been."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit has somewhere to go
        os.close(devnull)


def configure_logging(log_format: str = "text") -> None:
    """Warnings on stderr, as text or JSON lines. (The one line per request on stdout
    is `journal.AccessLog`, written by each worker's journal thread.)"""
    logs.configure(log_format)


def serve(
    settings: Settings,
    options: ServeOptions,
    scenarios: Path | None = None,
    check: SpecCheck | None = None,
    *,
    watch: bool = False,
) -> int:
    """Build everything, then serve until SIGTERM or SIGINT (requests in flight finish).
    SIGHUP, and with `watch` a change of a spec, fixture or the scenario file, builds
    everything anew and serves it (`mockserver.reload`).

    `check`, the OpenAPI check of the specs already running in a child process, is
    waited for before anything is served; without one, the specs are checked here. Its
    findings and the loader's are warnings, or with `settings.strict` a refusal
    (`SpecError`)."""
    from mockserver.serving import serve as serve_forever
    from mockserver.state import Bounds, open_store

    sources = [*settings.specs, settings.fixtures, scenarios]
    # gunicorn forks the workers inside `serve_forever`: a worker that stops (at a reload,
    # or one the arbiter replaces) leaves through this frame too, and must not remove the
    # state the master and the other workers still use.
    owner, state_dir = os.getpid(), tempfile.mkdtemp(prefix="mockserver-")
    try:
        bounds = Bounds(settings.journal_bytes, settings.max_sessions, settings.session_ttl)
        store = open_store(settings.state, Path(state_dir), bounds)
        first = build(settings, options, scenarios, store, check)
        configure_logging(settings.log_format)

        def announce(url: str) -> None:
            operations = len(first.engine.operations)
            message = f"mockserver: serving {operations} operations on {url}"
            print(logs.line(settings.log_format, "info", message, url=url), flush=True)

        def rebuild() -> AsgiGateway:
            new = build(settings, options, scenarios, store)
            logging.getLogger("mockserver").warning(
                "mockserver: reloaded: serving %d operations (version %s)",
                len(new.engine.operations),
                new.version,
            )
            return new.app

        try:
            return serve_forever(
                first.app,
                first.options,
                announce,
                rebuild,
                [p for p in sources if p] if watch else None,
            )
        finally:
            store.close()
    finally:
        if os.getpid() == owner:
            shutil.rmtree(state_dir, ignore_errors=True)


@dataclasses.dataclass(frozen=True, slots=True)
class Built:
    """What `build` made: the app, its engine, the options it needs, its version."""

    app: AsgiGateway
    engine: Engine
    options: ServeOptions
    version: str


def build(
    settings: Settings,
    options: ServeOptions,
    scenarios: Path | None,
    store: Store,
    check: SpecCheck | None = None,
) -> Built:
    """The app `serve` serves, from the files as they are now: specs read, checked
    (here, unless `check` already runs in a child) and compiled, fixtures validated, the
    scenario file loaded into the default session. Raises what stops a start."""
    from mockserver import reload
    from mockserver.app import asgi_app, create_app
    from mockserver.engine import Engine
    from mockserver.scenarios import ScenarioError, parse_document
    from mockserver.spec.load import merge
    from mockserver.state import DEFAULT_SESSION

    version = reload.version([*settings.specs, settings.fixtures, scenarios])
    problems = Problems(echo=False)
    engine = Engine.from_paths(
        list(settings.specs),
        settings.fixtures,
        settings.seed,
        store,
        check is None,
        dict(settings.base_paths),
        problems,
        settings.credentials,
    )
    if check is not None:
        # Lenient, the check only adds warnings: it is waited for until CHECK_BUDGET
        # seconds after it started, not for minutes (openapi-spec-validator takes ~15 s
        # on GitHub's 13 MB description; `validate` and --strict wait for it).
        left = max(0.0, CHECK_BUDGET - check.elapsed())
        found = check.result(None if settings.strict else left)
        if found is None:
            problems.warn(
                ", ".join(str(p) for p in settings.specs),
                "",
                f"the OpenAPI check (openapi-spec-validator) did not finish within "
                f"{CHECK_BUDGET:g} s, beside compiling, and was stopped: "
                "`mockserver validate` runs it in full",
            )
        else:
            merge(problems, found)
    if settings.strict and len(problems):
        raise SpecError.of(problems)
    warn_about(problems, settings.log_format)
    if scenarios is not None:
        try:
            text = scenarios.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{scenarios}: cannot read: {exc}") from None
        try:
            engine.scenarios.load(DEFAULT_SESSION, parse_document(text))
        except ScenarioError as exc:
            raise ScenarioError(f"{scenarios}: {exc}") from None
    if options.max_header is None:
        longest = documented_header_length(engine.operations)
        options = dataclasses.replace(options, max_header=max(DEFAULT_MAX_HEADER, longest))
    app = create_app(dataclasses.replace(settings, version=version), engine)
    return Built(asgi_app(app, options.threads), engine, options, version)


def documented_header_length(operations: Iterable[Operation]) -> int:
    """The longest header a loaded spec allows: a header parameter's name, ": " and its
    schema's `maxLength` (0 when no header documents one)."""
    longest = 0
    for op in operations:
        for param in op.params:
            schema = param.schema
            if param.location == "header" and isinstance(schema, Mapping):
                most = schema.get("maxLength")
                if isinstance(most, int) and not isinstance(most, bool):
                    longest = max(longest, len(param.name) + 2 + most)
    return longest


def coverage(args: argparse.Namespace) -> int:
    """Print a running mock's coverage; exit 1 under --fail-under, 2 if it cannot be read."""
    import urllib.error  # here, not at the top: ~30 ms of every start-up, for this only
    import urllib.parse
    import urllib.request

    query = f"?{urllib.parse.urlencode({'session': args.session})}" if args.session else ""
    request = urllib.request.Request(args.url.rstrip("/") + "/__mock/coverage" + query)
    if args.admin_token:
        request.add_header("Authorization", f"Bearer {args.admin_token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            report = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"mockserver: cannot read coverage from {args.url}: {exc}", file=sys.stderr)
        return 2
    from mockserver.journal import render_junit, render_text

    if args.format == "json":
        emit(json.dumps(report, indent=2) + "\n")
    elif args.format == "junit":
        emit(render_junit(report, args.fail_under))
    else:
        emit(render_text(report) + "\n")
    percent = float(report["totals"]["statuses"]["percent"])
    if args.fail_under is not None and percent < args.fail_under:
        print(
            f"mockserver: status coverage {percent:.1f}% is under {args.fail_under:.1f}%",
            file=sys.stderr,
        )
        return 1
    return 0
