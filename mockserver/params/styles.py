"""OpenAPI's parameter styles, read back into strings: one function per style.

Each takes what the request carries for one parameter and returns its shape, still
text: a `str` (primitive), a `list[str]` (array) or a `dict[str, str | list[str]]`
(object). `kind` is the schema's type (`array`, `object`, or a primitive).

    style           where          array, explode false / true       object, false / true
    simple          path, header   a,b,c / a,b,c                     R,1,G,2 / R=1,G=2
    label           path           .a,b,c / .a.b.c                   .R,1,G,2 / .R=1.G=2
    matrix          path           ;x=a,b / ;x=a;x=b                 ;x=R,1,G,2 / ;R=1;G=2
    form            query, cookie  x=a,b / x=a&x=b                   x=R,1,G,2 / R=1&G=2
    spaceDelimited  query          x=a%20b / x=a&x=b                 x=R%201%20G%202
    pipeDelimited   query          x=a|b / x=a&x=b                   x=R|1|G|2
    deepObject      query          -                                 x[R]=1&x[G]=2
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mockserver.params.errors import ParamError, show

Shape = Any  # str | list[str] | dict[str, str | list[str]]

DELIMITERS = {"spaceDelimited": " ", "pipeDelimited": "|"}


def delimiter(style: str) -> str:
    """The character between items of a non-exploded array or object."""
    return DELIMITERS.get(style, ",")


def one(values: Sequence[str]) -> str:
    if len(values) > 1:
        raise ParamError("multiple", f"is given {len(values)} times but takes one value")
    return values[0]


def split(text: str, sep: str) -> list[str]:
    return text.split(sep) if text else []


def pairs_object(items: list[str]) -> dict[str, str]:
    """`R,1,G,2` (already split) -> {"R": "1", "G": "2"}."""
    if len(items) % 2:
        raise ParamError(
            "style", f"must list names and values in pairs, but has {len(items)} items"
        )
    return dict(zip(items[0::2], items[1::2], strict=True))


def assigned_object(items: list[str]) -> dict[str, str]:
    """`R=1`, `G=2` -> {"R": "1", "G": "2"}."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ParamError("style", f"must write each property as name=value, not {show(item)}")
        out[key] = value
    return out


def delimited(text: str, kind: str, sep: str, explode: bool) -> Shape:
    """The part every style shares once its prefix is gone: `a,b` or `R=1,G=2`."""
    if kind == "array":
        return split(text, sep)
    if kind == "object":
        items = split(text, sep)
        return assigned_object(items) if explode else pairs_object(items)
    return text


# -- path and header -------------------------------------------------------------------
def simple(text: str, kind: str, explode: bool) -> Shape:
    if kind == "array":
        return [item.strip() for item in split(text, ",")]
    return delimited(text, kind, ",", explode)


def label(text: str, kind: str, explode: bool) -> Shape:
    if not text.startswith("."):
        raise ParamError("style", f"is label style and must start with '.', not {show(text)}")
    body = text[1:]
    sep = "." if explode else ","
    if kind == "object" and not explode:
        return pairs_object(split(body, ","))
    return delimited(body, kind, sep, explode)


def matrix(name: str, text: str, kind: str, explode: bool) -> Shape:
    if not text.startswith(";"):
        raise ParamError("style", f"is matrix style and must start with ';', not {show(text)}")
    parts = text[1:].split(";")
    if kind == "object" and explode:
        return assigned_object(parts)
    values = []
    for part in parts:
        key, _, value = part.partition("=")
        if key != name:
            raise ParamError(
                "style", f"is matrix style and must read ;{name}=..., not {show(text)}"
            )
        values.append(value)
    if kind == "array":
        if explode:
            return values
        return split(one(values), ",")
    if kind == "object":
        return pairs_object(split(one(values), ","))
    return one(values)


# -- query and cookie --------------------------------------------------------------------
def form(
    name: str,
    values: Mapping[str, list[str]],
    kind: str,
    style: str,
    explode: bool,
    properties: Callable[[], list[str]],
) -> Shape | None:
    """form, spaceDelimited and pipeDelimited. `properties` lists the query names an
    exploded object takes (its declared properties; every unclaimed name when it
    admits others). None: not sent."""
    if kind == "object" and explode:
        found = {key: values[key] for key in properties() if key in values}
        if not found:
            return None
        return {key: v[0] if len(v) == 1 else v for key, v in found.items()}
    sent = values.get(name)
    if sent is None:
        return None
    if kind == "array" and explode:
        return list(sent)
    text = one(sent)
    if kind in ("array", "object"):
        return delimited(text, kind, delimiter(style), False)
    return text


def deep_object(name: str, values: Mapping[str, list[str]]) -> Shape | None:
    """`x[a]=1&x[b][c]=2` -> {"a": "1", "b": {"c": "2"}}; a name given twice, a list."""
    prefix = name + "["
    out: dict[str, Any] = {}
    for key, sent in values.items():
        if not key.startswith(prefix) or not key.endswith("]"):
            continue
        path = key[len(prefix) : -1].split("][")
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ParamError("style", f"gives {show(key)} both a value and properties")
            node = child
        leaf = path[-1]
        if isinstance(node.get(leaf), dict):
            raise ParamError("style", f"gives {show(key)} both a value and properties")
        node[leaf] = sent[0] if len(sent) == 1 else list(sent)
    return out or None
