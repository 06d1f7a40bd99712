"""OpenAPI 3.0.x turned into OpenAPI 3.1: the same objects, schemas in JSON Schema 2020-12.

The structure of 3.0 and 3.1 documents is the same for everything the mock serves, so
this step only finds every schema (under `components`, parameters, headers, bodies,
responses, callbacks, and wherever a `$ref` leads, other files included) and converts it
(`schema.py`), then says `openapi: 3.1.0`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mockserver.spec.errors import trail_pointer
from mockserver.spec.normalise import schema as schemas
from mockserver.spec.normalise.refs import mappings, target

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def convert(document: dict[str, Any]) -> dict[str, Any]:
    """Convert `document` in place (and return it)."""
    _Walker(document).run()
    document["openapi"] = "3.1.0"
    return document


def adopt_30_keywords(document: dict[str, Any], warn: Callable[[str, str], None]) -> None:
    """In a 3.1 document, the schema keywords only OpenAPI 3.0 has, read as 3.0 reads
    them (`nullable: true` allows null; a boolean `exclusiveMinimum`/`exclusiveMaximum`
    makes its bound exclusive), with a warning at each schema: authors mix the two
    (OpenAI's 3.1 description has 111 `nullable` and 7 boolean bounds), and left as
    written, null is refused and a boolean bound makes the schema unusable."""
    adopted: dict[int, tuple[dict[str, Any], list[str]]] = {}

    def rule(node: dict[str, Any]) -> dict[str, Any] | None:
        found = [k for k in ("nullable", "exclusiveMinimum", "exclusiveMaximum")
                 if isinstance(node.get(k), bool)]  # fmt: skip
        if not found:
            return None
        adopted[id(node)] = (node, found)
        schemas.exclusive_bounds(node)
        return schemas.allow_null(node)

    _Walker(document, rule).run()
    for place, (_, found) in _places(document, adopted).items():
        warn(place, f"{' and '.join(found)}: OpenAPI 3.0's, not 3.1's; read as 3.0 reads it")


def _places(
    document: dict[str, Any], nodes: dict[int, tuple[dict[str, Any], list[str]]]
) -> dict[str, tuple[dict[str, Any], list[str]]]:
    """The pointer of each of `nodes` (by id), in pointer order (a node a YAML alias
    shares is named at one of its places)."""
    if not nodes:
        return {}
    found = {
        trail_pointer("", trail): nodes[id(node)]
        for node, trail in mappings(document)
        if id(node) in nodes
    }
    return dict(sorted(found.items()))


class _Walker:
    def __init__(self, document: dict[str, Any], rule: schemas.Rule | None = None) -> None:
        self.document = document
        self.rule = rule
        self.seen: set[tuple[str, int]] = set()
        self.schema_seen: set[int] = set()
        self.todo: list[tuple[str, Any]] = []

    def run(self) -> None:
        document = self.document
        for item in _values(document.get("paths")):
            self.todo.append(("path", item))
        for item in _values(document.get("webhooks")):
            self.todo.append(("path", item))
        components = document.get("components")
        if isinstance(components, dict):
            for section, kind in (
                ("schemas", "schema"),
                ("parameters", "param"),
                ("headers", "param"),
                ("requestBodies", "body"),
                ("responses", "response"),
                ("callbacks", "callback"),
                ("pathItems", "path"),
            ):
                self.todo.extend((kind, node) for node in _values(components.get(section)))
        while self.todo:
            kind, node = self.todo.pop()
            self._visit(kind, node)

    def _visit(self, kind: str, node: Any) -> None:
        if not isinstance(node, dict) or (kind, id(node)) in self.seen:
            return
        self.seen.add((kind, id(node)))
        if kind == "schema":
            schemas.convert(node, self._follow_schema, self.schema_seen, self.rule)
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            found = target(self.document, ref)
            if found is not None:
                self.todo.append((kind, found))
        add = self.todo.append
        if kind == "path":
            for param in _items(node.get("parameters")):
                add(("param", param))
            for method in METHODS:
                add(("operation", node.get(method)))
        elif kind == "operation":
            for param in _items(node.get("parameters")):
                add(("param", param))
            add(("body", node.get("requestBody")))
            for response in _values(node.get("responses")):
                add(("response", response))
            for callback in _values(node.get("callbacks")):
                add(("callback", callback))
        elif kind == "callback":
            for item in _values(node):
                add(("path", item))
        elif kind == "param":
            add(("schema", node.get("schema")))
            add(("content", node.get("content")))
        elif kind == "body":
            add(("content", node.get("content")))
        elif kind == "response":
            for header in _values(node.get("headers")):
                add(("param", header))
            add(("content", node.get("content")))
        elif kind == "content":
            for media in _values(node):
                add(("media", media))
        elif kind == "media":
            add(("schema", node.get("schema")))
            for encoding in _values(node.get("encoding")):
                if isinstance(encoding, dict):
                    for header in _values(encoding.get("headers")):
                        add(("param", header))

    def _follow_schema(self, ref: str) -> None:
        found = target(self.document, ref)
        if found is not None:
            self.todo.append(("schema", found))


def _values(node: Any) -> list[Any]:
    return list(node.values()) if isinstance(node, dict) else []


def _items(node: Any) -> list[Any]:
    return list(node) if isinstance(node, list) else []
