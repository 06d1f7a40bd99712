"""Checking spec documents against the OpenAPI 3.x schema (openapi-spec-validator).

Nothing here compiles anything (that is `compile.py`), and this module imports no more
than PyYAML (through `read.py`), so it can run in a process of its own. `mockserver
serve` does that: the check with openapi-spec-validator costs ~0.35 s to import and
~0.1 s for the four bundled specs, so `SpecCheck` runs it in a child process forked
before the server's own imports, and the server waits for its verdict before it
serves (time to the first answer on all four specs went from 0.87-1.06 s to 0.72-0.88 s
on the bench machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mockserver.spec.errors import SpecError
from mockserver.spec.read import find_spec_files, read_document


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
    """`check_files` in a child process, started now and waited for with `result`.

    The child is forked from this process, so it starts with what is already imported
    (no new interpreter, ~65 ms less than `python -m`), and writes its verdict to a pipe:
    nothing for a pass, else the error as JSON. A process that already runs threads is
    not forked (a thread holding a lock at the fork would leave the child stuck on it):
    there, and where there is no fork, `result` checks in this process.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.pid: int | None = None
        self._verdict: int | None = None
        if not hasattr(os, "fork") or threading.active_count() > 1:
            return
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return
        try:
            pid = os.fork()
        except OSError:  # no child process here: `result` checks in this one
            os.close(read_end)
            os.close(write_end)
            return
        if pid == 0:  # the child: check, report, and leave without running anything else
            os.close(read_end)
            os._exit(_check_in_child(self.paths, write_end))
        os.close(write_end)
        self.pid, self._verdict = pid, read_end

    def result(self) -> None:
        """Return once every document passed; else raise the first `SpecError`."""
        if self.pid is None or self._verdict is None:
            check_files(self.paths)
            return
        with os.fdopen(self._verdict, "rb") as verdict:
            self._verdict = None
            out = verdict.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        code = os.waitstatus_to_exitcode(status)
        if code == 0:
            return
        if code == 1 and out.strip():
            raise _parse_error(out.decode("utf-8"))
        check_files(self.paths)  # the child failed, not a spec: check here, as without it

    def cancel(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            self.pid = None
        if self._verdict is not None:
            os.close(self._verdict)
            self._verdict = None


def _check_in_child(paths: list[Path], write_end: int) -> int:
    try:
        check_files(paths)
    except SpecError as exc:
        error = {"source": exc.source, "place": exc.place, "message": exc.message}
        os.write(write_end, json.dumps(error).encode("utf-8"))
        return 1
    except BaseException:  # anything else: the parent checks again, and reports it
        return 2
    return 0


def _parse_error(text: str) -> SpecError:
    fields = json.loads(text)
    return SpecError(fields["source"], fields["place"], fields["message"])
