"""The loading pipeline: read (and bundle) -> check -> normalise -> compile, for one spec
or many.

Lenient by default: a defect that does not stop serving is a warning (a `Problem` in
`problems`), an operation that cannot be compiled is left out with a warning naming it,
and only a spec that cannot be read at all (or two specs that claim one route) is a
`SpecError`. With `strict`, any problem is a `SpecError` that lists them all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mockserver.headers import ItemIndex
from mockserver.schemas import SchemaContext
from mockserver.spec.bundle import Bundle, read_spec
from mockserver.spec.check import NO_FORM, check_document
from mockserver.spec.compile import compile_operation, operation_places, readable_routes
from mockserver.spec.errors import Problem, Problems, SpecError, join
from mockserver.spec.model import Api, Operation, route_shape
from mockserver.spec.normalise import normalise, repair_references
from mockserver.spec.read import find_spec_files
from mockserver.spec.servers import override, server_base_path

COMPILE_ERRORS = (
    SpecError,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    RuntimeError,  # RecursionError, and StopIteration turned into it
)


def load_api(path: Path, check: bool = True, problems: Problems | None = None) -> Api:
    """Read, check (unless `check` is false: it was, or is being, done elsewhere),
    normalise and compile one spec; its warnings go to `problems`."""
    problems = problems if problems is not None else Problems(echo=True)
    bundle = read_spec(path, problems)
    repair_references(bundle, problems)
    findings = check_document(bundle) if check else []
    document = normalise(bundle, problems)
    merge(problems, findings)
    api_id = path.stem
    try:
        ctx = SchemaContext(api_id, document)
    except COMPILE_ERRORS as exc:
        raise SpecError(path, "", f"cannot use its schemas: {_reason(exc)}") from None
    compiled = list(_compile(api_id, bundle, ctx, problems))
    refused = _refused_examples(ctx, [op for op, _ in compiled])
    operations = tuple(
        _without_bad_examples(op, place, bundle, problems, refused) for op, place in compiled
    )
    info = document.get("info", {})
    return Api(
        api_id,
        str(info.get("title", api_id)),
        str(info.get("version", "")),
        str(path),
        operations,
        server_base_path(document.get("servers")),
    )


def _compile(
    api_id: str, bundle: Bundle, ctx: SchemaContext, problems: Problems
) -> Iterator[tuple[Operation, str]]:
    """Each operation that compiles, with its pointer in the document."""
    get_paths = ItemIndex(readable_routes(bundle.document, ctx))
    for route, method, item, raw in operation_places(bundle.document, ctx):
        place = join("/paths", route, method)
        try:
            op = compile_operation(
                api_id,
                bundle.path,
                bundle.document,
                ctx,
                route,
                method,
                item,
                raw,
                get_paths=get_paths,
            )
        except COMPILE_ERRORS as exc:
            problems.warn(
                bundle.path, place, f"{method.upper()} {route} is not served: {_reason(exc)}"
            )
            continue
        yield op, place


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SpecError):
        return exc.message
    if isinstance(exc, RecursionError):
        return "its schemas nest without end"
    if isinstance(exc, KeyError):
        return f"{exc.args[0]!r} is missing" if exc.args else "something is missing"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _refused_examples(ctx: SchemaContext, operations: list[Operation]) -> set[tuple[int, str]]:
    """(id of the media type, example name) of each spec example its response schema
    refuses. Checked by jsonschema-rs (the yes/no validator of what the mock sends), all
    at once: one validator per media type took GitHub's 1,051 examples ~0.4 s, one for
    the whole API ~0.08 s. Media type by media type when that one cannot be built."""
    media_list = [
        media
        for op in operations
        for response in [*op.responses.values(), *op.ranges.values()]
        for media in response.media
        if media.schema is not None and media.examples
    ]
    items = [(media, name, value) for media in media_list for name, value in media.examples.items()]
    indices = ctx.refused([(media.schema, value) for media, _, value in items])
    if indices is not None:
        return {(id(items[i][0]), items[i][1]) for i in indices}
    return {
        (id(media), name)
        for media in media_list
        for name in _refused(ctx, media.schema, media.examples)
    }


def _without_bad_examples(
    op: Operation, place: str, bundle: Bundle, problems: Problems, refused: set[tuple[int, str]]
) -> Operation:
    """The operation without the spec examples that its response schemas refuse (each
    one a warning, `_refused_examples`): the mock never answers with a body its own
    contract rejects."""
    changed = {}
    for status, response in [*op.responses.items(), *op.ranges.items()]:
        media_changed = False
        media_list = []
        for media in response.media:
            bad = [name for name in media.examples if (id(media), name) in refused]
            for name in bad:
                where = join(place, "responses", response.key or str(status), "content", media.name)
                source, inner = bundle.locate(where)
                problems.warn(
                    source, inner, f"example {name!r} does not match its schema; not served"
                )
            if bad:
                media_changed = True
                media = dataclasses.replace(
                    media, examples={k: v for k, v in media.examples.items() if k not in bad}
                )
            media_list.append(media)
        if media_changed:
            changed[status] = dataclasses.replace(response, media=tuple(media_list))
    if not changed:
        return op
    return dataclasses.replace(
        op,
        responses={s: changed.get(s, r) for s, r in op.responses.items()},
        ranges={k: changed.get(k, r) for k, r in op.ranges.items()},
    )


def _refused(ctx: SchemaContext, schema: object, examples: Mapping[str, Any]) -> list[str]:
    """The names of the examples `schema` refuses (every one, if it is unusable)."""
    try:  # built for these examples only, not kept: what is sent is checked elsewhere
        check = ctx.checker(schema, keep=False).is_valid
    except ValueError:  # the schema itself is unusable (`type: nope`): no example fits it
        return list(examples)
    bad = []
    for name, value in examples.items():
        try:
            if not check(value):
                bad.append(name)
        except Exception:  # a value jsonschema-rs cannot take as JSON
            bad.append(name)
    return bad


def merge(problems: Problems, findings: Iterable[Problem]) -> None:
    """Add the OpenAPI check's findings, but not one at a place the loader already
    reported (its own message says what was done about it), nor one that only says a
    node fits no alternative when the loader reported a problem inside that node."""
    known = {(p.source, p.place) for p in problems}
    for finding in findings:
        if (finding.source, finding.place) in known:
            continue
        if finding.message == NO_FORM and any(
            source == finding.source and place.startswith(finding.place + "/")
            for source, place in known
        ):
            continue
        problems.warn(finding.source, finding.place, finding.message)


def load_apis(
    paths: Iterable[Path],
    check: bool = True,
    base_paths: Mapping[str, str] | None = None,
    *,
    strict: bool = False,
    problems: Problems | None = None,
) -> list[Api]:
    """Load every spec; refuse two APIs that claim the same id or method and path.

    `base_paths` (`--base-path`) replaces the base path of the API whose id is a key,
    or of every API under the key "" (`servers.override`). Warnings go to `problems`
    (else each is logged); with `strict`, any problem is a `SpecError` listing every
    one (after all specs were read)."""
    problems = problems if problems is not None else Problems(echo=not strict)
    apis: list[Api] = []
    seen_ids: dict[str, str] = {}
    claimed: dict[tuple[str, str], Operation] = {}
    for path in find_spec_files(paths):
        api = load_api(path, check, problems)
        base = override(base_paths or {}, api.api_id)
        if base is not None:
            api = with_base_path(api, base)
        if api.api_id in seen_ids:
            raise SpecError(
                path, "", f"API id {api.api_id!r} is already loaded from {seen_ids[api.api_id]}"
            )
        seen_ids[api.api_id] = api.source
        for op in api.operations:
            key = (op.method, route_shape(op.served_path))
            if key in claimed:
                other = claimed[key]
                raise SpecError(
                    path,
                    join("/paths", op.path, op.method.lower()),
                    f"{op.method} {op.served_path} is also claimed by {other.source} "
                    f"({other.operation_id}); two specs cannot serve the same "
                    "method and path",
                )
            claimed[key] = op
        apis.append(api)
    if strict and len(problems):
        raise SpecError.of(problems)
    return apis


def with_base_path(api: Api, base_path: str) -> Api:
    """The API with every operation served under `base_path` instead of its servers'."""
    operations = tuple(dataclasses.replace(op, base_path=base_path) for op in api.operations)
    return dataclasses.replace(api, operations=operations, base_path=base_path)
