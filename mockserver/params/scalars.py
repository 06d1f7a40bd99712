"""Strings into the primitive a schema's type names.

Integers are ASCII digits only (the Arabic-Indic three and the fullwidth five are
digits to `str.isdigit` and to `int`, not to any HTTP client); numbers are JSON-like
decimals, finite; booleans are `true` or `false`. Anything else stays a string, for
the schema to judge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mockserver.params.errors import ParamError, show

_INTEGER = re.compile(r"-?[0-9]{1,4000}")
_NUMBER = re.compile(r"-?[0-9]{1,4000}(?:\.[0-9]{1,4000})?(?:[eE][+-]?[0-9]{1,4})?")


def kind_of(schema: Any) -> str:
    """The JSON type text is decoded as for `schema` (a parameter, a form field): its one
    `type` besides "null", else what its keywords imply (`properties` or
    `additionalProperties`: an object; `items`: an array), else a string."""
    if not isinstance(schema, Mapping):
        return "string"
    declared = schema.get("type")
    if isinstance(declared, list):
        concrete = [t for t in declared if t != "null"]
        declared = concrete[0] if len(concrete) == 1 else None
    if isinstance(declared, str):
        return declared
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    return "array" if "items" in schema else "string"


def scalar(kind: str, text: str) -> Any:
    if kind == "integer":
        if not _INTEGER.fullmatch(text):
            raise ParamError("type", f"must be an integer, not {show(text)}")
        return int(text)
    if kind == "number":
        if not _NUMBER.fullmatch(text):
            raise ParamError("type", f"must be a number, not {show(text)}")
        if _INTEGER.fullmatch(text):
            return int(text)
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise ParamError("type", f"must be a finite number, not {show(text)}")
        return value
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ParamError("type", f"must be true or false, not {show(text)}")
        return text == "true"
    if kind == "null":
        if text not in ("", "null"):
            raise ParamError("type", f"must be null (empty), not {show(text)}")
        return None
    return text
