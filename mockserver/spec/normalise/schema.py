"""Schema objects of Swagger 2.0 and OpenAPI 3.0 turned into JSON Schema 2020-12.

Each rule (README, "Which specs load"; one unit test each in
tests/test_spec_normalise.py):

* `nullable: true` (3.0) or `x-nullable: true` (2.0): `null` is allowed: added to
  `type` (`type: [string, "null"]`) and to `enum` when there is one; without a `type`
  (`nullable` beside `$ref` or `allOf`), the schema becomes
  `anyOf: [<the schema>, {type: "null"}]`. `nullable: false` is dropped.
* boolean `exclusiveMinimum` / `exclusiveMaximum`: `true` turns `minimum` / `maximum`
  into the numeric 2020-12 keyword; `false` is dropped.
* `example`: becomes `examples: [example]` (unless `examples` is there).
* `type: file` (2.0): `type: string, format: binary`.
* `discriminator: name` (2.0, a string): `discriminator: {propertyName: name}`.

`convert` changes a schema in place, its subschemas too, and calls `follow` with every
`$ref` it meets, so the caller converts the schemas references lead to (once each).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SUBSCHEMAS = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
)


_ONE, _MAP, _LIST = 1, 2, 3
_HOLDS = {
    **dict.fromkeys(SUBSCHEMAS, _ONE),
    **dict.fromkeys(SUBSCHEMA_MAPS, _MAP),
    **dict.fromkeys(SUBSCHEMA_LISTS, _LIST),
}
"""What each key that holds subschemas holds (a schema, a map of them, a list of them);
a schema's own few keys are looked up here, not the twenty of these in each schema."""


def subschemas(schema: dict[str, Any]) -> list[Any]:
    """The schemas directly inside `schema`."""
    found: list[Any] = []
    for key, value in schema.items():
        holds = _HOLDS.get(key)
        if holds is None:
            continue
        if isinstance(value, dict):
            if holds == _MAP:
                found.extend(v for v in value.values() if isinstance(v, dict))
            elif holds == _ONE:
                found.append(value)
        elif isinstance(value, list) and (holds == _LIST or key == "items"):
            found.extend(v for v in value if isinstance(v, dict))
    return found


Rule = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def convert(
    schema: Any, follow: Callable[[str], None], seen: set[int], rule: Rule | None = None
) -> None:
    """Convert `schema` and every subschema (each node once: `seen` holds their ids) by
    `rule` (`convert_node` unless given)."""
    rule = rule or convert_node
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        ref = node.get("$ref")
        if isinstance(ref, str):
            follow(ref)
        inner = rule(node)
        if inner is not None:
            seen.add(id(inner))
            stack.extend(subschemas(inner))
        else:
            stack.extend(subschemas(node))


def convert_node(node: dict[str, Any]) -> dict[str, Any] | None:
    """Apply the rules to one schema node (not its subschemas). Returns the node's old
    content when `nullable` moved it into an `anyOf` branch, else None."""
    if node.get("type") == "file":
        node["type"] = "string"
        node.setdefault("format", "binary")
    if isinstance(node.get("discriminator"), str):
        node["discriminator"] = {"propertyName": node["discriminator"]}
    exclusive_bounds(node)
    if "example" in node:
        example = node.pop("example")
        node.setdefault("examples", [example])
    return allow_null(node)


def exclusive_bounds(node: dict[str, Any]) -> bool:
    """The boolean `exclusiveMinimum` / `exclusiveMaximum` rule; whether there was one."""
    found = False
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = node.get(exclusive)
        if isinstance(flag, bool):
            found = True
            del node[exclusive]
            if flag and bound in node:
                node[exclusive] = node.pop(bound)
    return found


def allow_null(node: dict[str, Any]) -> dict[str, Any] | None:
    """The `nullable` / `x-nullable` rule; what `convert_node` returns."""
    nullable = False
    for key in ("nullable", "x-nullable"):
        if key in node:
            nullable = node.pop(key) is True or nullable
    if not nullable:
        return None
    declared = node.get("type")
    if isinstance(declared, str):
        node["type"] = [declared, "null"]
    elif isinstance(declared, list):
        if "null" not in declared:
            declared.append("null")
    else:
        inner = dict(node)
        node.clear()
        node["anyOf"] = [inner, {"type": "null"}]
        return inner
    if isinstance(node.get("enum"), list) and None not in node["enum"]:
        node["enum"].append(None)
    return None
