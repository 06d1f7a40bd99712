"""The headers a response documents, compiled once and filled for each answer.

`compile_headers` turns a response's `headers` object into `DocumentedHeader`s at
start-up: each holds the author's values (the header's `example`/`examples`, valid
against its schema and sendable), a generator for its schema, and a check. `fill` makes
the values of one answer:

    the author's example (chosen by the seed)  >  for `Location`, the resource the
    answer names (the operation's own item path, the body's id)  >  a value generated
    from the schema (a few names get a usual value first: Retry-After, ETag, dates)

Every value is checked against its schema and is visible ASCII without a comma that
would split it (HTTP's one writer, `wire.py`, refuses control characters); a value that
cannot be made so is left out unless the header is required. The values are a function
of the request's seed (`responder.request_seed`), drawn from a stream of their own, so
adding a header never changes a body.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from faker import Faker

from mockserver.generation import Generator, compile_schema, make_context
from mockserver.schemas import SchemaContext

SKIPPED = frozenset(
    {"content-type", "content-length", "transfer-encoding", "connection", "date", "server"}
)
"""Documented headers the mock does not make: OpenAPI ignores a documented
Content-Type; the others are the HTTP layer's own."""

_TRIES = 6
_HEADER_STREAM = 0x68656164657273  # "headers": header values draw from their own stream
_VISIBLE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")
_EPOCH_2025 = 1735689600


@dataclass(frozen=True, slots=True)
class DocumentedHeader:
    """One header of a documented response, ready to be filled."""

    name: str
    required: bool
    authored: tuple[str, ...]
    """The author's values, already rendered and checked."""
    generate: Generator | None
    check: Callable[[Any], bool]
    explode: bool = False
    usual: tuple[Any, ...] = ()
    """Values tried before generating (Retry-After: 1), when the schema takes them."""
    resource: tuple[str, ...] | None = None
    """For Location: the segments of the item path the answer creates (`/pets/{petId}`),
    when the spec documents one; the last segment is the id's placeholder."""
    absolute: bool = False
    """Location as an absolute URI (its schema says `format: uri`)."""


@dataclass(frozen=True, slots=True)
class HeaderRequest:
    """What filling a header may use from the request and the answer."""

    seed: int
    path: str
    """The path the client asked for (with any base path)."""
    operation_path: str
    """The operation's path template, as documented (`/pets`)."""
    host: str | None
    body: Any


def compile_headers(
    ctx: SchemaContext, raw: Any, *, resource: str | None = None
) -> tuple[DocumentedHeader, ...]:
    """The documented headers of one response; `resource` is the item path template a
    `Location` names (see `item_path`)."""
    if not isinstance(raw, Mapping):
        return ()
    headers = []
    for name, entry in raw.items():
        if not isinstance(name, str) or name.lower() in SKIPPED:
            continue
        header = ctx.resolve(entry)
        if not isinstance(header, Mapping):
            continue
        headers.append(_compile_one(ctx, name, header, resource))
    return tuple(headers)


def _compile_one(
    ctx: SchemaContext, name: str, header: Mapping[str, Any], resource: str | None
) -> DocumentedHeader:
    schema: Any = header.get("schema")
    examples: list[Any] = []
    content = header.get("content")
    if schema is None and isinstance(content, Mapping) and content:
        media = next(iter(content.values()))
        if isinstance(media, Mapping):
            schema = media.get("schema")
            examples.extend(_examples(ctx, media))
    examples.extend(_examples(ctx, header))
    if schema is None:
        schema = {"type": "string"}
    try:
        check = ctx.checker(schema).is_valid
    except (ValueError, TypeError):
        return DocumentedHeader(name, bool(header.get("required")), (), None, lambda v: False)
    explode = bool(header.get("explode", False))
    authored = []
    for value in examples:
        text = render(value, explode)
        if text is not None and check(value):
            authored.append(text)
    resolved = ctx.resolve(schema)
    lowered = name.lower()
    return DocumentedHeader(
        name=name,
        required=bool(header.get("required", False)),
        authored=tuple(dict.fromkeys(authored)),
        generate=compile_schema(schema, ctx, name=name),
        check=check,
        explode=explode,
        usual=_usual(lowered, resolved),
        resource=tuple(resource.split("/")) if resource and lowered == "location" else None,
        absolute=isinstance(resolved, Mapping) and resolved.get("format") in ("uri", "url", "iri"),
    )


def _examples(ctx: SchemaContext, node: Mapping[str, Any]) -> list[Any]:
    found = []
    if "example" in node:
        found.append(node["example"])
    examples = node.get("examples")
    if isinstance(examples, Mapping):
        for entry in examples.values():
            example = ctx.resolve(entry)
            if isinstance(example, Mapping) and "value" in example:
                found.append(example["value"])
    return found


def _usual(name: str, schema: Any) -> tuple[Any, ...]:
    """What such a header usually carries, for the few names where a generated value
    would mislead a client (a Retry-After of hours, an ETag without quotes)."""
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if name == "retry-after":
        return (1, 2) if kind in ("integer", "number") else ("1", "2")
    if kind not in (None, "string") or (isinstance(schema, Mapping) and "format" in schema):
        return ()
    if name == "etag":
        return ('"{hex}"',)
    if name in ("last-modified", "expires"):
        return ("{http-date}",)
    return ()


