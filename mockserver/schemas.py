"""JSON Schema plumbing shared by the loader, the validator and the generator.

One `SchemaContext` per API document: it resolves `$ref`s inside that document and
builds the validators whose refs resolve against it, at start-up, once; a request only
uses them. Two kinds:

* `RequestValidator`, for what a client sends (parameters, request bodies), checked on
  every request: jsonschema-rs, compiled when built. It yields `SchemaViolation`s (path,
  field, rule, message), not library errors.
* `ResponseValidator`, for what the mock sends (examples and fixtures, checked at
  start-up, and the generator's echo check): the Python `jsonschema` package.

Vendor keywords of requests are registered here, once, as jsonschema-rs keywords:

* ``x-time-window: {unit: ms|s, before: N, after: M}`` -- an integer timestamp must
  lie within ``[now - before, now + after]`` when the request is checked. It is
  enforced for requests only: examples and fixtures are written once and age.
* ``format: int32|int64`` -- OpenAPI's integer ranges (JSON Schema formats know none).
"""

from __future__ import annotations

import ast
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
MAX_REF_HOPS = 64

_UNIT_SECONDS = {"ms": 1000.0, "s": 1.0}
_INT_FORMATS = {"int32": INT32, "int64": INT64}


_FORMATS = (
    "date",
    "date-time",
    "duration",
    "email",
    "hostname",
    "idn-email",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "iri",
    "iri-reference",
    "json-pointer",
    "regex",
    "relative-json-pointer",
    "time",
    "uri",
    "uri-reference",
    "uri-template",
    "uuid",
)
"""The 2020-12 formats, checked by jsonschema-rs for both validator kinds."""


def _format_checker() -> FormatChecker:
    """Formats for `ResponseValidator`: jsonschema-rs's checks plus OpenAPI's integer ranges.

    The checks requests get, so that a fixture passes at start-up exactly when a request
    with the same value would, and none of the optional Python format packages
    (`jsonschema[format-nongpl]`: rfc3987-syntax alone took ~1.3 s to import).
    """
    checker = FormatChecker(formats=())
    for name in _FORMATS:
        fmt = jsonschema_rs.validator_for(
            {"format": name}, validate_formats=True, ignore_unknown_formats=False
        )
        checker.checks(name)(fmt.is_valid)

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

ResponseValidator = Draft202012Validator
"""Validator class for what the mock sends: examples, fixtures and generated data."""


# -- request validation: jsonschema-rs ----------------------------------------------------
# Why jsonschema-rs for requests (bench/validators.md, measured on our own schemas with
# validators built once): the Huawei 3-event body takes 14 µs with jsonschema-rs against
# 395 µs with `jsonschema` (list(iter_errors), 28x; 6 µs against 632 µs for is_valid),
# an invalid one 44 µs against 545 µs (12x), and the Harness workspace body 19 µs against
# 335 µs (18x); with `jsonschema`, body validation was ~90% of Engine.handle
# (bench/PROFILE.md). Its errors give what a violation needs as data: the instance path,
# the failing keyword (`kind.name`) and the details (`kind.as_dict()`: the missing
# property of `required`, the options of `enum`), so nothing is parsed out of a message;
# both libraries report the same (field, rule) pairs on our schemas
# (tests/test_schemas.py compares them). Where its messages were adapted (`_violation`):
# the offending value is masked at compile time and shown clipped, so a long value no
# longer pushes the rule out of a clipped message; `enum` lists every option
# (jsonschema-rs writes "or 7 other candidates"); `false` schemas get a rule and a
# sentence; `additionalProperties: false` on an object with no `properties` gets
# `properties: {}` beside it so that it names the unexpected properties (`_prepare`).
# Formats (uuid, date-time, date, email, uri, ...) are jsonschema-rs's own
# (`validate_formats=True`), for responses too (`_format_checker`). The vendor rules
# stay small Python classes it calls back as custom keywords: `x-time-window`, and the
# int32/int64 ranges, because its custom `formats` are only ever given strings and a
# custom keyword named `format` would replace its built-in format checks, so `_prepare`
# puts a keyword of our own beside each `format: int32|int64`, reported as `format`.

