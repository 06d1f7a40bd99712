"""Where a parameter's raw text comes from, gathered once per request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_plus


@dataclass(frozen=True, slots=True)
class Sources:
    """`path` holds the percent-decoded path values, `raw_path` them as sent; `query`
    the percent-decoded values by name, in order; `raw_query` the query string as sent
    (for allowReserved); `headers` lower-cased names; `cookies` values by name, in
    order (a name may be sent twice)."""

    path: Mapping[str, str] = field(default_factory=dict)
    raw_path: Mapping[str, str] = field(default_factory=dict)
    """The path values as sent: styles split these, then decode each piece."""
    query: Mapping[str, list[str]] = field(default_factory=dict)
    raw_query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, list[str]] = field(default_factory=dict)


def parse_cookies(header: str | None) -> dict[str, list[str]]:
    """`a=1; b="2"; a=3` -> {"a": ["1", "3"], "b": ["2"]}; values percent-decoded
    (OpenAPI's form style), surrounding quotes removed, pairs without `=` ignored."""
    jar: dict[str, list[str]] = {}
    if not header:
        return jar
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        jar.setdefault(name, []).append(unquote(value, errors="replace"))
    return jar


def raw_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The query string's pairs with names decoded and values exactly as sent."""
    pairs = []
    for chunk in raw_query.split("&"):
        if not chunk:
            continue
        name, _, value = chunk.partition("=")
        pairs.append((unquote_plus(name, errors="replace"), value))
    return pairs