class ItemIndex:
    """The GET paths of one spec, indexed by shape once (a spec of a thousand operations
    asks `item_path` a thousand times: each answer is then two look-ups)."""

    __slots__ = ("children", "shapes")

    def __init__(self, get_paths: Sequence[str]) -> None:
        self.children: dict[str, str] = {}  # parent's shape -> its first templated child
        self.shapes: set[str] = set()
        for candidate in get_paths:
            parts = candidate.split("/")
            if len(parts) >= 2 and _templated(parts[-1]):
                self.children.setdefault(_shape("/".join(parts[:-1])), candidate)
            self.shapes.add(_shape(candidate))

    def item_path(self, path: str) -> str | None:
        shape = _shape(path)
        child = self.children.get(shape)
        if child is not None:
            return child
        if _templated(path.rstrip("/").split("/")[-1]) and shape in self.shapes:
            return path
        return None


def item_path(path: str, get_paths: Sequence[str] | ItemIndex) -> str | None:
    """The path of the resource an answer to `path` creates or names, among the GET
    paths of its spec: `path` plus one templated segment (`/pets` -> `/pets/{petId}`),
    else `path` itself when it ends with a template and is read with GET. Templates
    are compared by shape, not by parameter name."""
    index = get_paths if isinstance(get_paths, ItemIndex) else ItemIndex(get_paths)
    return index.item_path(path)


def _templated(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _shape(path: str) -> str:
    return "/".join("{}" if _templated(p) else p for p in path.rstrip("/").split("/"))


def fill(
    headers: Sequence[DocumentedHeader], request: HeaderRequest, fake: Faker
) -> tuple[tuple[str, str], ...]:
    """The values of every documented header for one answer (the caller holds the
    Faker's lock)."""
    if not headers:
        return ()
    rng = random.Random(request.seed ^ _HEADER_STREAM)
    out = []
    for header in headers:
        text = _value(header, request, rng, fake)
        if text is not None:
            out.append((header.name, text))
    return tuple(out)


def _value(
    header: DocumentedHeader, request: HeaderRequest, rng: random.Random, fake: Faker
) -> str | None:
    if header.authored:
        return rng.choice(header.authored)
    if header.resource is not None:
        location = _location(header, request)
        if location is not None:
            return location
    for usual in header.usual:
        value = _expand(usual, rng) if isinstance(usual, str) else usual
        text = render(value, header.explode)
        if text is not None and header.check(value):
            return text
    if header.generate is None:
        return None
    gctx = make_context(rng.getrandbits(64), fake)
    best: str | None = None
    for _ in range(_TRIES):
        value = header.generate(gctx)
        text = render(value, header.explode)
        if text is not None and header.check(value):
            return text
        if best is None and value is not None:
            best = _visible(value)
    return best if header.required else None


def _expand(template: str, rng: random.Random) -> str:
    if template == "{http-date}":
        return email.utils.formatdate(_EPOCH_2025 + rng.randrange(365 * 86400), usegmt=True)
    return template.replace("{hex}", f"{rng.getrandbits(64):016x}")


def _location(header: DocumentedHeader, request: HeaderRequest) -> str | None:
    """`Location` for an answer that names a resource: the request's own path up to the
    operation's (the base path, the path parameters the client sent), then the item
    segment, filled with the body's id."""
    assert header.resource is not None
    asked = request.path.rstrip("/").split("/")
    own = request.operation_path.rstrip("/").split("/")
    if len(asked) < len(own):
        return None
    if len(header.resource) == len(own):  # the path names the resource itself
        path = "/".join(asked)
    else:
        ident = _identifier(request.body, header.resource[-1][1:-1])
        if ident is None:  # no body says which: an id drawn from the seed
            ident = str(random.Random(request.seed).randint(1, 10_000))
        path = "/".join([*asked, quote(ident, safe="-._~!$&'()*+;=:@")])
    value = f"http://{request.host or 'localhost'}{path}" if header.absolute else path
    text = render(value, False)
    return text if text is not None and header.check(value) else None


def _identifier(body: Any, param: str) -> str | None:
    """The id the body gives the resource: the property named like the path parameter,
    else `id`, else one ending in `id`; looked for in the body and one level down."""
    for node in (body, *(body.values() if isinstance(body, Mapping) else ())):
        if not isinstance(node, Mapping):
            continue
        keys = {str(k).lower().replace("_", "").replace("-", ""): k for k in node}
        wanted = param.lower().replace("_", "").replace("-", "")
        for candidate in (wanted, "id", *(k for k in keys if k.endswith("id"))):
            key = keys.get(candidate)
            value = node.get(key) if key is not None else None
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


def render(value: Any, explode: bool) -> str | None:
    """A value as OpenAPI's `simple` style writes it in a header; None when it cannot be
    sent as visible ASCII or would not read back as the same value."""
    if value is None:
        return None
    if isinstance(value, list):
        items = [_scalar(v) for v in value]
        if not items or any(i is None or "," in i for i in items):
            return None
        text = ",".join(i for i in items if i is not None)
    elif isinstance(value, dict):
        pairs = [(str(k), _scalar(v)) for k, v in value.items()]
        if not pairs or any(v is None or "," in k + v or "=" in k + v for k, v in pairs):
            return None
        join = "=" if explode else ","
        text = ",".join(f"{k}{join}{v}" for k, v in pairs)
    else:
        scalar = _scalar(value)
        if scalar is None:
            return None
        text = scalar
    return text if _VISIBLE.fullmatch(text) else None


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, dict | list):
        return None
    return None


def _visible(value: Any) -> str | None:
    """A required header's last resort: the value's text with what HTTP cannot carry
    replaced (may no longer match a `pattern`, never refused by the writer)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    cleaned = "".join(c if " " <= c <= "~" else "-" for c in text).strip()
    return cleaned or "-"