_INT_FORMAT_KEYWORD = "x-mockserver-int-format"
_RULES = {_INT_FORMAT_KEYWORD: "format"}
"""jsonschema-rs keyword names reported as another rule."""

_MASK = "\x00value\x00"
"""What jsonschema-rs writes in its messages instead of the offending value."""

MAX_SHOWN = 60
"""Longest rendering of an offending value inside a message."""

_DATA_KEYWORDS = frozenset({"const", "default", "enum", "example", "examples"})
"""Keywords whose values are data, not schemas: `_prepare` leaves them as they are."""


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One problem a `RequestValidator` found in an instance."""

    path: tuple[str | int, ...]
    """Where in the instance, as keys and indexes."""
    field: str
    """The path as text (`a.b[0].c`); for `required`, the missing property's path."""
    rule: str
    """The JSON Schema keyword that failed (`required`, `format`, `x-time-window`, ...)."""
    message: str
    """A sentence naming the value and the rule."""


class _TimeWindow:
    """`x-time-window`: the timestamp lies within [now - before, now + after] (in `unit`)."""

    def __init__(self, parent_schema: dict[str, Any], value: Any, schema_path: list[str | int]):
        if not isinstance(value, Mapping):
            raise ValueError(f"x-time-window takes {{unit, before, after}}, not {value!r}")
        unit = str(value.get("unit", "ms"))
        self.scale = _UNIT_SECONDS.get(unit, 1000.0)
        before, after = value.get("before", 0), value.get("after", 0)
        self.before, self.after = float(before), float(after)
        self.window = f"[now - {before}{unit}, now + {after}{unit}]"

    def validate(self, instance: Any) -> None:
        if isinstance(instance, bool) or not isinstance(instance, int | float):
            return
        now = time.time() * self.scale
        if not now - self.before <= instance <= now + self.after:
            raise ValueError(
                f"{show_value(instance)} is outside the accepted time window {self.window}"
                f" (now is {int(now)})"
            )


class _IntFormat:
    """`format: int32|int64` (as `x-mockserver-int-format`): the integer fits the range."""

    def __init__(self, parent_schema: dict[str, Any], value: Any, schema_path: list[str | int]):
        self.name = str(value)
        self.low, self.high = _INT_FORMATS[self.name]

    def validate(self, instance: Any) -> None:
        if isinstance(instance, bool) or not isinstance(instance, int):
            return
        if not self.low <= instance <= self.high:
            raise ValueError(
                f"{show_value(instance)} is not an {self.name} "
                f"(an integer from {self.low} to {self.high})"
            )


_KEYWORDS: dict[str, Any] = {"x-time-window": _TimeWindow, _INT_FORMAT_KEYWORD: _IntFormat}
_SENT_KEYWORDS: dict[str, Any] = {_INT_FORMAT_KEYWORD: _IntFormat}
"""What the mock sends is not held to `x-time-window` (examples are written once and age)."""
_VISIBILITY = frozenset({"readOnly", "writeOnly"})
_SCOPES = frozenset(
    {"$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveAnchor", "$recursiveRef"}
)
"""Keys that give a schema a name other than its place: where any occurs, a `$ref` may
mean more than a JSON pointer, and jsonschema-rs gets the whole document."""
_ANNOTATIONS = frozenset(
    {
        "$comment",
        "default",
        "deprecated",
        "description",
        "example",
        "examples",
        "externalDocs",
        "summary",
        "title",
        "xml",
    }
)
"""Keys that never change whether an instance is valid: left out of what jsonschema-rs
holds (a validator's registry held GitHub's whole 13 MB description, ~68 MB of it)."""
_NAMED = frozenset(
    {
        "$defs",
        "callbacks",
        "content",
        "definitions",
        "dependentSchemas",
        "encoding",
        "headers",
        "links",
        "mapping",
        "parameters",
        "paths",
        "patternProperties",
        "properties",
        "requestBodies",
        "responses",
        "schemas",
        "securitySchemes",
        "variables",
    }
)
"""Keys whose mapping is keyed by names the author chose (a property may be called
`description`): nothing in it is an annotation."""


