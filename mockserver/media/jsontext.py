"""JSON and `+json` bodies: strict reading, compact UTF-8 writing."""

from __future__ import annotations

import json
import math
from typing import Any

from mockserver.media.codec import BodyError, MediaFacts, Reader, Writer

_ENCODER = json.JSONEncoder(ensure_ascii=False)
"""`json.dumps(body, ensure_ascii=False)`, with the encoder built once, not per answer."""


def write_json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


def parse_json(data: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no duplicate keys, bounded nesting."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError("encoding", f"the body is not valid UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise BodyError("syntax", "the body is not valid JSON: it starts with a byte order mark")
    try:
        return _STRICT.decode(text)
    except json.JSONDecodeError as exc:
        raise BodyError(
            "syntax",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        ) from None
    except RecursionError:
        raise BodyError("depth", "the body is nested too deeply to be read") from None
    except ValueError as exc:
        raise BodyError("syntax", f"the body is not valid JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return out


def _finite_float(text: str) -> float:
    """A JSON number as a float; one a float cannot hold (`1e400`) is refused, never `inf`."""
    value = float(text)
    if math.isinf(value):
        raise BodyError(
            "range", f"the body holds the number {text[:40]}, out of the range of a double"
        )
    return value


_STRICT = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, object_pairs_hook=_no_duplicates
)


class JsonCodec:
    family = "json"

    def writer(self, facts: MediaFacts) -> Writer:
        return write_json

    def reader(self, facts: MediaFacts) -> Reader:
        return parse_json
