"""One request through the mock, without any web framework.

    route -> decode controls (else a scripted scenario) -> validate (always) -> respond

Control headers sent with a request win over scripted scenarios: a scenario is only
consulted, and only counts the call, when the request carries no control header.

`Engine.handle` takes a plain `RequestRecord` and returns an `Outcome`: the reply,
and what was learnt on the way (operation, violations, controls), for the journal
and the logs. Mock-level errors are raised as `MockError`s, for the one handler
that renders them.

Methods the spec does not write (RFC 9110 §9.3.2, §9.3.7): `HEAD` on a path whose GET
is documented is that GET operation (answered without a body); `OPTIONS` on a path
that documents no OPTIONS operation is an `Allowed` (204 with `Allow`). Every `Allow`
lists HEAD with GET, and OPTIONS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mockserver import controls as control_headers
from mockserver import security
from mockserver.controls import NO_CONTROLS, Controls
from mockserver.defaults import DEFAULT_SEED
from mockserver.fixtures import FixtureStore, load_fixtures
from mockserver.problems import BadHttpRequest, MethodNotDocumented, RouteNotFound
from mockserver.responder import Reply, Responder
from mockserver.routing import Match, NoRoute, Router, WrongMethod, split_path
from mockserver.scenarios import ScenarioBook
from mockserver.spec import Api, Operation, load_apis
from mockserver.spec.errors import Problems
from mockserver.state import DEFAULT_SESSION, LocalStore, Store
from mockserver.validation import Checked, RequestRecord, check

SESSION_HEADER = "x-mock-session"


@dataclass(frozen=True, slots=True)
class Allowed:
    """`OPTIONS` on an API path that documents no OPTIONS: the methods the path takes."""

    methods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Preflight:
    """What a CORS preflight may be told: the path's methods, and the request headers
    the asked-for method's operation takes (lower-case; `*`: any)."""

    methods: tuple[str, ...]
    headers: frozenset[str]


CONTROL_HEADERS = frozenset(
    {"x-mock-status", "x-mock-example", "x-mock-dynamic", "x-mock-seed", "x-mock-delay"}
    | {"x-mock-fault", "x-mock-session", "prefer"}
)
_SAFE_HEADERS = frozenset({"accept", "accept-language", "content-language"})
_NO_METHOD = ""
"""A method no spec documents: matching it finds every method of a path."""


def with_implied(methods: tuple[str, ...]) -> tuple[str, ...]:
    """A path's documented methods, plus HEAD where GET is, plus OPTIONS, sorted."""
    implied = set(methods) | {"OPTIONS"}
    if "GET" in implied:
        implied.add("HEAD")
    return tuple(sorted(implied))


def request_header_names(op: Operation) -> frozenset[str]:
    """Every request header `op` takes: its header parameters, the headers its
    credentials travel in, Content-Type when it has a body, the mock's control headers."""
    names = {p.name.lower() for p in op.params if p.location == "header"}
    names.update(c.name.lower() for option in op.security for c in option if c.location == "header")
    if op.body is not None:
        names.add("content-type")
    return frozenset(names | CONTROL_HEADERS | _SAFE_HEADERS)


@dataclass(frozen=True, slots=True)
class Outcome:
    reply: Reply
    operation: Operation
    checked: Checked
    controls: Controls = field(default=NO_CONTROLS)
    session: str = DEFAULT_SESSION
    scenario: str | None = None


