"""The loading pipeline: read -> normalise -> (check) -> compile, for one spec or many."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path

from mockserver.schemas import SchemaContext
from mockserver.spec.check import check_document
from mockserver.spec.compile import compile_operations
from mockserver.spec.errors import SpecError
from mockserver.spec.model import Api, Operation, route_shape
from mockserver.spec.normalise import normalise
from mockserver.spec.read import find_spec_files, read_document
from mockserver.spec.servers import override, server_base_path


def load_api(path: Path, check: bool = True) -> Api:
    """Read, check (unless `check` is false: it was, or is being, done elsewhere) and
    compile one document."""
    document = read_document(path)
    if check:
        check_document(path, document)
    document = normalise(path, document)
    api_id = path.stem
    ctx = SchemaContext(api_id, document)
    try:
        operations = tuple(compile_operations(api_id, path, document, ctx))
    except SpecError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise SpecError(path, "", f"cannot compile: {exc}") from None
    info = document.get("info", {})
    return Api(
        api_id,
        str(info.get("title", api_id)),
        str(info.get("version", "")),
        str(path),
        operations,
        server_base_path(document.get("servers")),
    )


def load_apis(
    paths: Iterable[Path], check: bool = True, base_paths: Mapping[str, str] | None = None
) -> list[Api]:
    """Load every spec; refuse two APIs that claim the same id or method and served path.

    `base_paths` (`--base-path`) replaces the base path of the API whose id is a key,
    or of every API under the key "" (`servers.override`)."""
    apis: list[Api] = []
    seen_ids: dict[str, str] = {}
    claimed: dict[tuple[str, str], Operation] = {}
    for path in find_spec_files(paths):
        api = load_api(path, check)
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
                    f"paths.{op.path}.{op.method.lower()}",
                    f"{op.method} {op.served_path} is also claimed by {other.source} "
                    f"({other.operation_id}); two specs cannot serve the same "
                    "method and path",
                )
            claimed[key] = op
        apis.append(api)
    return apis


def with_base_path(api: Api, base_path: str) -> Api:
    """The API with every operation served under `base_path` instead of its servers'."""
    operations = tuple(dataclasses.replace(op, base_path=base_path) for op in api.operations)
    return dataclasses.replace(api, operations=operations, base_path=base_path)