Hidden = Callable[[Any], bool]
"""Whether a property's schema is left out of `required` on one side (readOnly properties
in requests, writeOnly ones in responses)."""


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


def type_check(schema: Any) -> Callable[[Any], bool] | None:
    """The yes/no check of a schema that constrains nothing but its `type` (annotations
    aside: `{type: string, example: x}`, most of a big spec's leaves), without building
    a validator; None for any other schema."""
    if not isinstance(schema, dict) or "type" not in schema:
        return None
    if any(key != "type" and key not in _ANNOTATIONS and key not in _VISIBILITY for key in schema):
        return None
    declared = schema["type"]
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not names:
        return None
    checks = [_JSON_TYPES.get(name) if isinstance(name, str) else None for name in names]
    if any(check is None for check in checks):
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda value: any(check(value) for check in checks)  # type: ignore[misc]


def _prepare(
    node: Any, hidden: Hidden | None = None, slim: bool = False, named: bool = False
) -> Any:
    """A copy of a schema (or a whole document) in the form the jsonschema-rs validators take.

    Beside each `format: int32|int64`, the keyword that checks the range; beside each
    `additionalProperties: false` of an object with no `properties` or
    `patternProperties`, `properties: {}` (the same constraint, which jsonschema-rs
    then reports naming the unexpected properties, not as a bare `false` schema).
    With `hidden`, the properties it names are dropped from each `required`; with
    `slim`, annotations are left out (in the same pass). A map keyed by
    names the author chose (`named`: `properties`, ...) is no schema: its members are.
    """
    if isinstance(node, Mapping):
        if named:
            return {
                key: _prepare(value, hidden, slim) if isinstance(value, dict | list) else value
                for key, value in node.items()
            }
        out = {
            key: _prepare(value, hidden, slim, key in _NAMED)
            if isinstance(value, dict | list) and key not in _DATA_KEYWORDS
            else value
            for key, value in node.items()
            if not slim or key not in _ANNOTATIONS
        }
        if isinstance(out.get("format"), str) and out["format"] in _INT_FORMATS:
            out[_INT_FORMAT_KEYWORD] = out["format"]
        if (
            out.get("additionalProperties") is False
            and "properties" not in out
            and "patternProperties" not in out
        ):
            out["properties"] = {}
        if "discriminator" in out:
            _by_discriminator(out)
        required, properties = node.get("required"), node.get("properties")
        if hidden is not None and isinstance(required, list) and isinstance(properties, Mapping):
            out["required"] = [
                name for name in required if name not in properties or not hidden(properties[name])
            ]
        return out
    if isinstance(node, list):
        return [
            _prepare(item, hidden, slim) if isinstance(item, dict | list) else item for item in node
        ]
    return node