class Engine:
    """Everything compiled at start-up; `handle` only looks things up."""

    def __init__(
        self,
        apis: list[Api],
        fixtures: FixtureStore,
        seed: int = DEFAULT_SEED,
        store: Store | None = None,
        credentials: Iterable[str] = (),
    ) -> None:
        """`credentials`: `SCHEME=VALUE` pairs (`--credential`); only those values pass
        for those schemes. A scheme no operation uses raises `CredentialError`."""
        self.apis = tuple(apis)
        self.fixtures = fixtures
        self.seed = seed
        self.operations = tuple(op for api in apis for op in api.operations)
        self.credentials = security.parse_credentials(credentials)
        security.check_expected(self.credentials, self.operations)
        self.router = Router(self.operations)
        self.responder = Responder(fixtures, seed)
        self.store: Store = store or LocalStore()
        self.scenarios = ScenarioBook(self.store, self.operations, fixtures)
        self._header_names = {id(op): request_header_names(op) for op in self.operations}

    @classmethod
    def from_paths(
        cls,
        specs: list[Path],
        fixtures: Path | None,
        seed: int = DEFAULT_SEED,
        store: Store | None = None,
        check_specs: bool = True,
        base_paths: Mapping[str, str] | None = None,
        problems: Problems | None = None,
        credentials: Iterable[str] = (),
    ) -> Engine:
        """`check_specs=False` skips the OpenAPI check: the caller has it done elsewhere.
        `base_paths`: the `--base-path` overrides (`spec.servers.override`). The specs'
        warnings go to `problems` (else they are logged). `credentials`: see `Engine`."""
        apis = load_apis(specs, check_specs, base_paths, problems=problems)
        return cls(apis, load_fixtures(fixtures, apis), seed, store, credentials)

    def preflight(self, path: str, method: str) -> Preflight | None:
        """What a CORS preflight for `method` on `path` may be told; None when no
        loaded spec documents the path."""
        every = self.router.match(_NO_METHOD, path)
        if not isinstance(every, WrongMethod):
            return None
        found = self.router.match("GET" if method.upper() == "HEAD" else method.upper(), path)
        headers = (
            self._header_names[id(found.operation)]
            if isinstance(found, Match)
            else CONTROL_HEADERS | _SAFE_HEADERS
        )
        return Preflight(with_implied(every.allowed), headers)

    def handle(self, request: RequestRecord) -> Outcome | Allowed:
        raw_path = request.raw_path or request.path
        segments = split_path(raw_path)
        if segments is not None and any(segment in (".", "..") for segment in segments):
            raise BadHttpRequest(
                f"The path {request.path[:200]!r} has a '.' or '..' segment (perhaps "
                "percent-encoded); no documented resource is named that way."
            )
        found = self.router.match(request.method, raw_path)
        if isinstance(found, NoRoute):
            if found.why == "base-path":
                hint = f" It is served under its spec's base path, as {found.suggestion!r}."
            elif found.suggestion:
                hint = f" The spec documents {found.suggestion!r}: check the trailing slash."
            else:
                hint = " `GET /__mock/apis` lists every served route."
            raise RouteNotFound(f"No loaded spec documents the path {request.path[:200]!r}.{hint}")
        if isinstance(found, WrongMethod) and request.method == "HEAD" and "GET" in found.allowed:
            found = self.router.match("GET", raw_path)
        elif isinstance(found, WrongMethod) and request.method == "OPTIONS":
            return Allowed(with_implied(found.allowed))
        if isinstance(found, WrongMethod):
            allowed = ", ".join(with_implied(found.allowed))
            raise MethodNotDocumented(
                f"{request.method} is not documented for {request.path[:200]!r}; "
                f"documented methods: {allowed}.",
                extra={"allowed": list(with_implied(found.allowed))},
                headers={"Allow": allowed},
            )
        assert isinstance(found, Match)
        op = found.operation
        session = request.header(SESSION_HEADER) or DEFAULT_SESSION
        controls = control_headers.decode(request.headers, op, self.fixtures)
        scenario = None
        answer = None
        if controls is NO_CONTROLS:
            picked = self.scenarios.pick(session, op, request, found.path_params)
            if picked is not None:
                rule, answer = picked
                scenario, controls = rule.name, answer.controls
        checked = check(
            op, request, found.path_params, self.credentials, raw_path_params=found.raw_path_params
        )
        reply = self.responder.respond(op, request, found.path_params, checked, controls)
        if answer is not None:
            reply = answer.apply(reply)
        return Outcome(reply, op, checked, controls, session, scenario)
