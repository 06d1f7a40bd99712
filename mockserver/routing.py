"""A matcher built once from every operation: (method, path) -> operation + path params.

Paths are matched exactly as the specs write them, trailing slash included: a path
that differs only by its trailing slash is not found (no redirect), and the error
says which path is documented. A literal segment beats a template segment, so
`/events/list` is not taken for `/events/{locator}`. The path matched is the
decoded one the WSGI server gives, so `%2F` inside a parameter splits segments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mockserver.spec import Operation


@dataclass(frozen=True, slots=True)
class Match:
    operation: Operation
    path_params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class NoRoute:
    """Nothing documents this path; `suggestion` is a documented near miss, if any."""

    suggestion: str | None


@dataclass(frozen=True, slots=True)
class WrongMethod:
    allowed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Route:
    template: str
    regex: re.Pattern[str]
    names: tuple[str, ...]
    specificity: tuple[int, ...]
    by_method: Mapping[str, Operation]


_PARAM = re.compile(r"\{([^{}/]+)\}")


class Router:
    """Compiled once; `match` is the only per-request call."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        grouped: dict[str, dict[str, Operation]] = {}
        for op in operations:
            grouped.setdefault(op.path, {})[op.method] = op
        routes = [self._compile(template, ops) for template, ops in grouped.items()]
        # Most literal first: compare segment by segment, literal (1) before template (0).
        routes.sort(key=lambda r: r.specificity, reverse=True)
        self._routes = tuple(routes)
        self._stripped = {r.template.rstrip("/") or "/": r.template for r in routes}

    @staticmethod
    def _compile(template: str, ops: Mapping[str, Operation]) -> _Route:
        names: list[str] = []
        pattern = ""
        position = 0
        for found in _PARAM.finditer(template):
            pattern += re.escape(template[position : found.start()])
            names.append(found.group(1))
            pattern += f"(?P<p{len(names) - 1}>[^/]+)"
            position = found.end()
        pattern += re.escape(template[position:])
        segments = template.strip("/").split("/")
        specificity = tuple(0 if _PARAM.fullmatch(s) else 1 for s in segments)
        return _Route(
            template,
            re.compile(pattern + r"\Z"),
            tuple(names),
            (len(segments), *specificity),
            dict(ops),
        )

    def match(self, method: str, path: str) -> Match | NoRoute | WrongMethod:
        allowed: list[str] = []
        for route in self._routes:
            found = route.regex.match(path)
            if found is None:
                continue
            op = route.by_method.get(method)
            if op is None:
                allowed.extend(m for m in route.by_method if m not in allowed)
                continue
            params = {name: found.group(f"p{i}") for i, name in enumerate(route.names)}
            return Match(op, params)
        if allowed:
            return WrongMethod(tuple(sorted(allowed)))
        return NoRoute(self._near_miss(path))

    def _near_miss(self, path: str) -> str | None:
        stripped = path.rstrip("/") or "/"
        for route in self._routes:
            if route.regex.match(stripped) or route.regex.match(stripped + "/"):
                return route.template
        return self._stripped.get(stripped)
