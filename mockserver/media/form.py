"""`application/x-www-form-urlencoded` bodies, read by the body's schema and `encoding`.

Reading gives an object: each declared property typed by its schema (integers of
ASCII digits, finite numbers, `true`/`false`; a value that is not of its type stays
text, for the schema check to name), arrays from repeated names (`explode: true`,
the default) or one delimited value (`explode: false`; `style` spaceDelimited or
pipeDelimited picks the delimiter), objects from `name[key]=value`
(`style: deepObject`) or JSON (`contentType: application/json`, or a value that is
a JSON object). Undeclared names are kept as text (a list when sent twice).

Writing encodes an object's properties in order: arrays as repeated names, nested
objects as `name[key]`, primitives as their text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from mockserver.media.codec import BodyError, MediaFacts, Reader, Writer
from mockserver.media.text import as_text
from mockserver.params.errors import ParamError
from mockserver.params.scalars import kind_of, scalar
from mockserver.params.styles import deep_object, delimiter

Kinds = tuple[str, str]


def property_kinds(schema: Any, resolve: Callable[[Any], Any]) -> tuple[dict[str, Kinds], set[str]]:
    """Each declared property's (kind, item kind), and the names whose schema is binary."""
    node = resolve(schema) if isinstance(schema, Mapping) else schema
    if not isinstance(node, Mapping):
        return {}, set()
    kinds: dict[str, Kinds] = {}
    binary: set[str] = set()
    for part in [node, *(resolve(p) for p in node.get("allOf", []) if isinstance(p, Mapping))]:
        if not isinstance(part, Mapping):
            continue
        for name, raw in (part.get("properties") or {}).items():
            prop = resolve(raw) if isinstance(raw, Mapping) else raw
            kind = kind_of(prop)
            item = kind
            if kind == "array" and isinstance(prop, Mapping):
                items = resolve(prop.get("items", {}))
                item = kind_of(items)
                if _is_binary(items):
                    binary.add(str(name))
            if _is_binary(prop):
                binary.add(str(name))
            kinds[str(name)] = (kind, item)
    return kinds, binary


def nested_kinds(schema: Any, resolve: Callable[[Any], Any]) -> dict[str, dict[str, Kinds]]:
    """For each object property: its own properties' kinds (deepObject fields are typed)."""
    node = resolve(schema) if isinstance(schema, Mapping) else schema
    if not isinstance(node, Mapping):
        return {}
    out = {}
    for name, raw in (node.get("properties") or {}).items():
        prop = resolve(raw) if isinstance(raw, Mapping) else raw
        if kind_of(prop) == "object":
            out[str(name)] = property_kinds(prop, resolve)[0]
    return out


def _is_binary(schema: Any) -> bool:
    return isinstance(schema, Mapping) and (
        schema.get("format") == "binary" or ("type" not in schema and "contentMediaType" in schema)
    )


def typed(kind: str, text: str) -> Any:
    """`text` as `kind`, or the text itself when it is not one (the schema names it)."""
    try:
        return scalar(kind, text)
    except ParamError:
        return text


def _is_json(content_type: str) -> bool:
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or main.endswith("+json")


class FormCodec:
    family = "form"

    def writer(self, facts: MediaFacts) -> Writer:
        def write(value: Any) -> bytes:
            if isinstance(value, bytes):
                return value
            if not isinstance(value, Mapping):
                return as_text(value).encode("utf-8")
            return urlencode(list(_pairs("", value))).encode("ascii")

        return write

    def reader(self, facts: MediaFacts) -> Reader:
        kinds, _ = property_kinds(facts.schema, facts.resolve)
        nested = nested_kinds(facts.schema, facts.resolve)
        encoding = {str(k): v for k, v in (facts.encoding or {}).items() if isinstance(v, Mapping)}

        def read(data: bytes) -> Any:
            try:
                text = data.decode("ascii")
            except UnicodeDecodeError as exc:
                raise BodyError(
                    "encoding",
                    "a form body is ASCII, its other characters percent-encoded "
                    f"(byte {exc.start})",
                ) from None
            values: dict[str, list[str]] = {}
            for key, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
                values.setdefault(key, []).append(value)
            return decode_fields(values, kinds, encoding, nested)

        return read


def decode_fields(
    values: Mapping[str, list[str]],
    kinds: Mapping[str, Kinds],
    encoding: Mapping[str, Mapping[str, Any]],
    nested: Mapping[str, Mapping[str, Kinds]] | None = None,
) -> dict[str, Any]:
    """Form fields by name -> the object the schema describes (see the module's doc);
    `nested`: an object property's own properties' kinds."""
    out: dict[str, Any] = {}
    claimed: set[str] = set()
    for name, (kind, item_kind) in kinds.items():
        rules = encoding.get(name, {})
        style = str(rules.get("style", "form"))
        explode = bool(rules.get("explode", style == "form"))
        if kind == "object":
            value = _object(name, values, rules, style, explode, claimed)
            sent_json = name in values and (
                _is_json(str(rules.get("contentType", "")))
                or values[name][-1].lstrip().startswith("{")
            )
            if isinstance(value, dict) and not sent_json:
                inner = (nested or {}).get(name, {})
                value = {
                    k: typed(inner.get(k, ("string", "string"))[0], v) if isinstance(v, str) else v
                    for k, v in value.items()
                }
            if value is not None:
                out[name] = value
            continue
        sent = values.get(name)
        if sent is None:
            continue
        claimed.add(name)
        if _is_json(str(rules.get("contentType", ""))):
            out[name] = _json(name, sent[-1])
        elif kind == "array":
            items = sent if explode else [p for s in sent for p in s.split(delimiter(style)) if s]
            out[name] = [typed(item_kind, item) for item in items]
        elif len(sent) > 1:
            out[name] = [typed(kind, item) for item in sent]  # the schema says "not an array"
        else:
            out[name] = typed(kind, sent[0])
    for name, sent in values.items():
        if name not in claimed:
            out[name] = sent[0] if len(sent) == 1 else list(sent)
    return out


def _object(
    name: str,
    values: Mapping[str, list[str]],
    rules: Mapping[str, Any],
    style: str,
    explode: bool,
    claimed: set[str],
) -> Any:
    sent = values.get(name)
    if sent is not None:
        claimed.add(name)
        text = sent[-1]
        if _is_json(str(rules.get("contentType", ""))) or text.lstrip().startswith("{"):
            return _json(name, text)
        if not explode:
            items = text.split(delimiter(style)) if text else []
            if len(items) % 2:
                raise _field_error(name, "style", "must list names and values in pairs")
            return dict(zip(items[0::2], items[1::2], strict=True))
        return text
    nested = {k: v for k, v in values.items() if k.startswith(name + "[")}
    if not nested:
        return None
    claimed.update(nested)
    try:
        return deep_object(name, nested)
    except ParamError as exc:
        raise _field_error(name, exc.rule, exc.message) from None


def _json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise _field_error(name, "syntax", "is not valid JSON") from None


class FieldError(BodyError):
    """A body that cannot be read because of one field: `field` names it."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(rule, message)
        self.field = field


def _field_error(name: str, rule: str, message: str) -> FieldError:
    return FieldError(name, rule, f"body field '{name}' {message}")


def _pairs(prefix: str, value: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, item in value.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(item, Mapping):
            pairs.extend(_pairs(name, item))
        elif isinstance(item, list):
            pairs.extend((name, as_text(element)) for element in item)
        else:
            pairs.append((name, as_text(item)))
    return pairs
