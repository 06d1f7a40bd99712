"""Checking spec documents against the OpenAPI schemas (openapi-spec-validator).

Its findings are `Problem`s, one per defect (up to `MAX_FINDINGS` a file), each naming
the file and the JSON pointer: warnings for a lenient load, a refusal for `validate` and
`serve --strict`. Nothing here compiles anything (that is `compile.py`), and this module
imports no more than PyYAML (through `read.py`) at the top, so it can run in a process of
its own. `mockserver serve` does that: openapi-spec-validator costs ~0.35 s to import and
~0.1 s for the four bundled specs, so `SpecCheck` runs it in a child process forked
before the server's own imports, and the server waits for its verdict before it serves
(time to the first answer on all four specs went from 0.87-1.06 s to 0.72-0.88 s on the
bench machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mockserver.spec.bundle import Bundle, read_spec
from mockserver.spec.errors import Problem, Problems, SpecError, pointer
from mockserver.spec.normalise import repair_references
from mockserver.spec.read import find_spec_files

MAX_FINDINGS = 50
"""Findings reported per file; a file with more says how many were left out."""

_COVERED = ("UnresolvableParameterError",)
"""openapi-spec-validator findings the loader reports itself, with a place (`lenient.py`)."""


def check_document(bundle: Bundle) -> list[Problem]:
    """Every finding of openapi-spec-validator on the bundled (not yet normalised)
    document; none when the document names no version it knows (loading says so)."""
    # Imported here, not at the top: it is most of this check's cost (see the docstring).
    from openapi_spec_validator.shortcuts import get_validator_cls

    document = bundle.document
    try:
        cls = get_validator_cls(document)
    except Exception:  # no (known) version: normalisation refuses it, naming the key
        return []
    found: list[Problem] = []
    left_out = 0
    try:
        for error in cls(document).iter_errors():
            if type(error).__name__ in _COVERED:
                continue
            if len(found) >= MAX_FINDINGS:
                left_out += 1
                continue
            place, message = _describe(error)
            source, inner = bundle.locate(place)
            found.append(Problem(source, inner, message))
    except Exception as exc:  # RecursionError, or the validator tripping on odd content
        found.append(
            Problem(str(bundle.path), "", f"the OpenAPI check stopped early: {type(exc).__name__}")
        )
    if left_out:
        found.append(Problem(str(bundle.path), "", f"{left_out} more OpenAPI findings left out"))
    return found


def _describe(error: Any) -> tuple[str, str]:
    """The place (a JSON pointer) and a one-line message of a validator finding: never
    the instance it is about (a whole subtree of the spec, sometimes)."""
    from jsonschema.exceptions import best_match

    path = [str(p) for p in getattr(error, "absolute_path", ())]
    for _ in range(16):  # into the most relevant branch of a oneOf / anyOf
        context = getattr(error, "context", None)
        deeper = best_match(context) if context else None
        if deeper is None:
            break
        path += [str(p) for p in getattr(deeper, "relative_path", ())]
        error = deeper
    text = str(getattr(error, "message", "") or error)
    message = text.splitlines()[0] if text else "invalid"
    if message.endswith(_REQUIRED):
        missing = message[: -len(_REQUIRED)].strip().strip("'\"")
        path.append(missing)
        message = f"{missing!r} is required"
    elif _NO_BRANCH in message:
        message = NO_FORM
    elif " is " in message and message.index(" is ") > _SHOWN:
        message = "the value" + message[message.index(" is ") :]  # not a repr of the subtree
    return pointer(*path), message


_REQUIRED = " is a required property"
_NO_BRANCH = " is not valid under any of the "
NO_FORM = "matches none of the forms allowed here"
"""The message of a finding that only says a node fits no alternative (`oneOf`)."""
_SHOWN = 60


def check_files(paths: Iterable[Path]) -> list[Problem]:
    """Read and check every spec file found under `paths`: every finding, in order.

    A file that cannot be read at all is left to loading, which refuses it."""
    found: list[Problem] = []
    for path in find_spec_files(paths):
        try:
            bundle = read_spec(path, Problems())
            repair_references(bundle, Problems())
        except SpecError:
            continue
        found.extend(check_document(bundle))
    return found


class SpecCheck:
    """`check_files` in a child process, started now and waited for with `result`.

    The child is forked from this process, so it starts with what is already imported
    (no new interpreter, ~65 ms less than `python -m`), and writes its findings to a pipe
    as JSON. A process that already runs threads is not forked (a thread holding a lock
    at the fork would leave the child stuck on it): there, and where there is no fork,
    `result` checks in this process.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.started = time.monotonic()
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
            os.nice(19)  # compiling, which the first answer waits for, comes first
            os._exit(_check_in_child(self.paths, write_end))
        os.close(write_end)
        self.pid, self._verdict = pid, read_end

    def elapsed(self) -> float:
        """Seconds since the check started."""
        return time.monotonic() - self.started

    def result(self, wait: float | None = None) -> list[Problem] | None:
        """Every finding, once the check is done; None when `wait` (seconds) passes
        first: the check is then stopped (`cancel`)."""
        if self.pid is None or self._verdict is None:
            return _safe_check(self.paths)
        if wait is not None:
            ready, _, _ = select.select([self._verdict], [], [], wait)
            if not ready:
                self.cancel()
                return None
        with os.fdopen(self._verdict, "rb") as verdict:
            self._verdict = None
            out = verdict.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        if os.waitstatus_to_exitcode(status) == 0:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return [Problem(p["source"], p["place"], p["message"]) for p in json.loads(out)]
        return _safe_check(self.paths)  # the child failed, not a spec: check here

    def cancel(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            self.pid = None
        if self._verdict is not None:
            os.close(self._verdict)
            self._verdict = None


def _safe_check(paths: list[Path]) -> list[Problem]:
    try:
        return check_files(paths)
    except SpecError:  # no spec files at all: loading says so
        return []


def _check_in_child(paths: list[Path], write_end: int) -> int:
    try:
        found = _safe_check(paths)
        data = json.dumps(
            [{"source": p.source, "place": p.place, "message": p.message} for p in found]
        ).encode("utf-8")
        with os.fdopen(write_end, "wb") as out:
            out.write(data)
    except BaseException:  # anything else: the parent checks again, and reports it
        return 2
    return 0
