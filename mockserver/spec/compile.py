"""Compile every operation of a (normalised) document, once, into frozen records.

Nothing after this module sees raw OpenAPI: routing, validation and responding work
on `Operation` / `Param` / `Response` / `MediaType` records (`model.py`), whose
validators and generators were built here, at start-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mockserver.generation import compile_schema
from mockserver.headers import ItemIndex, compile_headers, item_path
from mockserver.media import MediaFacts, reader_for, sampler_for, writer_for
from mockserver.params.scalars import kind_of
from mockserver.schemas import SchemaContext
from mockserver.security import challenge
from mockserver.spec.errors import SpecError
from mockserver.spec.model import (
    DEFAULT_KEY,
    HTTP_METHODS,
    NO_TEMPLATE,
    RANGE_KEYS,
    BodyMedia,
    Credential,
    MediaType,
    Operation,
    Param,
    RequestBody,
    Response,
    is_json_media_type,
    route_shape,
)
from mockserver.spec.servers import server_base_path


def readable_routes(document: Mapping[str, Any], ctx: SchemaContext) -> list[str]:
    """The routes with a GET operation: where a `Location` may point (`headers.item_path`)."""
    paths = document.get("paths") or {}
    return [route for route, item in paths.items() if "get" in (ctx.resolve(item) or {})]


def operation_places(
    document: Mapping[str, Any], ctx: SchemaContext
) -> Iterator[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]]:
    """(route, method, path item, operation) of every operation of a normalised document."""
    for route, raw_item in (document.get("paths") or {}).items():
        item = ctx.resolve(raw_item)
        for method in HTTP_METHODS:
            if method in item:
                yield route, method, item, item[method]


def compile_operation(
    api_id: str,
    path: Path,
    document: Mapping[str, Any],
    ctx: SchemaContext,
    route: str,
    method: str,
    item: Mapping[str, Any],
    raw: Mapping[str, Any],
    *,
    get_paths: Sequence[str] | ItemIndex,
) -> Operation:
    """One operation (`raw`, under `method` of the path item `item` at `route`);
    `get_paths` are the document's `readable_routes`."""
    schemes = document.get("components", {}).get("securitySchemes", {})
    default_security = document.get("security", [])
    shared = item.get("parameters", [])
    place = f"paths.{route}.{method}"
    op_id = raw.get("operationId") or f"{method}{route_shape(route)}"
    responses, ranges = _compile_responses(
        ctx, path, place, raw.get("responses", {}), item_path(route, get_paths)
    )
    security = _compile_security(path, place, schemes, raw.get("security", default_security))
    if not any(security):
        # A 401 of an operation without security still names the spec's schemes.
        fallback: list[Mapping[str, Any]] = [{key: [] for key in schemes}]
        challenge_from = _compile_security(path, "components", schemes, fallback)
    else:
        challenge_from = security
    return Operation(
        api=api_id,
        operation_id=op_id,
        method=method.upper(),
        path=route,
        summary=str(raw.get("summary", "")),
        params=_compile_params(ctx, [*shared, *raw.get("parameters", [])]),
        body=_compile_body(ctx, raw.get("requestBody")),
        responses=responses,
        security=security,
        source=str(path),
        ranges=ranges,
        challenge=challenge(challenge_from, api_id),
        base_path=server_base_path(
            raw.get("servers") or item.get("servers") or document.get("servers")
        ),
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
        content_json = False
        if "content" in param:
            media_name, media = next(iter(param["content"].items()))
            schema = media.get("schema", {})
            content_json = is_json_media_type(media_name)
        resolved = ctx.resolve(schema)
        kind = kind_of(resolved)
        item_kind = kind_of(ctx.resolve(resolved.get("items", {}))) if kind == "array" else kind
        style = param.get("style", "form" if location in ("query", "cookie") else "simple")
        properties, additional, additional_kind = _object_facts(ctx, resolved, kind)
        allow_empty = param.get("allowEmptyValue")
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
            allow_reserved=bool(param.get("allowReserved", False)),
            allow_empty=allow_empty if isinstance(allow_empty, bool) else None,
            content_json=content_json,
            properties=properties,
            additional=additional,
            additional_kind=additional_kind,
        )
    query_names = frozenset(p.name for p in by_key.values() if p.location == "query")
    return tuple(
        dataclasses.replace(p, claimed=query_names - {p.name}) if p.location == "query" else p
        for p in by_key.values()
    )


