"""Bundling at read time: a spec and the files its `$ref`s name become one document.

Every file a reference names (`./schemas/pet.yaml`, `common.json#/components/schemas/Id`)
is read once and placed under the document's `x-mockserver-bundled` holder, and every
reference is rewritten to a local one (`#/x-mockserver-bundled/f1/components/...`), so
the stages after this one only ever see `#/...` references. `Bundle.locate` turns a
pointer into the bundled document back into the file and pointer the author wrote.

Rules: references are relative to the file they are written in and never leave the
spec's own folder tree; remote (`http:`, `https:`, any URI scheme) references are not
fetched. Either is a warning, and the referring node loses its `$ref` (a schema there
becomes unconstrained). This module imports no more than `read.py` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from mockserver.spec.errors import Problems, SpecError, Trail, join, pointer, trail_pointer
from mockserver.spec.read import read_document, read_file

HOLDER = "x-mockserver-bundled"
"""Top-level key under which the files a spec refers to are placed, one key per file."""

MAX_FILES = 1000
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass
class Bundle:
    """A spec read with every file it refers to: one document, local references only."""

    path: Path
    document: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    """Holder key (`f1`) -> the file placed there."""
    references_checked: bool = False
    """Whether references that lead nowhere were removed (`normalise.repair_references`)."""
    holders: list[tuple[dict[str, Any], str, Trail]] | None = None
    """Every mapping with a `$ref` key the bundler met, with its file's place and its
    trail there (`errors.trail_pointer`), so that the repair need not walk the document
    again; None for a document that was not bundled (the repair walks it)."""

    def locate(self, place: str) -> tuple[str, str]:
        """The file and JSON pointer that a pointer into `document` names."""
        prefix = pointer(HOLDER)
        if place.startswith(prefix + "/"):
            rest = place[len(prefix) + 1 :]
            key, _, inner = rest.partition("/")
            if key in self.files:
                return str(self.files[key]), "/" + inner if inner else ""
        return str(self.path), place


def read_spec(path: Path, problems: Problems | None = None) -> Bundle:
    """Read the spec at `path` and every file its references name (recursively)."""
    problems = problems if problems is not None else Problems()
    document = read_document(path)
    bundle = Bundle(path, document)
    _Bundler(bundle, problems).run()
    return bundle


class _Bundler:
    def __init__(self, bundle: Bundle, problems: Problems) -> None:
        self.bundle = bundle
        self.problems = problems
        self.root = bundle.path.resolve().parent
        self.prefixes: dict[Path, str] = {bundle.path.resolve(): ""}
        self.holder: dict[str, Any] = {}
        self.pending: list[tuple[Any, Path, str]] = []
        self.holders: list[tuple[dict[str, Any], str, Trail]] = []

    def run(self) -> None:
        document = self.bundle.document
        document.pop(HOLDER, None)  # an author's own key by that name is not ours to trust
        self.pending.append((document, self.bundle.path.resolve(), ""))
        seen: set[int] = set()
        while self.pending:
            node, file, prefix = self.pending.pop()
            self._walk(node, file, prefix, seen)
        if self.holder:
            document[HOLDER] = self.holder
        self.bundle.holders = self.holders

    def _walk(self, top: Any, file: Path, prefix: str, seen: set[int]) -> None:
        stack: list[tuple[Any, Trail]] = [(top, None)]
        while stack:
            node, trail = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, dict):
                if "$ref" in node:
                    self.holders.append((node, prefix, trail))
                ref = node.get("$ref")
                if isinstance(ref, str):
                    self._rewrite(node, ref, file, prefix, trail_pointer(prefix, trail))
                stack.extend(
                    (value, (trail, key)) for key, value in node.items() if holds_refs(key, value)
                )
            elif isinstance(node, list):
                stack.extend(
                    (value, (trail, i))
                    for i, value in enumerate(node)
                    if isinstance(value, dict | list)
                )

    def _rewrite(self, node: dict[str, Any], ref: str, file: Path, prefix: str, where: str) -> None:
        source, place = self.bundle.locate(join(where, "$ref"))
        if ref.startswith("#"):
            if prefix:
                node["$ref"] = "#" + prefix + ref[1:]
            return
        if _SCHEME.match(ref) and not re.match(r"^[A-Za-z]:[\\/]", ref):
            self.problems.warn(
                source, place, f"remote reference {ref!r} is not fetched; unconstrained here"
            )
            del node["$ref"]
            return
        name, _, fragment = ref.partition("#")
        target = (file.parent / unquote(name)).resolve()
        if not target.is_relative_to(self.root):
            self.problems.warn(
                source, place, f"{ref!r} leaves the spec's folder {self.root}; ignored"
            )
            del node["$ref"]
            return
        if not target.is_file():
            self.problems.warn(source, place, f"{ref!r}: no such file {target}; ignored")
            del node["$ref"]
            return
        target_prefix = self._place(target, source, place)
        if target_prefix is None:
            del node["$ref"]
            return
        if fragment and not fragment.startswith("/"):
            self.problems.warn(
                source, place, f"{ref!r}: the fragment is not a JSON pointer; ignored"
            )
            del node["$ref"]
            return
        node["$ref"] = "#" + target_prefix + fragment

    def _place(self, target: Path, source: str, place: str) -> str | None:
        """The pointer prefix of `target` in the bundle, reading it the first time."""
        if target in self.prefixes:
            return self.prefixes[target]
        if len(self.holder) >= MAX_FILES:
            self.problems.warn(source, place, f"more than {MAX_FILES} files referenced; ignored")
            return None
        try:
            content = read_file(target)
        except SpecError as exc:
            self.problems.warn(exc.source, exc.place, exc.message)
            return None
        key = f"f{len(self.holder) + 1}"
        self.holder[key] = content
        self.bundle.files[key] = _shown(target, self.root, self.bundle.path)
        prefix = pointer(HOLDER, key)
        self.prefixes[target] = prefix
        self.pending.append((content, target, prefix))
        return prefix


DATA_VALUES = frozenset({"example", "const", "x-example"})
"""Keys whose values are data, where a `$ref` key is a field, not a reference."""
DATA_LISTS = frozenset({"examples", "enum"})
"""Keys whose lists are data (a schema's `examples`; a media type's are objects)."""


def holds_refs(key: str, value: Any) -> bool:
    """Whether the `value` under `key` may hold references (it is no data)."""
    if isinstance(value, dict):
        return key not in DATA_VALUES
    return isinstance(value, list) and key not in DATA_VALUES and key not in DATA_LISTS


def _shown(target: Path, root: Path, spec: Path) -> Path:
    """`target` as messages name it: beside the spec's path as the user gave it."""
    return spec.parent / target.relative_to(root)
