"""Finding spec files and reading them (YAML or JSON) into plain documents.

A folder may hold several specs and the files they refer to: a spec is a file with a
top-level `openapi` or `swagger` key; the others are only read when a spec refers to
them (`bundle.py`).

This module imports no more than PyYAML (through `yamlsafe`), so that the spec check
(`check.py`) can run it in a child process forked before the server's heavy imports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mockserver.spec.errors import SpecError
from mockserver.yamlsafe import YamlError, load_yaml

SPEC_SUFFIXES = (".yaml", ".yml", ".json")

_SPEC_KEY = re.compile(r"""^["']?(?:openapi|swagger)["']?\s*:""", re.MULTILINE)


def find_spec_files(paths: Iterable[Path]) -> list[Path]:
    """Spec files named directly, or found (sorted) in the folders named.

    In a folder, only the files that are specs (a top-level `openapi` or `swagger`)
    count; a file named directly is always taken for a spec."""
    found: list[Path] = []
    paths = list(paths)
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.iterdir() if p.suffix in SPEC_SUFFIXES and is_spec_file(p))
            )
        elif path.is_file():
            found.append(path)
        else:
            raise SpecError(path, "", "no such file or folder")
    if not found:
        raise SpecError(", ".join(str(p) for p in paths) or "(none)", "", "no spec files found")
    return found


def is_spec_file(path: Path) -> bool:
    """Whether `path` is a spec (a top-level `openapi` or `swagger` key), not a fragment."""
    if not path.is_file():
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True  # a spec that cannot be read: let reading it say so
    if path.suffix != ".json":
        return _SPEC_KEY.search(text) is not None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return True
    return isinstance(document, dict) and ("openapi" in document or "swagger" in document)


def read_document(path: Path) -> dict[str, Any]:
    """Parse YAML or JSON, refusing anything that is not a mapping."""
    document = read_file(path)
    if not isinstance(document, dict):
        raise SpecError(path, "", "the document is not a mapping")
    return document


def read_file(path: Path) -> Any:
    """Parse one YAML or JSON file (a spec or a file it refers to) into plain JSON data
    (`yamlsafe`: mapping keys are text, dates and timestamps the text written, depth,
    size and aliases bounded)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, "", f"cannot read: {exc}") from None
    return parse_text(path, text)


def parse_text(path: Path | str, text: str) -> Any:
    """`read_file` on text already read (`path` names it in messages)."""
    try:
        return load_yaml(text, source=str(path))
    except YamlError as exc:
        place = f"line {exc.line}, column {exc.column}" if exc.line else ""
        raise SpecError(path, place, exc.problem) from None
