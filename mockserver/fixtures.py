"""Fixtures: response bodies on disk, indexed and checked once at start-up.

Layout (see README)::

    <root>/<api-id>/<operationId>/<status>.json          the default body for that status
    <root>/<api-id>/<operationId>/<status>.<name>.json   a named body (X-Mock-Example: name)

The whole tree is read at start-up, each file validated against its response
schema. Requests only look fixtures up by (api, operation, status, name) in memory:
a name a client sends is a dictionary key, never part of a path, so nothing outside
the fixtures folder can be reached through it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mockserver.schemas import error_path
from mockserver.spec import Api, Operation, SpecError

NAME = re.compile(r"[A-Za-z0-9_-]+")
_FILE = re.compile(r"(?P<status>\d{3})(?:\.(?P<name>[A-Za-z0-9_-]+))?\.json")


@dataclass(frozen=True, slots=True)
class FixtureStore:
    """(api, operationId) -> {(status, name or None): body}."""

    bodies: Mapping[tuple[str, str], Mapping[tuple[int, str | None], Any]] = field(
        default_factory=dict
    )

    def get(self, op: Operation, status: int, name: str | None = None) -> tuple[bool, Any]:
        found = self.bodies.get((op.api, op.operation_id), {})
        key = (status, name)
        return (True, found[key]) if key in found else (False, None)

    def names(self, op: Operation, status: int | None = None) -> list[str]:
        found = self.bodies.get((op.api, op.operation_id), {})
        return sorted({n for (s, n) in found if n and (status is None or s == status)})

    def statuses(self, op: Operation) -> list[int]:
        return sorted({s for (s, _) in self.bodies.get((op.api, op.operation_id), {})})


def load_fixtures(root: Path | None, apis: Iterable[Api]) -> FixtureStore:
    """Read and check every fixture under `root`; refuse start-up on any problem."""
    if root is None or not root.exists():
        return FixtureStore()
    if not root.is_dir():
        raise SpecError(root, "", "the fixtures path is not a folder")
    operations = {(api.api_id, op.operation_id): op for api in apis for op in api.operations}
    known_apis = {api.api_id for api in apis}
    bodies: dict[tuple[str, str], dict[tuple[int, str | None], Any]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_dir() or path.name.startswith(".") or path.suffix != ".json":
            continue
        relative = path.relative_to(root)
        if len(relative.parts) != 3:
            raise SpecError(
                path,
                "",
                "a fixture must be <api-id>/<operationId>/<status>"
                "[.<name>].json under the fixtures folder",
            )
        api_id, op_id, filename = relative.parts
        if api_id not in known_apis:
            continue  # fixtures of an API that is not loaded this time
        op = operations.get((api_id, op_id))
        if op is None:
            known = ", ".join(sorted(o for (a, o) in operations if a == api_id))
            raise SpecError(path, "", f"no operation {op_id!r} in API {api_id!r}; known: {known}")
        match = _FILE.fullmatch(filename)
        if match is None:
            raise SpecError(
                path,
                "",
                "a fixture file is named <status>.json or "
                "<status>.<name>.json, the name of letters, digits, '_' and '-'",
            )
        status = int(match["status"])
        response = op.responses.get(status)
        if response is None:
            raise SpecError(
                path,
                "",
                f"{op.operation_id} documents no status {status}; "
                f"documented: {', '.join(map(str, op.statuses))}",
            )
        body = _read(path)
        media = response.default_media
        if media is None:
            raise SpecError(path, "", f"status {status} of {op.operation_id} has no body")
        if media.validator is not None:
            errors = sorted(media.validator.iter_errors(body), key=lambda e: list(e.absolute_path))
            if errors:
                first = errors[0]
                raise SpecError(
                    path,
                    error_path(first) or "(root)",
                    f"does not match the {status} response schema: {first.message}",
                )
        bodies.setdefault((api_id, op_id), {})[(status, match["name"])] = body
    return FixtureStore(bodies)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, "", f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(
            path, f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from None
