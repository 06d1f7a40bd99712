"""One request through the mock, without any web framework.

    route -> decode controls -> validate (always) -> respond

`Engine.handle` takes a plain `RequestRecord` and returns an `Outcome`: the reply,
and what was learnt on the way (operation, violations, controls), for the journal
and the logs. Mock-level errors are raised as `MockError`s, for the one handler
that renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mockserver import controls as control_headers
from mockserver.controls import NO_CONTROLS, Controls
from mockserver.fixtures import FixtureStore, load_fixtures
from mockserver.problems import MethodNotDocumented, RouteNotFound
from mockserver.responder import Reply, Responder
from mockserver.routing import NoRoute, Router, WrongMethod
from mockserver.spec import Api, Operation, load_apis
from mockserver.validation import Checked, RequestRecord, check

DEFAULT_SEED = 4010


@dataclass(frozen=True, slots=True)
class Outcome:
    reply: Reply
    operation: Operation
    checked: Checked
    controls: Controls = field(default=NO_CONTROLS)


class Engine:
    """Everything compiled at start-up; `handle` only looks things up."""

    def __init__(self, apis: list[Api], fixtures: FixtureStore, seed: int = DEFAULT_SEED) -> None:
        self.apis = tuple(apis)
        self.fixtures = fixtures
        self.seed = seed
        self.operations = tuple(op for api in apis for op in api.operations)
        self.router = Router(self.operations)
        self.responder = Responder(fixtures, seed)

    @classmethod
    def from_paths(
        cls, specs: list[Path], fixtures: Path | None, seed: int = DEFAULT_SEED
    ) -> Engine:
        apis = load_apis(specs)
        return cls(apis, load_fixtures(fixtures, apis), seed)

    def handle(self, request: RequestRecord) -> Outcome:
        found = self.router.match(request.method, request.path)
        if isinstance(found, NoRoute):
            hint = (
                f" The spec documents {found.suggestion!r}: check the trailing slash."
                if found.suggestion
                else " `GET /__mock/apis` lists every documented route."
            )
            raise RouteNotFound(f"No loaded spec documents the path {request.path[:200]!r}.{hint}")
        if isinstance(found, WrongMethod):
            allowed = ", ".join(found.allowed)
            raise MethodNotDocumented(
                f"{request.method} is not documented for {request.path[:200]!r}; "
                f"documented methods: {allowed}.",
                extra={"allowed": list(found.allowed)},
                headers={"Allow": allowed},
            )
        op = found.operation
        controls = control_headers.decode(request.headers, op, self.fixtures)
        checked = check(op, request, found.path_params)
        reply = self.responder.respond(op, request, found.path_params, checked, controls)
        return Outcome(reply, op, checked, controls)
