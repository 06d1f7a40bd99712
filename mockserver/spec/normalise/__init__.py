"""The one normalisation stage: every spec read becomes OpenAPI 3.1 with JSON Schema
2020-12 schemas, so that nothing after it branches on the version it was written in.

    Swagger 2.0 --swagger2.py--> OpenAPI 3.0 --openapi30.py (schema.py)--> OpenAPI 3.1
    then, whatever the input: references checked (refs.py), defects repaired with a
    warning each (lenient.py)

The rules are listed in each module's docstring and in README ("Which specs load").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mockserver.spec.bundle import HOLDER, Bundle
from mockserver.spec.errors import Problems, SpecError
from mockserver.spec.normalise import lenient, openapi30, refs, swagger2


def dialect(path: Path | str, document: dict[str, Any]) -> str:
    """`2.0`, `3.0` or `3.1`: the dialect `document` is written in; a `SpecError` when it
    names none this server reads."""
    if "openapi" in document:
        version = str(document["openapi"])
        if version.startswith("3.0"):
            return "3.0"
        if version.startswith(("3.1", "3.2")):
            return "3.1"
        raise SpecError(path, "/openapi", f"OpenAPI {version!r} is not read (2.0, 3.0 and 3.1 are)")
    if "swagger" in document:
        version = str(document["swagger"])
        if version.startswith("2"):
            return "2.0"
        raise SpecError(path, "/swagger", f"Swagger {version!r} is not read (2.0 is)")
    raise SpecError(
        path,
        "",
        "not an OpenAPI or Swagger document: no top-level 'openapi' or 'swagger' key",
    )


def _warner(bundle: Bundle, problems: Problems) -> Callable[[str, str], None]:
    def warn(place: str, message: str) -> None:
        source, inner = bundle.locate(place)
        problems.warn(source, inner, message)

    return warn


def repair_references(bundle: Bundle, problems: Problems) -> None:
    """The first step, before the OpenAPI check (which cannot pass a reference that
    names nothing): every `$ref` that leads nowhere is removed, with a warning."""
    if not bundle.references_checked:
        refs.repair(bundle.document, _warner(bundle, problems), bundle.holders)
        bundle.references_checked = True


def normalise(bundle: Bundle, problems: Problems) -> dict[str, Any]:
    """The bundle's document as OpenAPI 3.1 (converted in place); warnings go to
    `problems`, naming the file and pointer (`Bundle.locate`)."""
    warn = _warner(bundle, problems)
    document = bundle.document
    kind = dialect(bundle.path, document)
    repair_references(bundle, problems)
    if kind == "2.0":
        document = swagger2.convert(document, warn)
    if kind in ("2.0", "3.0"):
        document = openapi30.convert(document)
    else:
        openapi30.adopt_30_keywords(document, warn)
    lenient.repair(document, bundle.path.stem, warn)
    bundle.document = document
    return document


__all__ = ["HOLDER", "dialect", "normalise", "repair_references"]
