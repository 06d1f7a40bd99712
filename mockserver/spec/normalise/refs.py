"""Local references (`#/a/b`) of a bundled document: resolving them, and the repair of
those that lead nowhere or only to themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

from mockserver.spec.bundle import holds_refs
from mockserver.spec.errors import Trail, trail_pointer

MISSING: Any = object()
MAX_HOPS = 64


def target(document: Any, ref: str) -> Any:
    """The node `ref` (`#/a/b`, JSON pointer escapes and percent-encoding allowed) names
    in `document`, or None when there is none."""
    found = lookup(document, ref)
    return None if found is MISSING else found


def lookup(document: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return MISSING
    fragment = unquote(ref[1:])
    if fragment == "":
        return document
    if not fragment.startswith("/"):
        return MISSING
    node = document
    for raw in fragment[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            if part not in node:
                return MISSING
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return MISSING
            node = node[int(part)]
        else:
            return MISSING
    return node


def repair(
    document: dict[str, Any],
    warn: Callable[[str, str], None],
    holders: list[tuple[dict[str, Any], str, Trail]] | None = None,
) -> None:
    """Every `$ref` that names no node, or only leads through references back to itself,
    is warned about (at its own pointer) and removed: what held it is unconstrained.
    Data (examples, enums) is not looked into. `holders`: the mappings with a `$ref`
    (`Bundle.holders`), found by walking `document` when not given."""
    for node, base, trail in _holders(document) if holders is None else holders:
        if "$ref" not in node:
            continue
        ref = node["$ref"]
        if not isinstance(ref, str | dict):
            warn(trail_pointer(base, (trail, "$ref")), "a $ref must be text; ignored")
            del node["$ref"]
        elif isinstance(ref, str):
            problem = _problem(document, ref)
            if problem:
                warn(trail_pointer(base, (trail, "$ref")), f"{ref!r} {problem}; ignored")
                del node["$ref"]


def _holders(document: dict[str, Any]) -> list[tuple[dict[str, Any], str, Trail]]:
    """Every mapping in `document` with a `$ref` key, outside data (walked once)."""
    return [(node, "", trail) for node, trail in mappings(document) if "$ref" in node]


def mappings(document: Any) -> Iterator[tuple[dict[str, Any], Trail]]:
    """Every mapping of `document` outside data (`holds_refs`), once each (a YAML alias
    shares one), with its trail; walked depth first, without recursion."""
    stack: list[tuple[Any, Trail]] = [(document, None)]
    seen: set[int] = set()
    while stack:
        node, trail = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            yield node, trail
            stack.extend(
                (value, (trail, key)) for key, value in node.items() if holds_refs(key, value)
            )
        elif isinstance(node, list):
            stack.extend(
                (value, (trail, i))
                for i, value in enumerate(node)
                if isinstance(value, dict | list)
            )


def _problem(document: Any, ref: str) -> str:
    if not ref.startswith("#"):
        return "is not a reference this server follows"
    hops: set[str] = set()
    current = ref
    while True:
        if current in hops or len(hops) > MAX_HOPS:
            return "only leads through references back to itself"
        hops.add(current)
        node = lookup(document, current)
        if node is MISSING:
            return (
                "names nothing in the document"
                if current == ref
                else (f"leads to {current!r}, which names nothing")
            )
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return ""
        current = node["$ref"]
        if not current.startswith("#"):
            return ""
