"""Defaults the command line shows before anything heavy is imported.

`mockserver serve` starts its spec check in a child process before importing Flask,
Faker, jsonschema and gunicorn (`spec.check.SpecCheck`); its argument parser needs these
values first, so they live here, in a module that imports nothing of the server.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SEED = 4010
DEFAULT_MAX_BODY = 5 * 1024 * 1024
DEFAULT_JOURNAL_SIZE = 10_000
"""Journal entries kept per session."""
DEFAULT_JOURNAL_BYTES = 256 * 1024 * 1024
"""Bytes of stored journal entries kept, all sessions together."""
DEFAULT_MAX_SESSIONS = 10_000
DEFAULT_SESSION_TTL = 24 * 3600.0
DEFAULT_MAX_HEADER = 16 * 1024
"""Longest header, in bytes, unless a loaded spec documents a longer one."""
DEFAULT_MAX_REQUEST_LINE = 64 * 1024
DEFAULT_MAX_HEAD = 1024 * 1024
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def bundled(name: str) -> Path:
    """`specs` or `fixtures` of a source checkout, else the copy installed in the package."""
    checkout = PROJECT_ROOT / name
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "bundled" / name


def default_workers() -> int:
    """One worker process per core, at least 1, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))
