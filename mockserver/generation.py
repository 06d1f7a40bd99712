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
"""How many nested objects/arrays deep optional content is still produced; past it only
the shortest valid shape is (required properties, `minItems` items, `null` or a scalar
branch where one is allowed)."""
HARD_DEPTH = MAX_DEPTH + 24
"""Past this depth a branch that still nests is abandoned for another (`_TooDeep`)."""

SAFE_INTEGER = 2**53 - 1
"""The largest integer a JavaScript client holds exactly: generated integers stay within
±SAFE_INTEGER unless the schema demands more."""
SPAN = 10_000
"""The width of the range an integer is drawn from when its schema leaves it open."""
NUMBER_SPAN = 1000.0
WIDE = 10**6
"""A range wider than this is narrowed to a plausible one."""
DEFAULT_MAX_ITEMS = 3
_EPOCH_2025 = 1735689600  # 2025-01-01T00:00:00Z
_YEAR = 365 * 24 * 3600
_BRANCH_TRIES = 4
RETRY_BUDGET = 64
_LEAST_TRIES = 24
"""Tries of a checked oneOf/anyOf at the least: a branch whose values always match
another too (an integer beside a number with `multipleOf: 0.5`) takes half of them, and
the other's values overlap by chance (3.0 is an integer): 12 gave an array of five such
items a value matching two branches 5% of the time."""


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
    retries: int = 0
    """oneOf/anyOf values made again so far (a value that matched no branch, or two):
    past `RETRY_BUDGET` each keeps its first value, so that nested unions (OpenAI's
    response items: a union inside a union inside an array) cost a bounded run, not a
    product of their tries."""

    @property
    def fake(self) -> Faker:
        """The Faker, seeded with this run's seed the first time it is asked for: most
        bodies use none, and seeding one costs ~17 µs (a tenth of a small request)."""
        if not self.faker_seeded:
            self.faker.seed_instance(self.seed)
            self.faker_seeded = True
        return self.faker


Generator = Callable[[GenContext], Any]


class _TooDeep(Exception):
    """A value would nest deeper than HARD_DEPTH: the branch being tried is given up."""


def compile_schema(schema: Any, ctx: SchemaContext, *, name: str = "") -> Generator:
    """Compile `schema` (a node of `ctx`'s document) into a generator, once.

    One compiler per document: a `$ref` is compiled once however many responses use it
    (a spec of a thousand operations refers to the same few hundred components).
    The generator never raises: a schema whose every valid value nests deeper than
    HARD_DEPTH (a required recursive property with no way out) gives None.
    """
    compiler = _COMPILERS.get(ctx)
    if compiler is None:
        compiler = _COMPILERS[ctx] = _Compiler(ctx)
    inner = compiler.compile(schema, name)

    def generate(gctx: GenContext) -> Any:
        try:
            return inner(gctx)
        except _TooDeep:
            return None

    return generate


def make_context(
    seed: int, fake: Faker, *, echo: Mapping[str, Any] | None = None, body: Any = None
) -> GenContext:
    """A context whose randomness is entirely determined by `seed`."""
    return GenContext(rng=random.Random(seed), faker=fake, seed=seed, echo=echo or {}, body=body)


class _Lazy:
    """A generator filled in after its target is compiled: makes recursive schemas work."""

    __slots__ = ("target",)

    def __init__(self) -> None:
        self.target: Generator | None = None

    def __call__(self, gctx: GenContext) -> Any:
        assert self.target is not None
        return self.target(gctx)


def _refuse(value: Any) -> bool:
    return False


_COMPILERS: weakref.WeakKeyDictionary[SchemaContext, _Compiler] = weakref.WeakKeyDictionary()


