"""Load OpenAPI documents and compile every operation, once, into frozen records.

Nothing after this module sees raw OpenAPI: routing, validation and responding work
on `Api` / `Operation` / `Param` / `Response` / `MediaType` records, whose
validators and generators were built here, at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mockserver.documents import SpecError as SpecError  # re-exported: callers import it here
from mockserver.documents import check_document
from mockserver.documents import find_spec_files as find_spec_files
from mockserver.documents import read_document as read_document
from mockserver.generation import Generator, compile_schema
from mockserver.schemas import SchemaContext

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NO_TEMPLATE: Any = object()
"""Marks a media type with no `x-error-template`."""


@dataclass(frozen=True, slots=True)
class Param:
    """One path, query, header or cookie parameter, with its decoder's facts and validator."""

    name: str
    location: str
    required: bool
    kind: str
    item_kind: str
    style: str
    explode: bool
    schema: Any
    validator: Any


@dataclass(frozen=True, slots=True)
class MediaType:
    """One documented response media type: schema, validator, generator, examples, template."""

    name: str
    schema: Any
    validator: Any
    generator: Generator | None
    examples: Mapping[str, Any]
    error_template: Any = NO_TEMPLATE
    prefer_generated: bool = False

    @property
    def is_json(self) -> bool:
        return is_json_media_type(self.name)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    description: str
    media: tuple[MediaType, ...]
    headers: Mapping[str, Any] = field(default_factory=dict)

    @property
    def default_media(self) -> MediaType | None:
        return self.media[0] if self.media else None


@dataclass(frozen=True, slots=True)
class BodyMedia:
    name: str
    schema: Any
    validator: Any

    @property
    def is_json(self) -> bool:
        return is_json_media_type(self.name)


@dataclass(frozen=True, slots=True)
class RequestBody:
    required: bool
    media: tuple[BodyMedia, ...]


@dataclass(frozen=True, slots=True)
class Credential:
    """One security scheme of a requirement: where the credential must be sent."""

    scheme: str
    kind: str
    location: str
    name: str


@dataclass(frozen=True, slots=True)
class Operation:
    api: str
    operation_id: str
    method: str
    path: str
    summary: str
    params: tuple[Param, ...]
    body: RequestBody | None
    responses: Mapping[int, Response]
    security: tuple[tuple[Credential, ...], ...]
    source: str

    @property
    def statuses(self) -> tuple[int, ...]:
        return tuple(sorted(self.responses))

    @property
    def success_status(self) -> int:
        """The lowest documented 2xx, or the lowest documented status of all."""
        ok = [s for s in self.statuses if 200 <= s < 300]
        return ok[0] if ok else self.statuses[0]

    def first_documented(self, *candidates: int) -> int | None:
        for status in candidates:
            if status in self.responses:
                return status
        return None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path} ({self.api}.{self.operation_id})"


@dataclass(frozen=True, slots=True)
class Api:
    api_id: str
    title: str
    version: str
    source: str
    operations: tuple[Operation, ...]


def is_json_media_type(name: str) -> bool:
    main = name.split(";", 1)[0].strip().lower()
    return (
        main == "application/json" or main.endswith("+json") or main.startswith("application/vnd.")
    )


# -- loading ----------------------------------------------------------------------------
def load_api(path: Path, check: bool = True) -> Api:
    """Read, check (unless `check` is false: it was, or is being, done elsewhere) and
    compile one document."""
    document = read_document(path)
    if check:
        check_document(path, document)
    api_id = path.stem
    ctx = SchemaContext(api_id, document)
    try:
        operations = tuple(_compile_operations(api_id, path, document, ctx))
    except SpecError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise SpecError(path, "", f"cannot compile: {exc}") from None
    info = document.get("info", {})
    return Api(
        api_id, str(info.get("title", api_id)), str(info.get("version", "")), str(path), operations
    )


def load_apis(paths: Iterable[Path], check: bool = True) -> list[Api]:
    """Load every spec; refuse two APIs that claim the same id or method and path."""
    apis: list[Api] = []
    seen_ids: dict[str, str] = {}
    claimed: dict[tuple[str, str], Operation] = {}
    for path in find_spec_files(paths):
        api = load_api(path, check)
        if api.api_id in seen_ids:
            raise SpecError(
                path, "", f"API id {api.api_id!r} is already loaded from {seen_ids[api.api_id]}"
            )
        seen_ids[api.api_id] = api.source
        for op in api.operations:
            key = (op.method, _route_shape(op.path))
            if key in claimed:
                other = claimed[key]
                raise SpecError(
                    path,
                    f"paths.{op.path}.{op.method.lower()}",
                    f"{op.method} {op.path} is also claimed by {other.source} "
                    f"({other.operation_id}); two specs cannot serve the same "
                    "method and path",
                )
            claimed[key] = op
        apis.append(api)
    return apis


def _route_shape(path: str) -> str:
    """`/a/{x}/b` and `/a/{y}/b` are the same route."""
    parts = path.split("/")
    return "/".join("{}" if p.startswith("{") and p.endswith("}") else p for p in parts)


