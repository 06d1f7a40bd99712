"""Schema-valid data, compiled once per schema and produced from randomness passed in.

`compile_schema` turns a JSON Schema node into a `Generator`: a tree of small
closures, built at start-up. Producing a value only walks that tree with a
`GenContext` that carries the request's own `random.Random`, a Faker instance
seeded from it, and the values the response may echo. No global random state is
touched: the same seed gives the same value.

Echo: a generated object property named like a value the client sent (a path or
query parameter, or a field of the JSON body) carries that value when it is valid
for the property. A response array generated for a request whose body is an array
has one item per request item, each echoing its own item.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import math
import random
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import rstr
from faker import Faker

from mockserver.schemas import INT32, INT64, SchemaContext

MAX_DEPTH = 6
"""How many nested objects/arrays deep optional content is still produced."""

DEFAULT_MAX_ITEMS = 3
_EPOCH_2025 = 1735689600  # 2025-01-01T00:00:00Z
_YEAR = 365 * 24 * 3600


@dataclass(slots=True)
class GenContext:
    """Everything one generation run may use; owned by one request."""

    rng: random.Random
    faker: Faker
    seed: int
    echo: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    depth: int = 0
    faker_seeded: bool = False

    @property
    def fake(self) -> Faker:
        """The Faker, seeded with this run's seed the first time it is asked for: most
        bodies use none, and seeding one costs ~17 µs (a tenth of a small request)."""
        if not self.faker_seeded:
            self.faker.seed_instance(self.seed)
            self.faker_seeded = True
        return self.faker


Generator = Callable[[GenContext], Any]


def compile_schema(schema: Any, ctx: SchemaContext, *, name: str = "") -> Generator:
    """Compile `schema` (a node of `ctx`'s document) into a generator, once.

    One compiler per document: a `$ref` is compiled once however many responses use it
    (a spec of a thousand operations refers to the same few hundred components)."""
    compiler = _COMPILERS.get(ctx)
    if compiler is None:
        compiler = _COMPILERS[ctx] = _Compiler(ctx)
    return compiler.compile(schema, name)


def make_context(
    seed: int, fake: Faker, *, echo: Mapping[str, Any] | None = None, body: Any = None
) -> GenContext:
    """A context whose randomness is entirely determined by `seed`."""
    return GenContext(rng=random.Random(seed), faker=fake, seed=seed, echo=echo or {}, body=body)


class _Lazy:
    """A generator filled in after its target is compiled: makes recursive `$ref`s work."""

    def __init__(self) -> None:
        self.target: Generator | None = None

    def __call__(self, gctx: GenContext) -> Any:
        assert self.target is not None
        return self.target(gctx)


class _Accepts:
    """Whether a value fits a schema, the validator built the first time it is asked (a
    schema jsonschema-rs cannot compile accepts nothing: the value is not echoed)."""

    __slots__ = ("check", "ctx", "schema")

    def __init__(self, ctx: SchemaContext, schema: Any) -> None:
        self.ctx, self.schema = ctx, schema
        self.check: Callable[[Any], bool] | None = None

    def __call__(self, value: Any) -> bool:
        if self.check is None:
            try:
                self.check = self.ctx.validator(self.schema, for_request=True).is_valid
            except ValueError:
                self.check = _refuse
        return self.check(value)


def _refuse(value: Any) -> bool:
    return False


_COMPILERS: weakref.WeakKeyDictionary[SchemaContext, _Compiler] = weakref.WeakKeyDictionary()


class _Compiler:
    """Compiles the schemas of one document; `refs` is shared by all of them."""

    def __init__(self, ctx: SchemaContext) -> None:
        self.ctx = ctx
        self.refs: dict[str, Generator] = {}

    # -- dispatch ---------------------------------------------------------------
    def compile(self, schema: Any, name: str) -> Generator:
        if schema is True or schema is None or schema == {}:
            return _any_value
        if schema is False:
            return _constant(None)
        if not isinstance(schema, Mapping):
            return _any_value
        if "$ref" in schema and len(schema) == 1:
            return self._ref(schema["$ref"], name)
        schema = self._inline(schema)
        if "const" in schema:
            return _constant(schema["const"])
        if "enum" in schema:
            return _choice(list(schema["enum"]))
        if "allOf" in schema:
            return self.compile(self._merge_all_of(schema), name)
        for keyword in ("oneOf", "anyOf"):
            if keyword in schema:
                base = {k: v for k, v in schema.items() if k != keyword}
                branches = [
                    self.compile(self._merge([base, self._inline(b)]), name)
                    for b in schema[keyword]
                ]
                return _branch(branches)
        kind = _pick_type(schema)
        builders: dict[str, Callable[[Mapping[str, Any], str], Generator]] = {
            "object": self._object,
            "array": self._array,
            "string": self._string,
            "integer": self._integer,
            "number": self._number,
            "boolean": lambda s, n: _boolean,
            "null": lambda s, n: _constant(None),
        }
        return builders.get(kind, self._string)(schema, name)

    def _ref(self, ref: str, name: str) -> Generator:
        key = f"{ref}|{name}"
        if key in self.refs:
            return self.refs[key]
        lazy = _Lazy()
        self.refs[key] = lazy
        target = self.compile(self.ctx.pointer(ref), name)
        lazy.target = target
        return target

    def _inline(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Merge a `$ref` that stands beside other keywords into them (3.1 allows it)."""
        if "$ref" not in schema:
            return schema
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return self._merge([self.ctx.resolve({"$ref": schema["$ref"]}), rest])

    def _merge_all_of(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        base = {k: v for k, v in schema.items() if k != "allOf"}
        parts = [self._inline(self.ctx.resolve(p)) for p in schema["allOf"]]
        merged = self._merge([base, *parts])
        if "allOf" in merged:
            return self._merge_all_of(merged)
        return merged

    @staticmethod
    def _merge(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in parts:
            for key, value in part.items():
                if key == "properties":
                    merged.setdefault("properties", {}).update(value)
                elif key == "required":
                    merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
                elif key in ("minLength", "minItems", "minimum", "minProperties"):
                    merged[key] = max(merged.get(key, value), value)
                elif key in ("maxLength", "maxItems", "maximum", "maxProperties"):
                    merged[key] = min(merged.get(key, value), value)
                else:
                    merged[key] = value
        return merged

    # -- structures -------------------------------------------------------------
    def _object(self, schema: Mapping[str, Any], name: str) -> Generator:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = []
        for prop_name, prop_schema in properties.items():
            gen = self.compile(prop_schema, prop_name)
            # Whether a value the client sent fits this property: only yes or no is
            # needed, so jsonschema-rs (the request-side validator) answers, ~1-2 µs
            # where the `jsonschema` package took ~10-15 µs per echoed field. Built on
            # first use: a big spec has tens of thousands of properties, few echoed.
            accepts = _Accepts(self.ctx, prop_schema)
            fields.append((prop_name, prop_name in required, gen, accepts))
        # Required names with no declared property still need a value.
        for missing in sorted(required - set(properties)):
            fields.append((missing, True, _word, lambda value: True))
        extra = schema.get("additionalProperties")
        extra_gen: Generator | None = None
        if not properties and extra not in (None, False):
            extra_gen = self.compile(extra if isinstance(extra, Mapping) else {}, "")
        min_props = int(schema.get("minProperties", 0))

        def generate(gctx: GenContext) -> Any:
            out: dict[str, Any] = {}
            body = gctx.body
            source = body if isinstance(body, Mapping) else {}
            gctx.depth += 1
            try:
                for prop_name, is_required, gen, accepts in fields:
                    # What the client sent is echoed even where the property is optional.
                    echoed = _echo_value(prop_name, source, gctx.echo, accepts)
                    if echoed is not _MISSING:
                        out[prop_name] = echoed
                        continue
                    # Optional properties are always shown (the full documented shape),
                    # except past MAX_DEPTH, which is what bounds recursive schemas.
                    if not is_required and gctx.depth > MAX_DEPTH:
                        continue
                    # Descend into the matching part of the request body, if any.
                    gctx.body = source.get(prop_name)
                    try:
                        out[prop_name] = gen(gctx)
                    finally:
                        gctx.body = source
                if extra_gen is not None:
                    count = max(min_props, 0 if gctx.depth > MAX_DEPTH else gctx.rng.randint(1, 3))
                    for _ in range(count):
                        out[_key(gctx)] = extra_gen(gctx)
            finally:
                gctx.depth -= 1
                gctx.body = body
            return out

        return generate

    def _array(self, schema: Mapping[str, Any], name: str) -> Generator:
        items = self.compile(schema.get("items", {}), _singular(name))
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(low, DEFAULT_MAX_ITEMS)))
        unique = bool(schema.get("uniqueItems", False))

        def generate(gctx: GenContext) -> Any:
            body = gctx.body
            if isinstance(body, list) and low <= len(body) <= high:
                # One item per request item: a batch answered item by item.
                out = []
                for item in body:
                    gctx.body = item
                    try:
                        out.append(items(gctx))
                    finally:
                        gctx.body = body
                return out
            floor = low if gctx.depth > MAX_DEPTH else max(low, 1 if high >= 1 else 0)
            count = gctx.rng.randint(floor, max(floor, min(high, floor + 2)))
            gctx.depth += 1
            gctx.body = None
            try:
                values: list[Any] = []
                attempts = 0
                while len(values) < count and attempts < count * 10:
                    attempts += 1
                    value = items(gctx)
                    if unique and value in values:
                        continue
                    values.append(value)
                return values
            finally:
                gctx.depth -= 1
                gctx.body = body

        return generate

    # -- scalars ------------------------------------------------------------------
    def _string(self, schema: Mapping[str, Any], name: str) -> Generator:
        low = int(schema.get("minLength", 0))
        high = int(schema.get("maxLength", max(low, 64)))
        pattern = schema.get("pattern")
        if pattern is not None:
            return _from_pattern(str(pattern), low, high)
        fmt = schema.get("format")
        if fmt in _FORMATS:
            return _FORMATS[fmt]
        return _fit_length(_by_name(name), low, high)

    def _integer(self, schema: Mapping[str, Any], name: str) -> Generator:
        fmt_low, fmt_high = INT32 if schema.get("format") == "int32" else INT64
        low, high = _bounds(schema, fmt_low, fmt_high, integer=True)
        hint = name.lower()
        if low <= 0 and high >= 10**6:
            if "time" in hint or hint.endswith("at"):
                # A plausible epoch in ms (or s when it would not fit), recent.
                seconds = (_EPOCH_2025, _EPOCH_2025 + _YEAR)
                ms = (seconds[0] * 1000, seconds[1] * 1000)
                low, high = ms if high >= ms[1] else seconds
            elif "count" in hint or "size" in hint or "number" in hint:
                low, high = max(low, 0), min(high, 100)
            else:
                low, high = max(low, 0), min(high, 10_000)
        step = schema.get("multipleOf")

        def generate(gctx: GenContext) -> Any:
            if isinstance(step, int) and step > 0:
                first = -(-low // step)
                return gctx.rng.randint(first, max(first, high // step)) * step
            return gctx.rng.randint(int(low), int(high))

        return generate

    def _number(self, schema: Mapping[str, Any], name: str) -> Generator:
        low, high = _bounds(schema, -1e6, 1e6, integer=False)
        if low <= 0 and high >= 1e4:
            low, high = max(low, 0.0), min(high, 1000.0)

        def generate(gctx: GenContext) -> Any:
            value = round(gctx.rng.uniform(low, high), 2)
            return min(max(value, low), high)

        return generate


# -- small pieces ---------------------------------------------------------------------
_MISSING = object()


def _echo_value(
    name: str, body: Mapping[str, Any], echo: Mapping[str, Any], accepts: Callable[[Any], bool]
) -> Any:
    for source in (body, echo):
        if name in source and accepts(source[name]):
            return source[name]
    return _MISSING


def _constant(value: Any) -> Generator:
    if isinstance(value, dict | list):
        return lambda gctx: copy.deepcopy(value)
    return lambda gctx: value


def _choice(values: list[Any]) -> Generator:
    return lambda gctx: gctx.rng.choice(values)


def _branch(branches: list[Generator]) -> Generator:
    return lambda gctx: gctx.rng.choice(branches)(gctx)


def _any_value(gctx: GenContext) -> Any:
    return gctx.fake.word()


def _boolean(gctx: GenContext) -> Any:
    return gctx.rng.random() < 0.5


def _word(gctx: GenContext) -> Any:
    return gctx.fake.word()


def _key(gctx: GenContext) -> str:
    return f"{gctx.fake.word()}_{gctx.rng.randint(1, 999)}"


def _pick_type(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        concrete = [t for t in declared if t != "null"]
        return str(concrete[0]) if concrete else "null"
    if isinstance(declared, str):
        return declared
    if "properties" in schema or "additionalProperties" in schema or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "multipleOf")):
        return "number"
    return "string"


def _bounds(
    schema: Mapping[str, Any], low: float, high: float, *, integer: bool
) -> tuple[Any, Any]:
    nudge = 1 if integer else 1e-6
    if "minimum" in schema:
        low = max(low, schema["minimum"])
    if "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
        low = max(low, schema["exclusiveMinimum"] + nudge)
    if "maximum" in schema:
        high = min(high, schema["maximum"])
    if "exclusiveMaximum" in schema and not isinstance(schema["exclusiveMaximum"], bool):
        high = min(high, schema["exclusiveMaximum"] - nudge)
    if integer:
        return math.ceil(low), math.floor(high)
    return low, high


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") and len(name) > 3 else name


def _from_pattern(pattern: str, low: int, high: int) -> Generator:
    compiled = re.compile(pattern)

    def generate(gctx: GenContext) -> Any:
        maker = rstr.Rstr(gctx.rng)
        candidate = ""
        for _ in range(20):
            candidate = maker.xeger(pattern)
            if low <= len(candidate) <= high and compiled.search(candidate):
                return candidate
        return candidate

    return generate


def _fit_length(inner: Generator, low: int, high: int) -> Generator:
    def generate(gctx: GenContext) -> Any:
        value = str(inner(gctx))
        if len(value) > high:
            value = value[:high]
        while len(value) < low:
            value += gctx.rng.choice("abcdefghijklmnopqrstuvwxyz")
        return value

    return generate


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def _uuid(gctx: GenContext) -> str:
    """A version-4 UUID from the run's randomness: what `str(uuid.UUID(int=bits,
    version=4))` gives (tests/test_generation.py checks), at half its cost (~1.7 µs
    against ~3.5, three times in a Huawei answer)."""
    text = "%032x" % (gctx.rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _instant(gctx: GenContext) -> dt.datetime:
    seconds = gctx.rng.randint(_EPOCH_2025, _EPOCH_2025 + _YEAR)
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _date_time(gctx: GenContext) -> str:
    return _instant(gctx).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex(length: int) -> Generator:
    return lambda gctx: "".join(gctx.rng.choice("0123456789abcdef") for _ in range(length))


_FORMATS: dict[str, Generator] = {
    "uuid": _uuid,
    "date-time": _date_time,
    "date": lambda g: _instant(g).strftime("%Y-%m-%d"),
    "time": lambda g: _instant(g).strftime("%H:%M:%SZ"),
    "email": lambda g: g.fake.email(),
    "idn-email": lambda g: g.fake.email(),
    "uri": lambda g: g.fake.url(),
    "url": lambda g: g.fake.url(),
    "iri": lambda g: g.fake.url(),
    "uri-reference": lambda g: g.fake.uri_path(),
    "hostname": lambda g: g.fake.hostname(),
    "idn-hostname": lambda g: g.fake.hostname(),
    "ipv4": lambda g: g.fake.ipv4(),
    "ipv6": lambda g: g.fake.ipv6(),
    "byte": lambda g: base64.b64encode(g.rng.randbytes(12)).decode("ascii"),
    "password": lambda g: g.fake.password(),
}


def _by_name(name: str) -> Generator:
    """A realistic value for a free-form string, chosen by what its name says."""
    key = name.lower().replace("_", "").replace("-", "")
    rules: list[tuple[bool, Generator]] = [
        (key.endswith("email"), lambda g: g.fake.email()),
        (key.endswith(("url", "uri", "link", "webhook")), lambda g: g.fake.url()),
        (
            key in ("user", "username", "login") or key.endswith("username"),
            lambda g: g.fake.user_name(),
        ),
        (key in ("fullname", "displayname", "personname"), lambda g: g.fake.name()),
        (
            key.endswith(("uuid", "locator")) or key in ("id", "requestid") or key.endswith("id"),
            _uuid,
        ),
        (
            key.endswith(("timestamp", "time", "date")) or (key.endswith("at") and len(key) > 4),
            _date_time,
        ),
        (key.endswith(("sha", "checksum", "hash")), _hex(40)),
        (key.endswith("token"), _hex(32)),
        (
            key.endswith("version"),
            lambda g: f"{g.rng.randint(0, 9)}.{g.rng.randint(0, 20)}.{g.rng.randint(0, 50)}",
        ),
        (key.endswith("currency"), lambda g: g.fake.currency_code()),
        (
            key.endswith(("message", "description", "content", "comment", "summary", "detail")),
            lambda g: g.fake.sentence(),
        ),
        (key.endswith("icon"), lambda g: f":{g.fake.word()}:"),
        (key.endswith("repo"), lambda g: f"{g.fake.user_name()}/{g.fake.word()}"),
        (
            key.endswith("name") or key.endswith(("group", "project", "environment", "branch")),
            lambda g: f"{g.fake.word()}-{g.fake.word()}",
        ),
    ]
    for matches, generator in rules:
        if matches:
            return generator
    return _word