def _object_facts(
    ctx: SchemaContext, schema: Any, kind: str
) -> tuple[dict[str, tuple[str, str]], bool, tuple[str, str]]:
    """An object parameter's property kinds, whether it admits others, and their kind."""
    if kind != "object" or not isinstance(schema, Mapping):
        return {}, False, ("string", "string")
    properties = {}
    for key, node in (schema.get("properties") or {}).items():
        properties[str(key)] = _kinds(ctx, node)
    extra = schema.get("additionalProperties", True)
    admits = extra is not False and not (isinstance(extra, Mapping) and extra.get("not") == {})
    extra_kind = _kinds(ctx, extra) if isinstance(extra, Mapping) else ("string", "string")
    return properties, admits, extra_kind


def _kinds(ctx: SchemaContext, node: Any) -> tuple[str, str]:
    resolved = ctx.resolve(node) if isinstance(node, Mapping) else node
    kind = kind_of(resolved)
    if kind == "array" and isinstance(resolved, Mapping):
        return kind, kind_of(ctx.resolve(resolved.get("items", {})))
    return kind, kind


def _compile_body(ctx: SchemaContext, raw: Any) -> RequestBody | None:
    if raw is None:
        return None
    body = ctx.resolve(raw)
    media = []
    for name, entry in (body.get("content") or {}).items():
        schema = entry.get("schema")
        facts = MediaFacts(name, schema, ctx.resolve, entry.get("encoding") or {})
        media.append(
            BodyMedia(
                name,
                schema,
                ctx.validator(schema, for_request=True) if schema is not None else None,
                reader_for(facts),
            )
        )
    return RequestBody(required=bool(body.get("required", False)), media=tuple(media))


def _compile_responses(
    ctx: SchemaContext, path: Path, place: str, raw: Mapping[str, Any], resource: str | None
) -> tuple[dict[int, Response], dict[str, Response]]:
    """The responses by number, and those documented as a range (`4XX`) or `default`;
    `resource` is the item path a `Location` header names."""
    responses: dict[int, Response] = {}
    ranges: dict[str, Response] = {}
    default: Any = None
    for code, raw_response in raw.items():
        key = str(code).upper() if str(code).upper() in RANGE_KEYS else str(code)
        if key.isdigit():
            responses[int(key)] = _compile_response(ctx, int(key), key, raw_response, resource)
        elif key in RANGE_KEYS:
            ranges[key] = _compile_response(ctx, int(key[0]) * 100, key, raw_response, resource)
        elif key == DEFAULT_KEY:
            default = raw_response  # compiled below, once the others are known
    if default is not None:
        # `default` answers as 200 when nothing else documents a success, else as 500.
        succeeds = "2XX" in ranges or any(200 <= s < 300 for s in responses)
        status = 500 if succeeds else 200
        ranges[DEFAULT_KEY] = _compile_response(ctx, status, DEFAULT_KEY, default, resource)
    if not responses and not ranges:
        raise SpecError(path, f"{place}.responses", "documents no response")
    return responses, ranges


def _compile_response(
    ctx: SchemaContext, status: int, key: str, raw: Any, resource: str | None = None
) -> Response:
    response = ctx.resolve(raw)
    media = []
    for name, entry in (response.get("content") or {}).items():
        schema = entry.get("schema")
        facts = MediaFacts(name, schema, ctx.resolve)
        generator = sampler_for(facts)  # bytes of a binary type (a small valid PNG, ...)
        if generator is None and schema is not None:
            generator = compile_schema(schema, ctx)
        media.append(
            MediaType(
                name=name,
                schema=schema,
                validator=ctx.validator(schema, for_request=False) if schema is not None else None,
                generator=generator,
                examples=_examples(ctx, entry),
                error_template=entry.get("x-error-template", NO_TEMPLATE),
                prefer_generated=entry.get("x-mock-default-body") == "generated",
                write=writer_for(facts),
            )
        )
    return Response(
        status,
        str(response.get("description", "")),
        tuple(media),
        response.get("headers", {}),
        key=key,
        documented_headers=compile_headers(ctx, response.get("headers"), resource=resource),
    )


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
                credentials.append(
                    Credential(
                        scheme_name,
                        kind,
                        "header",
                        "Authorization",
                        http_scheme=str(scheme.get("scheme", "bearer")).lower(),
                        bearer_format=str(scheme.get("bearerFormat", "")),
                    )
                )
        compiled.append(tuple(credentials))
    return tuple(compiled)
