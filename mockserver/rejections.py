"""Readable rejections: a documented error body filled from the violations, and the
short `X-Mock-Violations` header every rejected or forced answer carries.

`fill` takes a body generated from the error response's schema and writes what was
wrong into the fields whose names say so, keeping the body valid against its schema:

    a string field named like message, detail, error, title or description
                                    ->  the violations, as a sentence (field and rule)
    a field named code or status    ->  the status, as a number or as text, as its
                                        generated value is
    an array of objects with such fields (errors, details, problems, ...)
                                    ->  one item per violation, each item filled from
                                        its own violation (message, field, location, rule)
    anything else                   ->  as generated

Each change is kept only if the body stays valid: `fill` first tries them all at once,
and when the schema refuses that (a `maxLength`, a `maxItems`, an `enum`) it tries them
one by one, keeping those the schema accepts, a short text where the sentence is too
long. A body with no validator is filled the same way, type for type.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mockserver.problems import status_phrase
from mockserver.validation import Violation

HEADER = "X-Mock-Violations"
MAX_HEADER = 512
"""Longest `X-Mock-Violations` value, in characters (the journal keeps the full list)."""
SHORT = 80
"""A message field's fallback text is cut to this many characters."""

_WORDS = re.compile(r"[a-z0-9]+")
_MESSAGE_WORDS = ("message", "msg", "detail", "details", "error", "title", "description")
_CODE_WORDS = ("code", "status", "statuscode", "httpstatus", "httpcode", "errorcode")
_FIELD_WORDS = ("field", "param", "parameter", "property", "name", "pointer", "path", "key")
_LOCATION_WORDS = ("in", "location", "source")
_RULE_WORDS = ("rule", "reason", "keyword", "constraint", "validator")
_NOT_VISIBLE = re.compile(r"[^\x20-\x7e]")

Validate = Callable[[Any], bool]


# -- names --------------------------------------------------------------------------------
def _words(key: str) -> tuple[str, ...]:
    """`errorMessage` -> ("error", "message"); `error_description` -> ("error", "description")."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return tuple(_WORDS.findall(spaced.lower()))


def _kind(key: str) -> str:
    """What a field's name says it holds: code, message, field, location, rule or ''."""
    words = _words(key)
    if not words:
        return ""
    joined = "".join(words)
    if joined in _CODE_WORDS or words[-1] in ("code", "status"):
        return "code"
    if words[-1] in _MESSAGE_WORDS or words[-1] in ("errors", "messages"):
        return "message"
    if joined in _LOCATION_WORDS:
        return "location"
    if words[-1] in _FIELD_WORDS:
        return "field"
    if joined in _RULE_WORDS:
        return "rule"
    return ""


# -- texts --------------------------------------------------------------------------------
def sentence(violations: tuple[Violation, ...]) -> str:
    """Every violation's message, in order: "body field 'name': 'x' is too short; ..."."""
    return "; ".join(v.message for v in violations)


def _where(violation: Violation) -> str:
    if not violation.name:
        return violation.location
    return f"{violation.location} {violation.name}"


def header_value(violations: tuple[Violation, ...], limit: int = MAX_HEADER) -> str:
    """`body name: required; query flag: type`, visible ASCII, at most `limit` characters;
    `none` when nothing was wrong. A list cut short ends with `... (N more)`."""
    if not violations:
        return "none"
    parts = [_visible(f"{_where(v)}: {v.rule}") for v in violations]
    out = ""
    for index, part in enumerate(parts):
        candidate = f"{out}; {part}" if out else part
        rest = len(parts) - index - 1
        tail = f"; ... ({rest} more)" if rest else ""
        if len(candidate) + len(tail) > limit:
            more = f"... ({len(parts) - index} more)"
            return (f"{out}; {more}" if out else more)[:limit]
        out = candidate
    return out


def _visible(text: str) -> str:
    """Visible ASCII only: anything else becomes `?`, so the value is a valid header."""
    return _NOT_VISIBLE.sub("?", text)


def _short(text: str) -> str:
    return text if len(text) <= SHORT else text[: SHORT - 3] + "..."


# -- filling ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Change:
    """One substitution: `node[key]` becomes the first of `candidates` the schema takes."""

    node: Any
    key: Any
    original: Any
    candidates: list[Any]


def fill(
    body: Any, status: int, violations: tuple[Violation, ...], validate: Validate | None
) -> Any:
    """`body` (generated from the error schema) with the violations written into it;
    with no violations (a forced error status), only its code and status fields."""
    if not isinstance(body, Mapping | list):
        return body
    accepts: Validate = validate or _always
    work = copy.deepcopy(body)
    changes = list(_changes(work, status, violations, sentence(violations)))
    if not changes:
        return body
    for change in changes:
        change.node[change.key] = change.candidates[0]
    if accepts(work):
        return work
    for change in changes:
        change.node[change.key] = change.original
    for change in changes:  # one by one: keep what the schema accepts
        for candidate in change.candidates:
            change.node[change.key] = candidate
            if accepts(work):
                break
        else:
            change.node[change.key] = change.original
    return work


def _always(_: Any) -> bool:
    return True


def _changes(
    node: Any, status: int, violations: tuple[Violation, ...], text: str
) -> Iterator[_Change]:
    if isinstance(node, list):
        for item in node:
            yield from _changes(item, status, violations, text)
        return
    if not isinstance(node, dict):
        return
    for key in list(node):
        value = node[key]
        if violations and _error_objects(value):
            items = [_item(copy.deepcopy(value[0]), status, v) for v in violations]
            first = [items[0], *value[1:]]
            yield _Change(node, key, value, [items, first])
            continue
        kind = _kind(str(key))
        if violations and kind == "message" and _texts(value):  # `errors: ["...", "..."]`
            texts = [v.message for v in violations]
            yield _Change(node, key, value, [texts, texts[:1]])
            continue
        if isinstance(value, dict | list):
            yield from _changes(value, status, violations, text)
            continue
        if violations and kind == "message" and isinstance(value, str):
            summary = _short(header_value(violations[:1]))
            yield _Change(
                node,
                key,
                value,
                [text, _short(text), summary, status_phrase(status), "invalid request", "invalid"],
            )
        elif kind == "code" and not isinstance(value, bool):
            if isinstance(value, int | float):
                yield _Change(node, key, value, [status])
            elif isinstance(value, str):
                yield _Change(node, key, value, [str(status)])


def _error_objects(value: Any) -> bool:
    """An array of objects whose first item has a message-like or field-like member."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(i, dict) for i in value)
        and any(_kind(str(k)) in ("message", "field") for k in value[0])
    )


def _texts(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, str) for i in value)


def _item(item: dict[Any, Any], status: int, violation: Violation) -> dict[Any, Any]:
    """One error object of an array, filled from its own violation."""
    for key, value in list(item.items()):
        kind = _kind(str(key))
        if isinstance(value, bool) or not kind:
            continue
        if kind == "code" and isinstance(value, int | float):
            item[key] = status
        elif not isinstance(value, str):
            continue
        elif kind == "message":
            item[key] = violation.message
        elif kind == "field":
            item[key] = violation.name or violation.location
        elif kind == "location":
            item[key] = violation.location
        elif kind in ("rule", "code"):
            item[key] = violation.rule
    return item
