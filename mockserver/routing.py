"""A matcher built once from every operation: (method, raw path) -> operation + path params.

Each operation is served at its *served path*: its spec's base path (`servers[0]`, see
`Operation.base_path`) followed by the path as the spec writes it. The matcher is a
tree of path segments built at start-up: a literal segment is a dict look-up, so the
cost of a request grows with the depth of its path, not with the number of operations.

* The path routed is the raw one the client sent (percent-escapes kept). It is split on
  `/` first and each segment decoded after, so `%2F` inside a parameter is part of the
  value and never a separator. A segment whose escapes are not UTF-8 matches nothing.
* A literal segment beats a segment with a parameter in it (`/pets/{id}.json`), which
  beats a whole-segment parameter: `/events/list` is not taken for `/events/{locator}`.
  A parameter never matches an empty segment.
* Paths are matched exactly as the specs write them, trailing slash included: a path
  that differs only by its trailing slash is not found (no redirect), and `NoRoute`
  names the documented one; a path served under a base path is found only there, and
  `NoRoute` names the served path when the bare one is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from mockserver.spec import Operation


@dataclass(frozen=True, slots=True)
class Match:
    operation: Operation
    path_params: Mapping[str, str]
    raw_path_params: Mapping[str, str] = field(default_factory=dict)
    """The same values as sent, percent-escapes kept: a `label`, `matrix` or `simple`
    array or object is split on its delimiters before its pieces are decoded."""


@dataclass(frozen=True, slots=True)
class NoRoute:
    """Nothing serves this path; `suggestion` is a served near miss, if any, and `why`
    says what differs: "trailing-slash" or "base-path"."""

    suggestion: str | None
    why: str = ""


@dataclass(frozen=True, slots=True)
class WrongMethod:
    allowed: tuple[str, ...]


_PARAM = re.compile(r"\{([^{}/]+)\}")


@dataclass(frozen=True, slots=True)
class _Target:
    """One operation at a leaf, and how its parameters are read from the segments:
    (segment index, parameter name) for whole segments, and (segment index, regex,
    names) for segments with a parameter inside."""

    operation: Operation
    whole: tuple[tuple[int, str], ...]
    partial: tuple[tuple[int, re.Pattern[str], tuple[str, ...]], ...]


@dataclass(slots=True)
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    partial: dict[str, tuple[re.Pattern[str], _Node]] = field(default_factory=dict)
    param: _Node | None = None
    methods: dict[str, _Target] = field(default_factory=dict)
    template: str = ""


def split_path(raw: str) -> tuple[str, ...] | None:
    """The decoded segments of a raw path (`/a/b%2Fc` -> ("a", "b/c")), or None when an
    escape is not UTF-8. The leading slash is not a segment; a trailing one is ""."""
    segments = raw[1:].split("/") if raw.startswith("/") else raw.split("/")
    if "%" not in raw:
        return tuple(segments)
    decoded = []
    for segment in segments:
        if "%" in segment:
            try:
                segment = unquote_to_bytes(segment).decode("utf-8")
            except UnicodeDecodeError:
                return None
        decoded.append(segment)
    return tuple(decoded)


def _raw_segments(raw: str) -> tuple[str, ...]:
    return tuple(raw[1:].split("/") if raw.startswith("/") else raw.split("/"))


def _template_segments(template: str) -> list[str]:
    return template[1:].split("/") if template.startswith("/") else template.split("/")


def _partial_regex(segment: str) -> tuple[str, tuple[str, ...]]:
    """`{name}.{ext}` -> a regex with one group per parameter, and the names."""
    names: list[str] = []
    pattern = ""
    position = 0
    for found in _PARAM.finditer(segment):
        pattern += re.escape(segment[position : found.start()])
        names.append(found.group(1))
        pattern += "(.+?)"
        position = found.end()
    pattern += re.escape(segment[position:])
    return pattern, tuple(names)


class _Tree:
    def __init__(self, routes: Iterable[tuple[str, Operation]]) -> None:
        self.root = _Node()
        for template, op in routes:
            self._add(template, op)

    def _add(self, template: str, op: Operation) -> None:
        node = self.root
        whole: list[tuple[int, str]] = []
        partial: list[tuple[int, re.Pattern[str], tuple[str, ...]]] = []
        for index, segment in enumerate(_template_segments(template)):
            found = _PARAM.fullmatch(segment)
            if found is not None:
                whole.append((index, found.group(1)))
                if node.param is None:
                    node.param = _Node()
                node = node.param
            elif _PARAM.search(segment):
                pattern, names = _partial_regex(segment)
                if pattern not in node.partial:
                    node.partial[pattern] = (re.compile(pattern + r"\Z"), _Node())
                regex, node = node.partial[pattern]
                partial.append((index, regex, names))
            else:
                node = node.literal.setdefault(segment, _Node())
        node.template = node.template or template
        node.methods.setdefault(op.method, _Target(op, tuple(whole), tuple(partial)))

    def leaves(self, segments: tuple[str, ...]) -> Iterator[_Node]:
        """Every leaf the segments reach, most literal first."""
        return self._walk(self.root, segments, 0)

    def _walk(self, node: _Node, segments: tuple[str, ...], depth: int) -> Iterator[_Node]:
        if depth == len(segments):
            if node.methods:
                yield node
            return
        segment = segments[depth]
        child = node.literal.get(segment)
        if child is not None:
            yield from self._walk(child, segments, depth + 1)
        if not segment:
            return  # a parameter never matches an empty segment
        for regex, partial in node.partial.values():
            if regex.match(segment):
                yield from self._walk(partial, segments, depth + 1)
        if node.param is not None:
            yield from self._walk(node.param, segments, depth + 1)


def _params(target: _Target, segments: tuple[str, ...]) -> dict[str, str]:
    params = {name: segments[index] for index, name in target.whole}
    for index, regex, names in target.partial:
        found = regex.match(segments[index])
        if found is not None:
            params.update(zip(names, found.groups(), strict=True))
    return params


class Router:
    """Compiled once; `match` is the only per-request call."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        ops = tuple(operations)
        self._tree = _Tree((op.served_path, op) for op in ops)
        self._bare: _Tree | None = None
        self._prefixed = tuple(op for op in ops if op.base_path)

    def match(self, method: str, raw_path: str) -> Match | NoRoute | WrongMethod:
        """`raw_path` as the client sent it (percent-escapes kept), from its first `/`."""
        segments = split_path(raw_path)
        if segments is None:
            return NoRoute(None)
        allowed: list[str] = []
        for leaf in self._tree.leaves(segments):
            target = leaf.methods.get(method)
            if target is None:
                allowed.extend(m for m in leaf.methods if m not in allowed)
                continue
            params = _params(target, segments)
            raw = _params(target, _raw_segments(raw_path)) if "%" in raw_path else params
            return Match(target.operation, params, raw)
        if allowed:
            return WrongMethod(tuple(sorted(allowed)))
        return self._near_miss(segments)

    def _near_miss(self, segments: tuple[str, ...]) -> NoRoute:
        """The served path of a request that missed by a trailing slash, or by the base
        path of the operation's spec (the bare path was asked for)."""
        other = segments[:-1] if segments and segments[-1] == "" else (*segments, "")
        for leaf in self._tree.leaves(other):
            return NoRoute(leaf.template, "trailing-slash")
        if self._prefixed:
            if self._bare is None:
                self._bare = _Tree((op.path, op) for op in self._prefixed)
            for leaf in self._bare.leaves(segments):
                op = next(iter(leaf.methods.values())).operation
                return NoRoute(op.served_path, "base-path")
        return NoRoute(None)
