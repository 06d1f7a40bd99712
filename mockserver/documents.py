"""Spec documents as files: finding, reading and checking them against OpenAPI 3.x.

Nothing here compiles anything (that is `spec.py`), and this module imports no more than
PyYAML, so it can run in a process of its own. `mockserver serve` does that: the check
with openapi-spec-validator costs ~0.35 s to import and ~0.1 s for the four bundled
specs, so `SpecCheck` runs it in a child process started before the server's own
imports, and the server waits for its verdict before it serves (time to the first
answer on all four specs went from 0.87-1.06 s to 0.72-0.88 s on the bench machine).
`python -m mockserver.documents PATH...` is that child: it exits 0 when every document
is valid, else 1 with the error on stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


class SpecError(Exception):
    """A spec (or fixture) the server refuses to start with: names the file and the place."""

    def __init__(self, source: Path | str, place: str, message: str) -> None:
        super().__init__(f"{source}: {place}: {message}" if place else f"{source}: {message}")
        self.source = str(source)
        self.place = place
        self.message = message


def find_spec_files(paths: Iterable[Path]) -> list[Path]:
    """Spec files named directly, or found (sorted) in the folders named."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in SPEC_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise SpecError(path, "", "no such file or folder")
    if not found:
        raise SpecError(", ".join(str(p) for p in paths) or "(none)", "", "no spec files found")
    return found


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: the four specs load in ~0.05 s
instead of ~0.4 s, most of start-up once the imports are done."""


def read_document(path: Path) -> dict[str, Any]:
    """Parse YAML or JSON, refusing anything that is not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, "", f"cannot read: {exc}") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.load(text, _YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(path, place, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(path, f"line {exc.lineno}, column {exc.colno}", exc.msg) from None
    if not isinstance(document, dict):
        raise SpecError(path, "", "the document is not a mapping")
    return document


def check_document(path: Path, document: Mapping[str, Any]) -> None:
    """Validate against the OpenAPI 3.x schema; raise a `SpecError` naming the place."""
    version = str(document.get("openapi", ""))
    if not version.startswith("3."):
        raise SpecError(path, "openapi", f"an OpenAPI 3.x document is required, not {version!r}")
    # Imported here, not at the top: it is most of this check's cost (see the docstring).
    from openapi_spec_validator import validate as validate_openapi

    try:
        validate_openapi(document)
    except Exception as exc:  # the validator raises several types, all of them "invalid"
        place = str(getattr(exc, "json_path", "") or "")
        message = str(getattr(exc, "message", exc)).splitlines()[0]
        raise SpecError(path, place, message) from None


def check_files(paths: Iterable[Path]) -> None:
    """Read and check every spec file found under `paths`; the first error is raised."""
    for path in find_spec_files(paths):
        check_document(path, read_document(path))


class SpecCheck:
    """`check_files` in a child process, started now and waited for with `result`."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.process: subprocess.Popen[str] | None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mockserver.documents", *map(str, self.paths)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError:  # no child process here: `result` checks in this one
            self.process = None

    def result(self, timeout: float = 120) -> None:
        """Return once every document passed; else raise the first `SpecError`."""
        if self.process is None:
            check_files(self.paths)
            return
        out, _ = self.process.communicate(timeout=timeout)
        if self.process.returncode == 0:
            return
        if self.process.returncode == 1 and out.strip():
            raise _parse_error(out.strip())
        check_files(self.paths)  # the child failed, not a spec: check here, as without it

    def cancel(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def _parse_error(text: str) -> SpecError:
    fields = json.loads(text)
    return SpecError(fields["source"], fields["place"], fields["message"])


def main(argv: Sequence[str]) -> int:
    try:
        check_files(Path(arg) for arg in argv)
    except SpecError as exc:
        print(json.dumps({"source": exc.source, "place": exc.place, "message": exc.message}))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
