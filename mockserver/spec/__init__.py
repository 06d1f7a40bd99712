"""Loading specs: read (`read.py`) -> normalise (`normalise.py`) -> check (`check.py`)
-> compile (`compile.py`) into the frozen model (`model.py`); `load.py` runs the steps.

Importing this package is cheap (PyYAML at most): `load_api` and `load_apis`, which
need jsonschema and Faker, are imported on first use, so that the spec check can be
forked before the server's heavy imports (`check.SpecCheck`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mockserver.spec.errors import SpecError
from mockserver.spec.model import (
    HTTP_METHODS,
    NO_TEMPLATE,
    Api,
    BodyMedia,
    Credential,
    MediaType,
    Operation,
    Param,
    RequestBody,
    Response,
    is_json_media_type,
)
from mockserver.spec.read import find_spec_files, read_document

if TYPE_CHECKING:
    from mockserver.spec.load import load_api, load_apis

__all__ = [
    "HTTP_METHODS",
    "NO_TEMPLATE",
    "Api",
    "BodyMedia",
    "Credential",
    "MediaType",
    "Operation",
    "Param",
    "RequestBody",
    "Response",
    "SpecError",
    "find_spec_files",
    "is_json_media_type",
    "load_api",
    "load_apis",
    "read_document",
]


def __getattr__(name: str) -> Any:
    if name in ("load_api", "load_apis"):
        from mockserver.spec import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
