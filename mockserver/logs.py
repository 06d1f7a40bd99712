"""The server's own lines (start-up, warnings, errors), as text or as JSON.

With `--log-format json` every line the server writes is one JSON object, from the
first: the line announcing the URL, Python's warnings and errors, and gunicorn's own
lines (its error log goes through `JsonFormatter` too), so `jq` reads the whole output.
The one line per request is `journal.log_line`'s.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any


def record(level: str, message: str, **extra: Any) -> str:
    """One JSON line: `time` (UTC, ISO 8601, to the millisecond), `level`, `message`,
    then `extra`."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    return json.dumps(
        {"time": stamp, "level": level, "message": message, **extra}, ensure_ascii=False
    )


def line(log_format: str, level: str, message: str, **extra: Any) -> str:
    """`message` as it is (text), or as a JSON `record`."""
    return record(level, message, **extra) if log_format == "json" else message


class JsonFormatter(logging.Formatter):
    """A `logging` record as one JSON line: time, level, logger, message (and the
    exception, if any, as text inside the object)."""

    def format(self, entry: logging.LogRecord) -> str:
        extra: dict[str, Any] = {"logger": entry.name}
        if entry.exc_info:
            extra["exception"] = self.formatException(entry.exc_info)
        return record(entry.levelname.lower(), entry.getMessage(), **extra)


def configure(log_format: str) -> None:
    """Warnings and errors (Python's `warnings` included) on stderr, as text or JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)  # Python's warnings too, as lines of the same form