def _by_discriminator(out: dict[str, Any]) -> None:
    """A `oneOf`/`anyOf` of `$ref`s beside a `discriminator`: the branch the property's
    value names is the one the instance is checked against (OpenAPI's Discriminator
    Object: the value selects the schema), so a body that also fits another branch is
    valid; an instance with no known value is checked against the plain `oneOf`.

    The values of a branch: each `mapping` key naming its `$ref` (as a ref or a schema
    name), and the schema's own name (the implicit mapping, which a `mapping` entry may
    rename but clients still send)."""
    discriminator = out["discriminator"]
    prop = discriminator.get("propertyName") if isinstance(discriminator, Mapping) else None
    keyword = "oneOf" if "oneOf" in out else "anyOf"
    branches = out.get(keyword)
    if not isinstance(prop, str) or not isinstance(branches, list) or not branches:
        return
    refs = [b.get("$ref") if isinstance(b, Mapping) and len(b) == 1 else None for b in branches]
    if not all(isinstance(ref, str) for ref in refs):
        return
    mapping = discriminator.get("mapping")
    mapping = mapping if isinstance(mapping, Mapping) else {}
    cases: list[dict[str, Any]] = []
    for ref in refs:
        assert isinstance(ref, str)
        name = ref.rsplit("/", 1)[-1]
        tags = [
            str(key)
            for key, target in mapping.items()
            if isinstance(target, str) and (target == ref or target.rsplit("/", 1)[-1] == name)
        ]
        tags += [] if name in tags else [name]
        for tag in tags:
            names_it = {"type": "object", "required": [prop], "properties": {prop: {"const": tag}}}
            cases.append({"if": names_it, "then": {"$ref": ref}})
    unnamed = {"not": {"anyOf": [case["if"] for case in cases]}}
    out["allOf"] = [
        *(out.get("allOf") or []),
        *cases,
        {"if": unnamed, "then": {keyword: out.pop(keyword)}},
    ]


def _discriminated(node: Any) -> Any:
    """`node` with each `discriminator` made what it means (`_by_discriminator`) for the
    `jsonschema` package, which knows none: only the mappings on the way to one are
    copied, the rest of the document is shared."""
    if isinstance(node, dict):
        changed: dict[str, Any] | None = None
        for key, value in node.items():
            if key in _DATA_KEYWORDS or not isinstance(value, dict | list):
                continue
            new = _discriminated(value)
            if new is not value:
                changed = changed if changed is not None else dict(node)
                changed[key] = new
        if "discriminator" in node:
            changed = changed if changed is not None else dict(node)
            _by_discriminator(changed)
        return node if changed is None else changed
    if isinstance(node, list):
        copied: list[Any] | None = None
        for index, item in enumerate(node):
            if isinstance(item, dict | list):
                new_item = _discriminated(item)
                if new_item is not item:
                    copied = copied if copied is not None else list(node)
                    copied[index] = new_item
        return node if copied is None else copied
    return node


_UNKNOWN: Any = object()


def _refs(node: Any) -> set[str]:
    """Every `$ref` in `node` outside annotations and data (walked without recursion)."""
    found: set[str] = set()
    stack: list[tuple[Any, bool]] = [(node, False)]
    while stack:
        item, named = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and not named:
                found.add(ref)
            for key, value in item.items():
                if isinstance(value, dict | list) and (
                    named or (key not in _ANNOTATIONS and key not in _DATA_KEYWORDS)
                ):
                    stack.append((value, not named and key in _NAMED))
        elif isinstance(item, list):
            stack.extend((value, False) for value in item if isinstance(value, dict | list))
    return found


def _place(skeleton: dict[str, Any], parts: list[str], part: Any, placed: set[int]) -> None:
    """Put `part` at `parts` inside `skeleton`, unless a part placed before holds it."""
    target = skeleton
    for name in parts[:-1]:
        child = target.get(name)
        if child is None:
            child = target[name] = {}
        if id(child) in placed or not isinstance(child, dict):
            return
        target = child
    if parts and parts[-1] not in target:
        target[parts[-1]] = part
        placed.add(id(part))


def _pointer_parts(ref: str) -> list[str]:
    """The names along a local JSON pointer reference `#/a/b` (percent-decoded first)."""
    fragment = unquote(ref[1:]) if "%" in ref else ref[1:]
    return [raw.replace("~1", "/").replace("~0", "~") for raw in fragment.split("/")[1:]]


def _mentions(document: Any, keys: frozenset[str]) -> set[str]:
    """Which of `keys` occur as a key anywhere in `document` (parsed JSON: dicts and
    lists; walked without recursion)."""
    found: set[str] = set()
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.update(keys.intersection(node))
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return found