class _Compiler:
    """Compiles the schemas of one document; `refs` is shared by all of them."""

    def __init__(self, ctx: SchemaContext) -> None:
        self.ctx = ctx
        # Every schema node compiled, by identity (and the name it is generated for):
        # a node met again while it is being compiled is a recursion, answered by a
        # `_Lazy`. The node is kept beside its generator so that its id stays its own.
        self.done: dict[tuple[int, str], tuple[Any, Generator]] = {}
        self.ref_of: dict[int, str] = {}
        self.wrongs: dict[int, tuple[Any, Any]] = {}

    def accepts(self, schema: Any) -> Callable[[Any], bool]:
        """Whether a value fits `schema` where the mock answers it (`SchemaContext.judge`,
        built now). A schema jsonschema-rs cannot compile accepts nothing (not echoed)."""
        try:
            return self.ctx.judge(schema)
        except ValueError:
            return _refuse

    # -- dispatch ---------------------------------------------------------------
    def compile(self, schema: Any, name: str) -> Generator:
        if schema is True or schema is None or schema == {}:
            return _any_value
        if schema is False:
            return _constant(None)
        if not isinstance(schema, Mapping):
            return _any_value
        key = (id(schema), name)
        known = self.done.get(key)
        if known is not None:
            return known[1]
        lazy = _Lazy()
        self.done[key] = (schema, lazy)
        generator = self._compile(schema, name)
        lazy.target = generator
        self.done[key] = (schema, generator)
        return generator

    def _compile(self, original: Mapping[str, Any], name: str) -> Generator:
        if "$ref" in original and len(original) == 1:
            return self._ref(original["$ref"], name)
        schema = self._inline(original)
        if "const" in schema:
            return _constant(schema["const"])
        authored = self._authored(schema, name)
        if authored:
            return _choice(authored)
        if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
            return _choice(list(schema["enum"]))
        if "allOf" in schema:
            merged = self._merge_all_of(schema)
            if "allOf" in merged:  # a cycle of allOfs: what was merged so far
                merged = {k: v for k, v in merged.items() if k != "allOf"}
            self.ref_of.setdefault(id(merged), self.ref_of.get(id(original), ""))
            return self._tagged(self.compile(merged, name), merged, original)
        for keyword in ("oneOf", "anyOf"):
            if isinstance(schema.get(keyword), list) and schema[keyword]:
                return self._branches(schema, keyword, name)
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
        generator = builders.get(kind, self._string)(schema, name)
        declared = schema.get("type")
        if isinstance(declared, list) and "null" in declared and kind != "null":
            return _nullable(generator)
        return generator

    def _ref(self, ref: str, name: str) -> Generator:
        target = self.ctx.pointer(ref)
        if isinstance(target, Mapping):
            self.ref_of.setdefault(id(target), ref)
        return self.compile(target, name)

    def _inline(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Merge a `$ref` that stands beside other keywords into them (3.1 allows it)."""
        if "$ref" not in schema:
            return schema
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return self._merge([self.ctx.resolve({"$ref": schema["$ref"]}), rest])

    def _merge_all_of(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """One schema from `schema` and its `allOf` parts, nested allOfs included; a part
        met twice (a schema that includes itself) is merged once."""
        merged: dict[str, Any] = {}
        seen: set[int] = set()
        pending: list[Any] = [schema]
        while pending:
            node = pending.pop(0)
            node = self.ctx.resolve(node) if isinstance(node, Mapping) else node
            if not isinstance(node, Mapping) or id(node) in seen:
                continue
            seen.add(id(node))
            node = self._inline(node)
            parts = node.get("allOf")
            merged = self._merge([merged, {k: v for k, v in node.items() if k != "allOf"}])
            if isinstance(parts, list):
                pending[:0] = parts
        return merged

    @staticmethod
    def _merge(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in parts:
            for key, value in part.items():
                if key == "properties" and isinstance(value, Mapping):
                    # A property two parts both describe must satisfy both.
                    props = dict(merged.get("properties", {}))
                    for prop, prop_schema in value.items():
                        known = props.get(prop)
                        both = known is not None and known is not prop_schema
                        props[prop] = {"allOf": [known, prop_schema]} if both else prop_schema
                    merged["properties"] = props
                elif key == "type" and "type" in merged and merged["type"] != value:
                    merged["type"] = _common_type(merged["type"], value)
                elif key == "required" and isinstance(value, list):
                    merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
                elif key in ("minLength", "minItems", "minimum", "minProperties"):
                    merged[key] = max(merged.get(key, value), value)
                elif key in ("maxLength", "maxItems", "maximum", "maxProperties"):
                    merged[key] = min(merged.get(key, value), value)
                else:
                    merged[key] = value
        return merged

    def _authored(self, schema: Mapping[str, Any], name: str) -> list[Any]:
        """The values the author wrote (`examples`, `example`, `default`) that are valid
        against the schema: generation picks among them before inventing any. A property
        named as an identifier takes only its `default`: its examples show a shape, and
        two resources of one answer must not share an id."""
        candidates: list[Any] = []
        examples = schema.get("examples")
        keywords = ("default",) if _is_identifier(name) else ("example", "default")
        if isinstance(examples, list) and "example" in keywords:
            candidates.extend(examples)
        for keyword in keywords:
            if keyword in schema:
                candidates.append(schema[keyword])
        if not candidates:
            return []
        check = self.ctx.judge(schema, now=True)  # an unusable schema takes none
        return [value for value in candidates if _is_json(value) and check(value)]

    def _check(self, schema: Any) -> Callable[[Any], bool]:
        try:
            return self.ctx.judge(schema)
        except (ValueError, TypeError):
            return lambda value: True

    def _tagged(
        self, generator: Generator, merged: Mapping[str, Any], original: Mapping[str, Any]
    ) -> Generator:
        """A schema that inherits a `discriminator` through allOf (Cat: allOf [Pet, ...])
        carries the discriminator value that names it."""
        discriminator = merged.get("discriminator")
        ref = self.ref_of.get(id(original), "")
        if not isinstance(discriminator, Mapping) or "discriminator" in original or not ref:
            return generator
        prop = discriminator.get("propertyName")
        tag = _tag_for(ref, discriminator)
        if not isinstance(prop, str) or tag is None:
            return generator
        if not self._takes(merged, prop, tag):
            return generator
        return _with_tag(generator, prop, tag)

    def _branches(self, schema: Mapping[str, Any], keyword: str, name: str) -> Generator:
        """`oneOf` / `anyOf`: a branch drawn at random, each merged with the keywords
        beside it. For `oneOf` the value is checked to match exactly one branch (another
        try, then another branch, when not); a `discriminator` sets its property to the
        value that names the branch (its `mapping` key, else the schema's name)."""
        base = {k: v for k, v in schema.items() if k != keyword}
        raw = list(schema[keyword])
        discriminator = schema.get("discriminator")
        prop = discriminator.get("propertyName") if isinstance(discriminator, Mapping) else None
        branches: list[_Branch] = []
        merged_parts: list[Any] = []
        for part in raw:
            resolved = self.ctx.resolve(part) if isinstance(part, Mapping) else part
            merged = self._merge([base, self._inline(resolved)]) if base else resolved
            ref = part.get("$ref") if isinstance(part, Mapping) else None
            if base and isinstance(ref, str) and isinstance(merged, Mapping):
                self.ref_of.setdefault(id(merged), ref)
            generator = self.compile(merged, name)
            tag = (
                _tag_for(ref, discriminator)
                if isinstance(prop, str)
                and isinstance(ref, str)
                and isinstance(discriminator, Mapping)
                else None
            )
            if tag is not None and isinstance(prop, str) and self._takes(merged, prop, tag):
                generator = _with_tag(generator, prop, tag)
            branches.append(_Branch(generator, _rank(merged)))
            merged_parts.append(merged)
        checks: list[Callable[[Any], bool]] | None = None
        if len(raw) > 1:
            try:
                # A value must fit the keywords beside the union too (an allOf merged a
                # `type: object` with `anyOf: [{}, {type: null}]`: null fits a branch
                # alone, not the schema).
                beside = {k: v for k, v in base.items() if k not in _NOT_CONSTRAINING}
                checks = [
                    self.ctx.judge({"allOf": [beside, part]} if beside else part) for part in raw
                ]
            except (ValueError, TypeError):
                checks = None
            if checks is not None and keyword == "oneOf":
                for index in range(len(merged_parts)):
                    branches[index] = _Branch(
                        branches[index].generate,
                        branches[index].rank,
                        self._apart(index, merged_parts),
                    )
        return _branch(branches, checks, exclusive=keyword == "oneOf")

    def _takes(self, schema: Any, prop: str, tag: str) -> bool:
        """Whether `schema`'s own property `prop` takes the discriminator value `tag`: a
        schema name is the implicit value, but OpenAI's branches say `type: {enum:
        [function]}` under a discriminator with no mapping, and the value the branch
        takes is the one answered (unknown properties take anything; an unusable
        schema, nothing)."""
        sub = _properties(schema).get(prop)
        return not isinstance(sub, Mapping) or self.ctx.judge(sub, now=True)(tag)

    def _apart(self, index: int, parts: list[Any]) -> tuple[tuple[str, Any], ...]:
        """For branch `index` of a oneOf: (property, value) pairs that set apart an object
        matching other branches too: a property only another branch defines, with a value
        that branch's schema for it refuses (open objects that require nothing overlap)."""
        own = _properties(parts[index])
        pairs: list[tuple[str, Any]] = []
        for other_index, other in enumerate(parts):
            if other_index == index:
                continue
            for prop, sub in _properties(other).items():
                if prop in own or not isinstance(sub, Mapping):
                    continue
                wrong = self._wrong(sub)
                if wrong is not _MISSING:
                    pairs.append((prop, wrong))
        return tuple(pairs)

    def _wrong(self, schema: Mapping[str, Any]) -> Any:
        """The first of `_WRONG` that `schema` refuses (_MISSING when it takes them all),
        found once per schema node: a oneOf of n branches asks about each branch's
        properties n - 1 times, and a union of OpenAI's has ~50 branches."""
        known = self.wrongs.get(id(schema))
        if known is not None and known[0] is schema:
            return known[1]
        check = self.ctx.judge(schema, now=True)
        wrong = next((w for w in _WRONG if not check(w)), _MISSING)
        self.wrongs[id(schema)] = (schema, wrong)
        return wrong

    # -- structures -------------------------------------------------------------
    def _object(self, schema: Mapping[str, Any], name: str) -> Generator:
        properties = schema.get("properties", {})
        if not isinstance(properties, Mapping):
            properties = {}
        required = set(schema.get("required", []) or [])
        fields: list[tuple[str, bool, Generator, Callable[[Any], bool]]] = []
        for prop_name, prop_schema in properties.items():
            if _annotated(self.ctx, prop_schema, "writeOnly"):
                continue  # never in a response, even when required (it is the request's)
            gen = self.compile(prop_schema, prop_name)
            if isinstance(prop_schema, Mapping) and "allOf" in prop_schema:
                # Parts merged into one may still disagree: what they make is checked.
                gen = _checked(gen, self._check(prop_schema))
            # Whether a value the client sent fits this property: only yes or no is
            # needed, so jsonschema-rs (the request-side validator) answers, ~1-2 µs
            # where the `jsonschema` package took ~10-15 µs per echoed field.
            accepts = self.accepts(prop_schema)
            fields.append((prop_name, prop_name in required, gen, accepts))
        # Required names with no declared property still need a value.
        for missing in sorted(str(r) for r in required - set(properties)):
            fields.append((missing, True, _word, lambda value: True))
        extra = schema.get("additionalProperties")
        extra_gen: Generator | None = None
        min_props = int(schema.get("minProperties", 0))
        max_props = int(schema.get("maxProperties", max(min_props, 3)))
        # A free-form map gets a few entries; any object whose properties fall short of
        # minProperties gets entries until it has them (absent additionalProperties
        # allows any, `false` none).
        if extra is not False and (
            (not properties and extra is not None) or min_props > len(fields)
        ):
            extra_gen = self.compile(extra if isinstance(extra, Mapping) else {}, "")
        free_form = not properties

        def generate(gctx: GenContext) -> Any:
            out: dict[str, Any] = {}
            body = gctx.body
            # Past MAX_DEPTH the request body is no longer followed: what is answered
            # there is the shortest shape, however deep the client's body goes.
            source = body if isinstance(body, Mapping) and gctx.depth < MAX_DEPTH else {}
            gctx.depth += 1
            try:
                if gctx.depth > HARD_DEPTH:
                    raise _TooDeep
                lean = gctx.depth > MAX_DEPTH
                for prop_name, is_required, gen, accepts in fields:
                    # What the client sent is echoed even where the property is optional.
                    echoed = _echo_value(prop_name, source, gctx.echo, accepts)
                    if echoed is not _MISSING:
                        out[prop_name] = echoed
                        continue
                    # Optional properties are always shown (the full documented shape),
                    # except past MAX_DEPTH, which is what bounds recursive schemas.
                    if not is_required and lean:
                        continue
                    # Descend into the matching part of the request body, if any.
                    gctx.body = source.get(prop_name)
                    try:
                        value = gen(gctx)
                    finally:
                        gctx.body = source
                    if value is _MISSING:  # no valid value was made for it
                        if not is_required:
                            continue
                        value = None
                    out[prop_name] = value
                if extra_gen is not None:
                    low = min(min_props, max_props)
                    count = (
                        gctx.rng.randint(max(low, 1), max(low, 1, max_props))
                        if free_form and not lean
                        else low
                    )
                    attempts = 0
                    while len(out) < count and attempts < count * 10:
                        attempts += 1
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
            gctx.depth += 1
            try:
                if gctx.depth > HARD_DEPTH:
                    raise _TooDeep
                if isinstance(body, list) and low <= len(body) <= high and gctx.depth <= MAX_DEPTH:
                    # One item per request item: a batch answered item by item.
                    out = []
                    for item in body:
                        gctx.body = item
                        out.append(items(gctx))
                    if not unique or _distinct(out):
                        return out
                lean = gctx.depth > MAX_DEPTH
                floor = low if lean else max(low, 1 if high >= 1 else 0)
                count = gctx.rng.randint(floor, max(floor, min(high, floor + 2)))
                gctx.body = None
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
        limit_low, limit_high = (
            INT32 if schema.get("format") == "int32" else (-SAFE_INTEGER, SAFE_INTEGER)
        )
        if schema.get("format") == "int64":
            limit_low, limit_high = max(limit_low, INT64[0]), min(limit_high, INT64[1])
        given_low, given_high = _bounds(schema, integer=True)
        low = given_low if given_low is not None else limit_low
        high = given_high if given_high is not None else limit_high
        if given_low is None and high < low:
            low = high - SPAN  # a maximum below -SAFE_INTEGER: the schema demands more
        if given_high is None and high < low:
            high = low + SPAN
        hint = name.lower()
        span = 100 if ("count" in hint or "size" in hint or "number" in hint) else SPAN
        seconds = (_EPOCH_2025, _EPOCH_2025 + _YEAR)
        ms = (seconds[0] * 1000, seconds[1] * 1000)
        pick_low, pick_high = low, high
        if high - low > WIDE:
            if ("time" in hint or hint.endswith("at")) and low <= seconds[0]:
                # A plausible epoch in ms (or s when it would not fit), recent.
                window = ms if high >= ms[1] else seconds
                if window[1] <= high:
                    pick_low, pick_high = window
                else:
                    pick_low, pick_high = _narrow(low, high, span)
            else:
                pick_low, pick_high = _narrow(low, high, span)
        step = schema.get("multipleOf")
        if isinstance(step, bool) or not isinstance(step, int) or step <= 0:
            step = None
        if step is not None and -(-pick_low // step) * step > pick_high:
            pick_low, pick_high = low, high  # no multiple in the plausible range

        def generate(gctx: GenContext) -> Any:
            if step is not None:
                first = -(-pick_low // step)
                return gctx.rng.randint(first, max(first, pick_high // step)) * step
            return gctx.rng.randint(int(pick_low), int(pick_high))

        return generate

    def _number(self, schema: Mapping[str, Any], name: str) -> Generator:
        given_low, given_high = _bounds(schema, integer=False)
        low = float(given_low) if given_low is not None else -1e15
        high = float(given_high) if given_high is not None else 1e15
        if given_low is None and high < low:
            low = high - NUMBER_SPAN
        if given_high is None and high < low:
            high = low + NUMBER_SPAN
        if high - low > 1e4:
            low, high = (float(v) for v in _narrow(low, high, NUMBER_SPAN))
        step = schema.get("multipleOf")
        if isinstance(step, bool) or not isinstance(step, int | float) or step <= 0:
            step = None
        digits = _decimals(step) if step is not None else 2

        def generate(gctx: GenContext) -> Any:
            if step is not None:
                first, last = math.ceil(low / step), math.floor(high / step)
                for _ in range(8):
                    value = round(gctx.rng.randint(first, max(first, last)) * step, digits)
                    if _multiple(value, step) and low <= value <= high:
                        return value
                return first * step
            value = round(gctx.rng.uniform(low, high), 2)
            return min(max(value, low), high)

        return generate


@dataclass(frozen=True, slots=True)
class _Branch:
    generate: Generator
    rank: int
    """How short the branch's values are (null < scalar < array < object); past
    MAX_DEPTH the shortest branch is tried first, which ends recursive shapes."""
    apart: tuple[tuple[str, Any], ...] = ()
    """oneOf: entries that may make an object this branch made match it alone."""


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


def _branch(
    branches: list[_Branch], checks: list[Callable[[Any], bool]] | None, exclusive: bool
) -> Generator:
    """A value from one branch, tried in an order drawn from the run's randomness (the
    shortest first past MAX_DEPTH). A value must pass exactly one of `checks` (oneOf,
    `exclusive`) or at least one (anyOf); if no try gives one, or the run has made
    `RETRY_BUDGET` values again already, the first value made is kept."""
    by_rank = sorted(range(len(branches)), key=lambda i: branches[i].rank)

    def generate(gctx: GenContext) -> Any:
        if gctx.depth >= MAX_DEPTH:
            order = by_rank
        else:
            start = gctx.rng.randrange(len(branches))
            order = [*range(start, len(branches)), *range(start)]
        fallback: Any = _MISSING
        live = list(order)
        tries = max(_BRANCH_TRIES * len(order), _LEAST_TRIES) if checks is not None else len(order)
        for attempt in range(tries):
            if not live:
                break
            index = live[attempt % len(live)] if checks is not None else order[attempt]
            try:
                value = branches[index].generate(gctx)
            except _TooDeep:
                live.remove(index)
                continue
            if checks is None or (
                sum(1 for check in checks if check(value)) == 1
                if exclusive
                else any(check(value) for check in checks)
            ):
                return value
            if exclusive and checks is not None:
                apart = _set_apart(value, checks, index, branches[index].apart)
                if apart is not _MISSING:
                    return apart
            if fallback is _MISSING:
                fallback = value
            if gctx.retries >= RETRY_BUDGET:
                break
            gctx.retries += 1
        if fallback is _MISSING:
            raise _TooDeep
        return fallback

    return generate


_NOT_CONSTRAINING = frozenset(
    {"description", "title", "summary", "example", "examples", "default", "deprecated",
     "externalDocs", "xml", "$comment", "readOnly", "writeOnly", "discriminator"}
)  # fmt: skip
"""Keywords beside a oneOf/anyOf that no value can fail."""

_WRONG: tuple[Any, ...] = (None, False, 0, "", [], {})
"""Values tried, in order, as one a property's schema refuses (see `_apart`)."""


def _properties(schema: Any) -> Mapping[str, Any]:
    found = schema.get("properties") if isinstance(schema, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _set_apart(
    value: Any, checks: list[Callable[[Any], bool]], index: int, apart: tuple[tuple[str, Any], ...]
) -> Any:
    """`value` (an object branch `index` made) with entries of `apart` added, one at a time
    while it still matches its branch, until it matches that branch alone; else _MISSING."""
    if not isinstance(value, dict) or not apart or not checks[index](value):
        return _MISSING
    candidate = value
    for prop, wrong in apart:
        if prop in candidate:
            continue
        trial = {**candidate, prop: wrong}
        if not checks[index](trial):
            continue
        candidate = trial
        if sum(1 for check in checks if check(candidate)) == 1:
            return candidate
    return _MISSING


def _checked(generator: Generator, check: Callable[[Any], bool]) -> Generator:
    """The generated value when it passes `check`, else `_MISSING` (two tries)."""

    def generate(gctx: GenContext) -> Any:
        for _ in range(2):
            value = generator(gctx)
            if check(value):
                return value
        return _MISSING

    return generate


def _common_type(first: Any, second: Any) -> Any:
    """The `type` two merged parts allow (`integer` where one says `number`)."""
    one = set(first) if isinstance(first, list) else {first}
    two = set(second) if isinstance(second, list) else {second}
    for wide, narrow in ((one, two), (two, one)):
        if "number" in wide and "integer" in narrow:
            wide.add("integer")
    common = sorted(one & two, key=str)
    if not common:
        return second
    return common[0] if len(common) == 1 else common


def _nullable(generator: Generator) -> Generator:
    """`type: [T, "null"]`: a T, or null past MAX_DEPTH (the shortest shape)."""
    return lambda gctx: None if gctx.depth >= MAX_DEPTH else generator(gctx)


def _with_tag(generator: Generator, prop: str, tag: str) -> Generator:
    def generate(gctx: GenContext) -> Any:
        value = generator(gctx)
        if isinstance(value, dict):
            value[prop] = tag
        return value

    return generate


def _tag_for(ref: str, discriminator: Mapping[str, Any]) -> str | None:
    """The discriminator value that names the schema `ref`: its `mapping` key (the mapping
    may name it by ref or by schema name), else the schema's own name."""
    schema_name = ref.rsplit("/", 1)[-1]
    mapping = discriminator.get("mapping")
    if isinstance(mapping, Mapping):
        for key, target in mapping.items():
            if not isinstance(target, str):
                continue
            if target in (ref, schema_name) or target.endswith("/" + schema_name):
                return str(key)
    return schema_name or None


def _rank(schema: Any) -> int:
    if not isinstance(schema, Mapping):
        return 1
    kind = _pick_type(schema)
    declared = schema.get("type")
    if kind == "null" or (isinstance(declared, list) and "null" in declared):
        return 0
    if kind == "array":
        return 2 + int(schema.get("minItems", 0))
    if kind == "object":
        return 10 + len(schema.get("required", []) or [])
    return 1


def _annotated(ctx: SchemaContext, schema: Any, key: str) -> bool:
    node = ctx.resolve(schema) if isinstance(schema, Mapping) else schema
    if not isinstance(node, Mapping):
        return False
    if node.get(key) is True:
        return True
    parts = node.get("allOf")
    return isinstance(parts, list) and any(
        isinstance(p, Mapping) and ctx.resolve(p).get(key) is True for p in parts
    )


def _is_json(value: Any) -> bool:
    """Whether an authored value is plain JSON data (YAML may give dates, sets...)."""
    if value is None or isinstance(value, bool | int | float | str):
        return not (isinstance(value, float) and not math.isfinite(value))
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _is_identifier(name: str) -> bool:
    key = name.lower().replace("_", "").replace("-", "")
    return key.endswith(("id", "uuid", "guid", "locator"))


def _distinct(values: list[Any]) -> bool:
    return all(values[i] not in values[:i] for i in range(len(values)))


def _narrow(low: Any, high: Any, span: Any) -> tuple[Any, Any]:
    """A plausible part of a wide range: from 0 (or the nearest bound to it) `span` wide."""
    if low <= 0 <= high:
        return max(low, 0), min(high, span)
    if low > 0:
        return low, low + span
    return high - span, high


def _decimals(step: float) -> int:
    text = repr(float(step))
    if "e-" in text:
        return int(text.split("e-")[1]) + len(text.split("e")[0].split(".")[-1])
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def _multiple(value: float, step: float) -> bool:
    """multipleOf as the `jsonschema` package checks it for floats."""
    if isinstance(step, float):
        quotient = value / step
        try:
            return int(quotient) == quotient
        except OverflowError:
            return False
    return value % step == 0


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


def _bounds(schema: Mapping[str, Any], *, integer: bool) -> tuple[Any, Any]:
    """The bounds the schema states (None where it states none), exclusive ones made
    inclusive (by 1 for integers, by a small step for numbers)."""
    low: Any = None
    high: Any = None

    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    if number(schema.get("minimum")):
        low = schema["minimum"]
    if number(schema.get("exclusiveMinimum")):
        bound = schema["exclusiveMinimum"]
        nudged = math.floor(bound) + 1 if integer else bound + max(abs(bound) * 1e-9, 1e-6)
        low = nudged if low is None else max(low, nudged)
    if number(schema.get("maximum")):
        high = schema["maximum"]
    if number(schema.get("exclusiveMaximum")):
        bound = schema["exclusiveMaximum"]
        nudged = math.ceil(bound) - 1 if integer else bound - max(abs(bound) * 1e-9, 1e-6)
        high = nudged if high is None else min(high, nudged)
    if integer:
        low = None if low is None else math.ceil(low)
        high = None if high is None else math.floor(high)
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
