"""The one normalisation stage: every document read becomes one dialect before compiling.

Today a pass-through: the documents served are OpenAPI 3.1 already. This is where
other versions are turned into OpenAPI 3.1 with JSON Schema 2020-12 schemas, so that
nothing after it branches on the version a spec was written in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def normalise(path: Path, document: dict[str, Any]) -> dict[str, Any]:
    """The document as OpenAPI 3.1 (`path` names it in messages)."""
    return document