class RequestValidator:
    """Checks what a client sends: jsonschema-rs, compiled once, used for every request.

    Standard 2020-12 keywords and formats, plus `x-time-window` and the int32/int64
    ranges; `$ref`s resolve in `registry`. A schema that cannot be compiled (an
    unresolvable `$ref`, a malformed vendor keyword) raises `ValueError` here, at
    start-up, not on a request.
    """

    __slots__ = ("_compiled",)

    def __init__(
        self,
        schema: Any,
        registry: jsonschema_rs.Registry | None = None,
        *,
        hidden: Hidden | None = None,
        keywords: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            self._compiled = jsonschema_rs.Draft202012Validator(
                _prepare(schema, hidden),
                validate_formats=True,
                registry=registry,
                keywords=dict(_KEYWORDS if keywords is None else keywords),
                mask=_MASK,
                offline=True,
            )
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
            message = f"schema not usable: {exc.message.splitlines()[0]}"
            kind = getattr(exc, "kind", None)
            if isinstance(exc, jsonschema_rs.ReferencingError) or isinstance(
                kind, jsonschema_rs.ValidationErrorKind.Referencing
            ):
                raise Unresolved(message) from None
            raise ValueError(message) from None

    def is_valid(self, instance: Any) -> bool:
        return self._compiled.is_valid(instance)

    def iter_errors(self, instance: Any) -> Iterator[SchemaViolation]:
        """Every problem, not only the first; nothing at all for a valid instance.

        Raises `TooDeep` for an invalid instance nested deeper than jsonschema-rs copies
        into its errors (`is_valid` has no such limit).
        """
        if self._compiled.is_valid(instance):  # stops early: the common case costs least
            return
        try:
            for error in self._compiled.iter_errors(instance):
                yield _violation(error)
        except ValueError as exc:  # its errors carry the instance, copied to 255 levels
            raise TooDeep(str(exc)) from None


class Unresolved(ValueError):
    """A schema with a `$ref` its registry does not hold."""


class TooDeep(Exception):
    """An invalid instance too deeply nested for its errors to be reported."""


def _violation(error: jsonschema_rs.ValidationError) -> SchemaViolation:
    kind = error.kind
    path = tuple(error.instance_path)
    rule = _RULES.get(kind.name, kind.name)
    message = error.message
    field_path: tuple[str | int, ...] = path
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        field_path = (*path, kind.property)
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
        message = f"{_MASK} is not one of {_json(kind.options)}"
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.FalseSchema):
        if error.schema_path and error.schema_path[-1] == "items":
            rule, message = "items", f"{_MASK} is not allowed: the array takes no more items"
        else:
            rule, message = "false", f"{_MASK} is not allowed here (the schema is false)"
    if _MASK in message:
        message = message.replace(_MASK, show_value(error.instance))
    return SchemaViolation(path, dotted(field_path), rule, message)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def show_value(value: Any) -> str:
    """A value as compact JSON, clipped to `MAX_SHOWN` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except ValueError:  # an integer too long to print
        text = f"a {type(value).__name__}"
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


# -- the document -------------------------------------------------------------------------
_FEW_REFS = 48
"""Most `$ref` targets a schema may reach for `SchemaContext.judge` to give it a
jsonschema-rs validator, which compiles, for each validator, every schema its refs reach
(~22 KB a schema: one over 319 of OpenAI's components took 7 MB)."""

_BATCH = 100
"""Schemas checked by one validator in `SchemaContext.refused`: fewer compile the parts
they share more often, more hold more memory at once (GitHub's 1,051 examples: 50 to 400
cost the same time, and 3 MB to 15 MB more of the worker's memory)."""


class SchemaContext:
    """Reference resolution and validator construction for one API document."""

    def __init__(self, api_id: str, document: Mapping[str, Any]) -> None:
        self.api_id = api_id
        self.document = document
        self.base_uri = f"urn:mockserver:{api_id}"
        # readOnly properties are never required of a request, writeOnly ones never of
        # a response: each side's validators see their own variant of the document.
        mentioned = _mentions(document, _VISIBILITY | _SCOPES | {"discriminator"})
        self._visibility = mentioned & _VISIBILITY
        self._scoped = bool(mentioned & _SCOPES)
        self._read_only = self._flag("readOnly") if "readOnly" in self._visibility else None
        self._write_only = self._flag("writeOnly") if "writeOnly" in self._visibility else None
        # The `jsonschema` package's validators (what the mock sends) know no
        # discriminator: they get the document with each made what it means, as
        # jsonschema-rs' do (`_prepare`).
        self._discriminated = "discriminator" in mentioned
        if self._write_only:
            sent = _prepare(document, self._write_only)
        else:
            sent = _discriminated(document) if self._discriminated else document
        resource = Resource.from_contents(sent, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(self.base_uri, resource)
        # The same document for jsonschema-rs, under the same URI, so that `rebase`d
        # refs resolve in both: only the parts refs reach, without annotations.
        self._reachable: Any = _UNKNOWN
        self._ref_refs: dict[str, set[str]] = {}
        """Each reference's target's own refs (`_refs`), found once: by `_reach`, then
        for the refs it did not reach by `_reaches_few`."""
        self.request_registry = self._rs_registry(self._read_only)
        self._sent_registry: jsonschema_rs.Registry | None = (
            None if self._visibility else self.request_registry
        )
        self._validators: dict[tuple[str, bytes | int], Any] = {}
        self._identities: dict[int, tuple[Any, bytes | int]] = {}
        self._complete: dict[str, jsonschema_rs.Registry] = {}

    def _rs_registry(self, hidden: Hidden | None) -> jsonschema_rs.Registry:
        contents = None if self._scoped else self._referenced(hidden)
        if contents is None:
            contents = _prepare(self.document, hidden)
        return jsonschema_rs.Registry([(self.base_uri, contents)], draft=jsonschema_rs.Draft202012)

    def _referenced(self, hidden: Hidden | None) -> dict[str, Any] | None:
        """What of the document a validator's `$ref`s can reach, each part at its own
        place, annotations left out, prepared with `hidden`; None where a ref is not a
        JSON pointer (then the whole document is needed)."""
        if self._reachable is _UNKNOWN:
            self._reachable = self._reach()
        if self._reachable is None:
            return None
        skeleton: dict[str, Any] = {}
        placed: set[int] = set()
        for parts, part in self._reachable:
            _place(skeleton, parts, _prepare(part, hidden, slim=True), placed)
        return skeleton

    def _reach(self) -> list[tuple[list[str], Any]] | None:
        """The parts `$ref`s reach, shallowest first; None, see `_referenced`.

        Validators are built for the schemas of operations (parameters, bodies,
        responses, headers) and their parts, so the refs that start the walk are those
        outside the schema collections (`components/schemas`, Swagger's `definitions`)
        and the webhooks, which are not served; every part they reach adds its own."""
        document = self.document
        skipped = ("components", "definitions", "webhooks")
        start = {k: v for k, v in document.items() if k not in skipped}
        components = document.get("components")
        if isinstance(components, dict):
            start["components"] = {k: v for k, v in components.items() if k != "schemas"}
        todo, seen = list(_refs(start)), set()
        places: list[tuple[list[str], Any]] = []
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            if not ref.startswith("#/"):
                if ref.startswith("#"):
                    return None
                continue  # not in this document: unresolvable either way
            try:
                node = self.pointer(ref)
            except (ValueError, LookupError, TypeError):
                continue  # unresolvable either way: the validator says so when built
            places.append((_pointer_parts(ref), node))
            todo.extend(self._ref_refs.setdefault(ref, _refs(node)))
        places.sort(key=lambda place: len(place[0]))
        return places

    def _flag(self, key: str) -> Hidden:
        """Whether a schema (through `$ref`s and `allOf`) is annotated `key: true`."""

        def flagged(node: Any, depth: int = 0) -> bool:
            hops = 0
            while isinstance(node, Mapping) and depth < 8:
                if node.get(key) is True:
                    return True
                parts = node.get("allOf")
                if isinstance(parts, list) and any(flagged(p, depth + 1) for p in parts):
                    return True
                ref = node.get("$ref")
                hops += 1
                if not isinstance(ref, str) or hops > MAX_REF_HOPS:
                    return False
                node = self._target(ref)
            return False

        return flagged

    def _target(self, ref: str) -> Any:
        if ref.startswith(self.base_uri):
            ref = ref[len(self.base_uri) :]
        try:
            return self.pointer(ref)
        except (ValueError, LookupError, TypeError):
            return None

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
        """The node a local reference `#/a/b` names (the fragment percent-decoded first,
        as a URI's is: `#/paths/~1a~1%7Bid%7D` is the path `/a/{id}`)."""
        if not ref.startswith("#"):
            raise ValueError(f"only local references are supported, not {ref!r}")
        target: Any = self.document
        fragment = unquote(ref[1:]) if "%" in ref else ref[1:]
        for raw in fragment.split("/")[1:]:
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
        """A validator for `schema` (a node of this document), built now, used many times;
        one per distinct schema (a big spec's operations share most of theirs)."""
        key = ("request" if for_request else "response", self._identity(schema))
        found = self._validators.get(key)
        if found is None:
            found = self._validators[key] = self._build(schema, for_request)
        return found

    def _build(self, schema: Any, for_request: bool) -> Any:
        if for_request:
            return self._rs_validator(schema, "request", self._read_only, _KEYWORDS)
        root = self.rebase(schema)
        if self._write_only is not None:
            root = _prepare(root, self._write_only)
        elif self._discriminated:
            root = _discriminated(root)
        return ResponseValidator(root, registry=self.registry, format_checker=FORMAT_CHECKER)

    def checker(self, schema: Any, *, keep: bool = True) -> RequestValidator:
        """A fast yes/no validator of what the mock sends (generated values, headers):
        jsonschema-rs, writeOnly properties not required, no `x-time-window`; one per
        distinct schema, like `validator`, unless `keep` is false (one used only now)."""
        key = ("sent", self._identity(schema))
        found: RequestValidator | None = self._validators.get(key)
        if found is None:
            found = self._rs_validator(schema, "sent", self._write_only, _SENT_KEYWORDS)
            if keep:
                self._validators[key] = found
        return found

    def judge(self, schema: Any, *, now: bool = False) -> Callable[[Any], bool]:
        """A yes/no check of a value the mock makes (generation: echoed values, oneOf and
        allOf results, authored examples), as `validator(..., for_request=False)` would
        say. A schema that says only its type is checked in Python; one that reaches at
        most `_FEW_REFS` schemas through its refs gets jsonschema-rs (fast, compiled
        now); a bigger one, or one checked only `now` (at start-up), the `jsonschema`
        package's validator, which follows refs as a value needs them and holds no
        compiled copy of them: a spec of big interlinked unions (OpenAI's, whose
        thousands of checks took 465 MB) costs no memory for them. A check that cannot
        be made (an unusable schema) says no: checked `now`, building one never fails;
        otherwise jsonschema-rs' raises `ValueError` now."""
        simple = type_check(schema)
        if simple is not None:
            return simple
        if not now and self._reaches_few(schema):
            return self.checker(schema).is_valid
        return _says_no_on_error(self.validator(schema, for_request=False).is_valid)

    def _reaches_few(self, schema: Any) -> bool:
        """Whether `schema`'s refs reach at most `_FEW_REFS` schemas (each ref's own refs
        found once per document)."""
        seen: set[str] = set()
        todo = list(_refs(schema))
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            if len(seen) > _FEW_REFS:
                return False
            found = self._ref_refs.get(ref)
            if found is None:
                target = self._target(ref)
                found = self._ref_refs[ref] = set() if target is None else _refs(target)
            todo.extend(found)
        return True

    def refused(self, pairs: Sequence[tuple[Any, Any]]) -> set[int] | None:
        """The indices of the `(schema, value)` pairs whose schema refuses the value, as
        `checker` would say, checked by one validator for all (compiling the parts the
        schemas share once); None when that cannot be built or run (a schema is
        unusable, a value is no JSON), so each is to be checked on its own."""
        found: set[int] = set()
        for start in range(0, len(pairs), _BATCH):
            batch = pairs[start : start + _BATCH]
            root = {"prefixItems": [schema for schema, _ in batch]}
            try:
                check = self._rs_validator(root, "sent", self._write_only, _SENT_KEYWORDS)
                found.update(
                    start + int(violation.path[0])
                    for violation in check.iter_errors([value for _, value in batch])
                )
            except Exception:
                return None
        return found

    def _rs_validator(
        self, schema: Any, side: str, hidden: Hidden | None, keywords: Mapping[str, Any]
    ) -> RequestValidator:
        """A jsonschema-rs validator against the parts of the document refs reach from
        operations; for a schema that reaches further (one of `components/schemas` no
        operation uses), against the whole document, registered the first time."""
        root = self.rebase(schema)
        try:
            return RequestValidator(root, self._registry(side), hidden=hidden, keywords=keywords)
        except Unresolved:
            if self._scoped or self._reachable is None:  # the registry is the whole document
                raise
        whole = self._complete.get(side)
        if whole is None:
            whole = self._complete[side] = jsonschema_rs.Registry(
                [(self.base_uri, _prepare(self.document, hidden))],
                draft=jsonschema_rs.Draft202012,
            )
        return RequestValidator(root, whole, hidden=hidden, keywords=keywords)

    def _identity(self, schema: Any) -> bytes | int:
        """`_identity`, worked out once per node: the schemas of a document's properties
        are asked about many times (each place that uses them, and each schema that
        holds them)."""
        known = self._identities.get(id(schema))
        if known is None or known[0] is not schema:
            known = self._identities[id(schema)] = (schema, _identity(schema))
        return known[1]

    def _registry(self, side: str) -> jsonschema_rs.Registry:
        if side == "request":
            return self.request_registry
        if self._sent_registry is None:
            self._sent_registry = self._rs_registry(self._write_only)
        return self._sent_registry


def _says_no_on_error(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """`check`, answering no where it fails (a pattern Python cannot compile, a ref that
    leads nowhere: the `jsonschema` package finds those only while checking)."""

    def checked(value: Any) -> bool:
        try:
            return check(value)
        except Exception:  # any failure of the check is a no
            return False

    return checked


def _identity(schema: Any) -> bytes | int:
    """What makes two schemas the same to a validator: the text of their prepared form
    without annotations (`_prepare`, as a short digest: two properties that differ only
    by their `description` share one validator), or, for one that cannot be written as
    text (a node holding itself, or nested past the recursion limit), the node itself."""
    try:
        text = json.dumps(_prepare(schema, slim=True), sort_keys=True, default=repr)
    except (ValueError, RecursionError):
        return id(schema)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


# -- errors of the Python `jsonschema` package (fixtures, examples) ------------------------
def dotted(path: Sequence[str | int]) -> str:
    """A readable location inside an instance: `a.b[0].c`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def error_path(error: ValidationError) -> str:
    """A readable location of a `jsonschema` validation error inside the instance."""
    return dotted(list(error.absolute_path))


def error_field(error: ValidationError) -> str:
    """The field a `jsonschema` error is about; for `required`, the missing property."""
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
