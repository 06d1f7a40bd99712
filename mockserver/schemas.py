"""JSON Schema plumbing shared by the loader, the validator and the generator.

One `SchemaContext` per API document: it resolves `$ref`s inside that document and
builds `jsonschema` validators whose refs resolve against it. Validators are built
at start-up and reused for every request.

Vendor keywords are registered here, once, with `jsonschema.validators.extend`:

* ``x-time-window: {unit: ms|s, before: N, after: M}`` -- an integer timestamp must
  lie within ``[now - before, now + after]`` when the request is checked. It is
  enforced for requests only: examples and fixtures are written once and age.
"""

from __future__ import annotations

import ast
import copy
import time
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
MAX_REF_HOPS = 64

_UNIT_SECONDS = {"ms": 1000.0, "s": 1.0}


def _format_checker() -> FormatChecker:
    """The 2020-12 format checker plus OpenAPI's integer formats."""
    checker = copy.deepcopy(Draft202012Validator.FORMAT_CHECKER)

    def int_range(low: int, high: int) -> Any:
        def check(value: object) -> bool:
            if isinstance(value, bool) or not isinstance(value, int):
                return True
            return low <= value <= high

        return check

    checker.checks("int32")(int_range(*INT32))
    checker.checks("int64")(int_range(*INT64))
    return checker


FORMAT_CHECKER = _format_checker()


def _time_window(
    validator: Any, window: Mapping[str, Any], instance: object, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, bool) or not isinstance(instance, int | float):
        return
    unit = str(window.get("unit", "ms"))
    scale = _UNIT_SECONDS.get(unit, 1000.0)
    now = time.time() * scale
    before = float(window.get("before", 0))
    after = float(window.get("after", 0))
    if not now - before <= instance <= now + after:
        yield ValidationError(
            f"{instance} is outside the accepted time window "
            f"[now - {window.get('before', 0)}{unit}, now + {window.get('after', 0)}{unit}]"
            f" (now is {int(now)})"
        )


RequestValidator = validators.extend(Draft202012Validator, {"x-time-window": _time_window})
"""Validator class for what a client sends: standard keywords plus vendor ones."""

ResponseValidator = Draft202012Validator
"""Validator class for what the mock sends: examples, fixtures and generated data."""


class SchemaContext:
    """Reference resolution and validator construction for one API document."""

    def __init__(self, api_id: str, document: Mapping[str, Any]) -> None:
        self.api_id = api_id
        self.document = document
        self.base_uri = f"urn:mockserver:{api_id}"
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(self.base_uri, resource)

    def resolve(self, node: Any) -> Any:
        """Follow local `$ref`s until `node` is not a reference."""
        hops = 0
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            node = self.pointer(node["$ref"])
            hops += 1
            if hops > MAX_REF_HOPS:
                raise ValueError("$ref chain too long (a cycle of references?)")
        return node

    def pointer(self, ref: str) -> Any:
        """The node a local reference `#/a/b` names."""
        if not ref.startswith("#"):
            raise ValueError(f"only local references are supported, not {ref!r}")
        target: Any = self.document
        for raw in ref[1:].split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            target = target[int(part)] if isinstance(target, list) else target[part]
        return target

    def rebase(self, node: Any) -> Any:
        """Copy `node`, turning local refs into refs into this document's registry entry."""
        if isinstance(node, Mapping):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                    out[key] = self.base_uri + value
                else:
                    out[key] = self.rebase(value)
            return out
        if isinstance(node, list):
            return [self.rebase(item) for item in node]
        return node

    def validator(self, schema: Any, *, for_request: bool) -> Any:
        """A validator for `schema` (a node of this document), built now, used many times."""
        cls = RequestValidator if for_request else ResponseValidator
        return cls(self.rebase(schema), registry=self.registry, format_checker=FORMAT_CHECKER)


def error_path(error: ValidationError) -> str:
    """A readable location of a validation error inside the instance: `a.b[0].c`."""
    text = ""
    for part in error.absolute_path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def error_field(error: ValidationError) -> str:
    """The field an error is about; for `required`, the missing property itself."""
    where = error_path(error)
    if error.validator == "required" and error.message.endswith(_REQUIRED_SUFFIX):
        # jsonschema yields one error per missing property and names it only in the text.
        try:
            missing = ast.literal_eval(error.message[: -len(_REQUIRED_SUFFIX)])
        except (ValueError, SyntaxError):
            return where
        return f"{where}.{missing}" if where else str(missing)
    return where


_REQUIRED_SUFFIX = " is a required property"
