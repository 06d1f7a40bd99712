"""One parameter, from the request's sources to a typed value."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from mockserver.params import styles
from mockserver.params.errors import ParamError
from mockserver.params.scalars import scalar
from mockserver.params.sources import Sources

if TYPE_CHECKING:
    from mockserver.spec.model import Param

MISSING: Any = object()
"""The parameter was not sent (or was sent empty where `allowEmptyValue: true`)."""


def decode(param: Param, sources: Sources) -> Any:
    """The typed value of `param`, `MISSING`, or `ParamError`."""
    shape = _shape(param, sources)
    if shape is None:
        return MISSING
    if shape == "" and param.location == "query":
        if param.allow_empty is True:
            return MISSING
        if param.allow_empty is False:
            raise ParamError(
                "allowEmptyValue", "is sent empty, which the spec forbids (allowEmptyValue: false)"
            )
    if param.content_json:
        try:
            return json.loads(shape if isinstance(shape, str) else styles.one(shape))
        except (ValueError, RecursionError):
            raise ParamError("syntax", "is not valid JSON, as its content type says") from None
    return _typed(param, shape)


def _shape(param: Param, sources: Sources) -> Any:
    location, name = param.location, param.name
    if param.content_json:
        raw = _single_source(param, sources)
        return None if raw is None else raw
    if location == "query":
        if param.style == "deepObject":
            return styles.deep_object(name, sources.query)
        return styles.form(
            name,
            sources.query,
            param.kind,
            param.style,
            param.explode,
            lambda: _exploded_names(param, sources),
        )
    if location == "cookie":
        return styles.form(
            name, sources.cookies, param.kind, "form", param.explode, lambda: list(param.properties)
        )
    if (
        location == "path"
        and param.name in sources.raw_path
        and (param.style in ("label", "matrix") or param.kind in ("array", "object"))
    ):
        # Split on the style's delimiters as sent, then decode: `;x=a%3Bb` is "a;b".
        return _unescaped(_path_shape(param, sources.raw_path[param.name]))
    text = _single_source(param, sources)
    if text is None:
        return None
    return _path_shape(param, text)


def _path_shape(param: Param, text: str) -> Any:
    name = param.name
    if param.style == "label":
        return styles.label(text, param.kind, param.explode)
    if param.style == "matrix":
        return styles.matrix(name, text, param.kind, param.explode)
    return styles.simple(text, param.kind, param.explode)


def _unescaped(shape: Any) -> Any:
    if isinstance(shape, str):
        return unquote(shape, errors="replace") if "%" in shape else shape
    if isinstance(shape, list):
        return [_unescaped(item) for item in shape]
    if isinstance(shape, dict):
        return {_unescaped(key): _unescaped(value) for key, value in shape.items()}
    return shape


def _single_source(param: Param, sources: Sources) -> str | None:
    if param.location == "path":
        return sources.path.get(param.name)
    if param.location == "header":
        return sources.headers.get(param.name.lower())
    table = sources.query if param.location == "query" else sources.cookies
    values = table.get(param.name)
    return None if values is None else styles.one(values)


def _exploded_names(param: Param, sources: Sources) -> list[str]:
    """The query names an exploded form object takes: its properties, and when it
    admits others, every name no other parameter of the operation claims."""
    names = list(param.properties)
    if param.additional:
        names += [k for k in sources.query if k not in param.properties and k not in param.claimed]
    return names


def _typed(param: Param, shape: Any) -> Any:
    if param.kind == "array":
        items = shape if isinstance(shape, list) else [shape]
        return [scalar(param.item_kind, item) if isinstance(item, str) else item for item in items]
    if param.kind == "object":
        if not isinstance(shape, dict):
            raise ParamError("type", "must be an object")
        return {key: _property(param, key, value) for key, value in shape.items()}
    if not isinstance(shape, str):
        raise ParamError("type", f"must be one {param.kind}, not a list")
    return scalar(param.kind, shape)


def _property(param: Param, key: str, value: Any) -> Any:
    kind, item_kind = param.properties.get(key, param.additional_kind)
    try:
        if kind == "array":
            items = value if isinstance(value, list) else [value]
            return [scalar(item_kind, i) if isinstance(i, str) else i for i in items]
        if isinstance(value, str):
            return scalar(kind, value)
        if isinstance(value, list) and kind != "string":
            raise ParamError("multiple", f"is given {len(value)} times but takes one value")
        return value
    except ParamError as exc:
        raise ParamError(exc.rule, f"property '{key}' {exc.message}") from None