# -- compiling --------------------------------------------------------------------------
def _compile_operations(
    api_id: str, path: Path, document: Mapping[str, Any], ctx: SchemaContext
) -> Iterable[Operation]:
    schemes = document.get("components", {}).get("securitySchemes", {})
    default_security = document.get("security", [])
    for route, raw_item in (document.get("paths") or {}).items():
        item = ctx.resolve(raw_item)
        shared = item.get("parameters", [])
        for method in HTTP_METHODS:
            if method not in item:
                continue
            raw = item[method]
            place = f"paths.{route}.{method}"
            op_id = raw.get("operationId") or f"{method}{_route_shape(route)}"
            yield Operation(
                api=api_id,
                operation_id=op_id,
                method=method.upper(),
                path=route,
                summary=str(raw.get("summary", "")),
                params=_compile_params(ctx, [*shared, *raw.get("parameters", [])]),
                body=_compile_body(ctx, raw.get("requestBody")),
                responses=_compile_responses(ctx, path, place, raw.get("responses", {})),
                security=_compile_security(
                    path, place, schemes, raw.get("security", default_security)
                ),
                source=str(path),
            )


def _compile_params(ctx: SchemaContext, raw_params: list[Any]) -> tuple[Param, ...]:
    by_key: dict[tuple[str, str], Param] = {}
    for raw in raw_params:
        param = ctx.resolve(raw)
        location = param["in"]
        name = param["name"]
        if location == "header" and name.lower() in ("accept", "content-type", "authorization"):
            continue  # OpenAPI: these header parameters are ignored
        schema = param.get("schema", {})
        if "content" in param:
            schema = next(iter(param["content"].values())).get("schema", {})
        resolved = ctx.resolve(schema)
        kind = _kind(resolved)
        item_kind = _kind(ctx.resolve(resolved.get("items", {}))) if kind == "array" else kind
        style = param.get("style", "form" if location in ("query", "cookie") else "simple")
        by_key[(location, name.lower() if location == "header" else name)] = Param(
            name=name,
            location=location,
            required=bool(param.get("required", location == "path")),
            kind=kind,
            item_kind=item_kind,
            style=style,
            explode=bool(param.get("explode", style == "form")),
            schema=schema,
            validator=ctx.validator(schema, for_request=True),
        )
    return tuple(by_key.values())


def _kind(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return "string"
    declared = schema.get("type")
    if isinstance(declared, list):
        concrete = [t for t in declared if t != "null"]
        declared = concrete[0] if len(concrete) == 1 else None
    return str(declared) if isinstance(declared, str) else "string"


def _compile_body(ctx: SchemaContext, raw: Any) -> RequestBody | None:
    if raw is None:
        return None
    body = ctx.resolve(raw)
    media = tuple(
        BodyMedia(
            name,
            entry.get("schema"),
            ctx.validator(entry["schema"], for_request=True) if "schema" in entry else None,
        )
        for name, entry in (body.get("content") or {}).items()
    )
    return RequestBody(required=bool(body.get("required", False)), media=media)


def _compile_responses(
    ctx: SchemaContext, path: Path, place: str, raw: Mapping[str, Any]
) -> dict[int, Response]:
    responses: dict[int, Response] = {}
    for code, raw_response in raw.items():
        if not str(code).isdigit():
            continue  # `default` and `4XX` ranges cannot be chosen or forced by number
        status = int(code)
        response = ctx.resolve(raw_response)
        media = []
        for name, entry in (response.get("content") or {}).items():
            schema = entry.get("schema")
            media.append(
                MediaType(
                    name=name,
                    schema=schema,
                    validator=ctx.validator(schema, for_request=False)
                    if schema is not None
                    else None,
                    generator=compile_schema(schema, ctx) if schema is not None else None,
                    examples=_examples(ctx, entry),
                    error_template=entry.get("x-error-template", NO_TEMPLATE),
                    prefer_generated=entry.get("x-mock-default-body") == "generated",
                )
            )
        responses[status] = Response(
            status, str(response.get("description", "")), tuple(media), response.get("headers", {})
        )
    if not responses:
        raise SpecError(path, f"{place}.responses", "documents no numeric response status")
    return responses


def _examples(ctx: SchemaContext, entry: Mapping[str, Any]) -> dict[str, Any]:
    examples: dict[str, Any] = {}
    for name, raw in (entry.get("examples") or {}).items():
        example = ctx.resolve(raw)
        if "value" in example:
            examples[name] = example["value"]
    if "example" in entry and not examples:
        examples["default"] = entry["example"]
    return examples


def _compile_security(
    path: Path, place: str, schemes: Mapping[str, Any], requirements: list[Mapping[str, Any]]
) -> tuple[tuple[Credential, ...], ...]:
    compiled = []
    for requirement in requirements:
        credentials = []
        for scheme_name in requirement:
            scheme = schemes.get(scheme_name)
            if scheme is None:
                raise SpecError(
                    path, f"{place}.security", f"unknown security scheme {scheme_name!r}"
                )
            kind = scheme.get("type", "")
            if kind == "apiKey":
                credentials.append(Credential(scheme_name, kind, scheme["in"], scheme["name"]))
            elif kind in ("http", "oauth2", "openIdConnect"):
                credentials.append(Credential(scheme_name, kind, "header", "Authorization"))
        compiled.append(tuple(credentials))
    return tuple(compiled)
