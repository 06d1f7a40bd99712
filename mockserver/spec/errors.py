"""What loading reports: `SpecError`, a spec (or fixture) the server refuses."""

from __future__ import annotations

from pathlib import Path


class SpecError(Exception):
    """A spec (or fixture) the server refuses to start with: names the file and the place."""

    def __init__(self, source: Path | str, place: str, message: str) -> None:
        super().__init__(f"{source}: {place}: {message}" if place else f"{source}: {message}")
        self.source = str(source)
        self.place = place
        self.message = message
