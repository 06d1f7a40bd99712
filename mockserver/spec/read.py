"""Finding spec files and reading them (YAML or JSON) into plain documents.

A folder may hold several specs and the files they refer to: a spec is a file with a
top-level `openapi` or `swagger` key; the others are only read when a spec refers to
them (`bundle.py`).

This module imports no more than PyYAML, so that the spec check (`check.py`) can run
it in a child process forked before the server's heavy imports.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from mockserver.spec.errors import SpecError

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
MAX_DEPTH = 256
"""How deeply a document may nest (mappings and lists)."""
MAX_NODES = 20_000_000
"""How many nodes a document may hold once its YAML aliases are expanded."""

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


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: the four specs load in ~0.05 s
instead of ~0.4 s, most of start-up once the imports are done."""


def read_document(path: Path) -> dict[str, Any]:
    """Parse YAML or JSON, refusing anything that is not a mapping."""
    document = read_file(path)
    if not isinstance(document, dict):
        raise SpecError(path, "", "the document is not a mapping")
    return document


def read_file(path: Path) -> Any:
    """Parse one YAML or JSON file (a spec or a file it refers to) into plain data:
    mapping keys are text, dates and timestamps the text written, nothing nests deeper
    than `MAX_DEPTH` or holds itself."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, "", f"cannot read: {exc}") from None
    return parse_text(path, text)


def parse_text(path: Path | str, text: str) -> Any:
    """`read_file` on text already read (`path` names it in messages)."""
    try:
        if str(path).endswith(".json"):
            document = json.loads(text)
        else:
            document = yaml.load(text, _YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(path, place, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(path, f"line {exc.lineno}, column {exc.colno}", exc.msg) from None
    except RecursionError:
        raise SpecError(path, "", f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. a YAML timestamp that is no date, an integer too long
        raise SpecError(path, "", f"cannot read: {str(exc)[:200]}") from None
    return plain(path, document)


def plain(path: Path | str, document: Any) -> Any:
    """The document with text keys and dates as text, checked for depth, size and cycles
    (an alias that holds itself). Shared nodes (aliases) stay shared."""
    done: dict[int, int] = {}  # id -> depth below it
    on_path: set[int] = set()
    nodes = 0
    stack: list[tuple[Any, bool]] = [(document, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            on_path.discard(key)
            below = [done[id(c)] for c in _children(node) if isinstance(c, dict | list)]
            done[key] = 1 + max(below, default=0)
            if done[key] > MAX_DEPTH:
                raise SpecError(path, "", f"nested deeper than {MAX_DEPTH} levels")
            continue
        if key in done:
            continue
        if key in on_path:
            raise SpecError(path, "", "a YAML alias holds the node it is in")
        nodes += 1
        if nodes > MAX_NODES:
            raise SpecError(path, "", f"more than {MAX_NODES} nodes")
        if isinstance(node, dict):
            _plain_keys(node)
            for name, value in node.items():
                if isinstance(value, dt.date):
                    node[name] = _date_text(value)
        else:
            for index, value in enumerate(node):
                if isinstance(value, dt.date):
                    node[index] = _date_text(value)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if isinstance(c, dict | list))
        if len(on_path) > MAX_DEPTH:
            raise SpecError(path, "", f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(document, dt.date):
        return _date_text(document)
    return document


def _children(node: Any) -> Iterable[Any]:
    return node.values() if isinstance(node, dict) else node


def _plain_keys(node: dict[Any, Any]) -> None:
    if all(isinstance(k, str) for k in node):
        return
    items = [(_key_text(k), v) for k, v in node.items()]
    node.clear()
    node.update(items)


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, dt.date):
        return _date_text(key)
    return str(key)


def _date_text(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat()
