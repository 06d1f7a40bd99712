"""What loading reports: `Problem`s (warnings, collected in `Problems`) and `SpecError`,
a spec (or fixture) the server refuses.

A problem names the file and the place in it: a JSON pointer (`/paths/~1pets/get`), or
`line N, column M` where the file could not even be parsed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger("mockserver.spec")

MAX_MESSAGE = 300
"""Longest message a problem carries: a finding about a big subtree never dumps it."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One defect of a spec: where (file, place) and what."""

    source: str
    place: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.source}: {self.place}: {self.message}"
            if self.place
            else (f"{self.source}: {self.message}")
        )


class SpecError(Exception):
    """A spec (or fixture) the server refuses to start with: names the file and the place.

    `problems` holds every problem found when there were several (`validate`, `--strict`);
    `source`, `place` and `message` are the first one's.
    """

    def __init__(
        self, source: Path | str, place: str, message: str, problems: Iterable[Problem] = ()
    ) -> None:
        super().__init__(f"{source}: {place}: {message}" if place else f"{source}: {message}")
        self.source = str(source)
        self.place = place
        self.message = message
        self.problems: tuple[Problem, ...] = tuple(problems) or (
            Problem(self.source, place, message),
        )

    @classmethod
    def of(cls, problems: Iterable[Problem]) -> SpecError:
        """One error that lists every problem (its text has one line per problem)."""
        found = list(problems)
        first = found[0]
        error = cls(first.source, first.place, first.message, found)
        if len(found) > 1:
            error.args = ("\n".join(str(p) for p in found),)
        return error


class Problems:
    """The warnings of one load: every spec defect that did not stop it.

    `warn` records a problem; with `echo`, each is also logged (`mockserver.spec`) as it
    is found, which is what a caller that does not list them gets.
    """

    def __init__(self, echo: bool = False) -> None:
        self.items: list[Problem] = []
        self.echo = echo
        self._seen: set[Problem] = set()

    def warn(self, source: Path | str, place: str, message: str) -> None:
        text = " ".join(message.split())
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 3] + "..."
        problem = Problem(str(source), place, text)
        if problem in self._seen:
            return
        self._seen.add(problem)
        self.items.append(problem)
        if self.echo:
            LOG.warning("%s", problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.warn(problem.source, problem.place, problem.message)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) to the node reached through `parts`."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def join(base: str, *parts: str | int) -> str:
    """`base` (a JSON pointer) extended by `parts`."""
    return base + pointer(*parts)


Trail = tuple[Any, str | int] | None
"""Where a walk of a document is, kept cheap: `(the parent's trail, key)`, None at the
start; written as a pointer (`trail_pointer`) only where a message needs one."""


def trail_pointer(base: str, trail: Trail) -> str:
    """`base` (a JSON pointer) extended by the keys along `trail`."""
    parts: list[str | int] = []
    while trail is not None:
        trail, key = trail
        parts.append(key)
    return base + pointer(*reversed(parts))
