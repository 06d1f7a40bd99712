"""Check a request against its operation: a pure function from request to findings.

`check(operation, request, path_params)` decodes parameters by their declared style
and type, checks credentials, content type, JSON syntax and the body schema, and
returns every problem found as a `Violation` (location, name, rule, message). It
never raises for a client's mistake; which documented status the findings become
is the responder's decision, not this module's.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any

from mockserver.schemas import SchemaViolation, TooDeep
from mockserver.spec import BodyMedia, Operation, Param

MAX_VIOLATIONS = 50
MAX_MESSAGE = 300
_INTEGER = re.compile(r"-?\d{1,4000}")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A plain snapshot of what the client sent; no framework types past this point."""

    method: str
    path: str
    """Decoded (bad escapes replaced): what the journal and messages show."""
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw_path: str = ""
    """As sent, percent-escapes kept, what the router splits ("" when only `path` is
    known)."""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Violation:
    location: str
    name: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"in": self.location, "name": self.name, "rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class Checked:
    """What `check` found: violations, missing credentials, and the decoded values."""

    violations: tuple[Violation, ...]
    security: tuple[Violation, ...]
    params: Mapping[str, Any]
    body: Any

    @property
    def valid(self) -> bool:
        return not self.violations and not self.security


class _Invalid(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def check(op: Operation, request: RequestRecord, path_params: Mapping[str, str]) -> Checked:
    violations: list[Violation] = []
    decoded: dict[str, Any] = {}
    cookies = _cookies(request.header("cookie"))
    query: dict[str, list[str]] = {}
    for key, value in request.query:
        query.setdefault(key, []).append(value)
    for param in op.params:
        raw = _raw_values(param, path_params, query, request, cookies)
        if raw is None:
            if param.required:
                violations.append(
                    Violation(
                        param.location,
                        param.name,
                        "required",
                        f"{param.location} parameter '{param.name}' is required",
                    )
                )
            continue
        try:
            value = _decode(param, raw)
        except _Invalid as exc:
            violations.append(
                Violation(
                    param.location,
                    param.name,
                    exc.rule,
                    f"{param.location} parameter '{param.name}' {exc.message}",
                )
            )
            continue
        for error in param.validator.iter_errors(value):
            violations.append(
                Violation(
                    param.location,
                    param.name,
                    error.rule,
                    _clip(f"{param.location} parameter '{param.name}': {error.message}"),
                )
            )
        decoded[param.name] = value
    body, body_violations = _check_body(op, request)
    violations.extend(body_violations)
    if len(violations) > MAX_VIOLATIONS:
        extra = len(violations) - MAX_VIOLATIONS
        violations = violations[:MAX_VIOLATIONS]
        violations.append(Violation("request", "", "limit", f"and {extra} more problems"))
    return Checked(tuple(violations), _check_security(op, request, query, cookies), decoded, body)


# -- parameters --------------------------------------------------------------------------
def _cookies(header: str | None) -> dict[str, str]:
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {key: morsel.value for key, morsel in jar.items()}


def _raw_values(
    param: Param,
    path_params: Mapping[str, str],
    query: Mapping[str, list[str]],
    request: RequestRecord,
    cookies: Mapping[str, str],
) -> list[str] | None:
    if param.location == "path":
        value = path_params.get(param.name)
        return None if value is None else [value]
    if param.location == "query":
        return query.get(param.name)
    if param.location == "header":
        header = request.header(param.name)
        return None if header is None else [header]
    if param.location == "cookie":
        cookie = cookies.get(param.name)
        return None if cookie is None else [cookie]
    return None


def _decode(param: Param, raw: list[str]) -> Any:
    if param.kind == "array":
        if param.location == "query" and param.explode:
            parts = raw
        else:
            separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(param.style, ",")
            parts = raw[0].split(separator) if raw[0] else []
        return [_scalar(param.item_kind, part) for part in parts]
    if len(raw) > 1:
        raise _Invalid("multiple", f"is given {len(raw)} times but takes one value")
    return _scalar(param.kind, raw[0])


def _scalar(kind: str, text: str) -> Any:
    if kind == "integer":
        if not _INTEGER.fullmatch(text):
            raise _Invalid("type", f"must be an integer, not {_show(text)}")
        return int(text)
    if kind == "number":
        try:
            value = float(text)
        except ValueError:
            raise _Invalid("type", f"must be a number, not {_show(text)}") from None
        if not math.isfinite(value):
            raise _Invalid("type", f"must be a finite number, not {_show(text)}")
        return int(value) if value.is_integer() and "." not in text else value
    if kind == "boolean":
        if text not in ("true", "false"):
            raise _Invalid("type", f"must be true or false, not {_show(text)}")
        return text == "true"
    return text


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _clip(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


# -- security ------------------------------------------------------------------------------
def _check_security(
    op: Operation,
    request: RequestRecord,
    query: Mapping[str, list[str]],
    cookies: Mapping[str, str],
) -> tuple[Violation, ...]:
    if not op.security:
        return ()
    missing_per_option = []
    for requirement in op.security:
        missing = []
        for credential in requirement:
            if credential.location == "header":
                present = bool(request.header(credential.name))
            elif credential.location == "query":
                present = bool(query.get(credential.name, [""])[0])
            else:
                present = bool(cookies.get(credential.name))
            if not present:
                missing.append(credential)
        if not missing:
            return ()
        missing_per_option.append(missing)
    first = missing_per_option[0]
    return tuple(
        Violation(
            "security",
            c.name,
            "security",
            f"missing credential: send the {c.location} '{c.name}' (security scheme '{c.scheme}')",
        )
        for c in first
    )


# -- body -------------------------------------------------------------------------------------
def _check_body(op: Operation, request: RequestRecord) -> tuple[Any, list[Violation]]:
    spec = op.body
    if spec is None:
        return None, []
    if not request.body:
        if spec.required:
            return None, [Violation("body", "", "required", "a request body is required")]
        return None, []
    declared = request.header("content-type")
    allowed = ", ".join(m.name for m in spec.media) or "(none)"
    if not declared:
        return None, [
            Violation(
                "header",
                "Content-Type",
                "content-type",
                f"the Content-Type header is missing; send one of: {allowed}",
            )
        ]
    media = _match_media(spec.media, declared)
    if media is None:
        return None, [
            Violation(
                "header",
                "Content-Type",
                "content-type",
                f"content type {_show(declared)} is not accepted; send one of: {allowed}",
            )
        ]
    if not media.is_json:
        return request.body, []
    try:
        body = parse_json(request.body)
    except _Invalid as exc:
        return None, [Violation("body", "", exc.rule, exc.message)]
    if media.validator is None:
        return body, []
    # jsonschema-rs walks the body on the native stack; parse_json bounds its nesting
    # (the interpreter's recursion limit, 1000 by default) far below what that stack
    # takes (tests/test_schemas.py checks the deepest body parse_json accepts). Its
    # errors copy the value they are about, to 255 levels: an invalid body nested deeper
    # is one `depth` finding.
    try:
        errors: list[SchemaViolation] = list(media.validator.iter_errors(body))
    except TooDeep:
        return None, [Violation("body", "", "depth", "the body is nested too deeply to be checked")]
    found = []
    for error in sorted(errors, key=_document_order):
        where = f"body field '{error.field}'" if error.field else "body"
        found.append(Violation("body", error.field, error.rule, _clip(f"{where}: {error.message}")))
    return body, found


def _document_order(error: SchemaViolation) -> list[tuple[int, int, str]]:
    """Sort key: by path, array indexes in numeric order (`[2]` before `[10]`)."""
    return [(0, part, "") if isinstance(part, int) else (1, 0, part) for part in error.path]


def _match_media(media: tuple[BodyMedia, ...], declared: str) -> BodyMedia | None:
    main = declared.split(";", 1)[0].strip().lower()
    for candidate in media:
        name = candidate.name.split(";", 1)[0].strip().lower()
        if name in (main, "*/*") or (name.endswith("/*") and main.startswith(name[:-1])):
            return candidate
    return None


def parse_json(data: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no duplicate keys, bounded nesting."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid("encoding", f"the body is not valid UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):  # json.loads names it; the decoder alone would not
        raise _Invalid("syntax", "the body is not valid JSON: it starts with a byte order mark")
    try:
        return _STRICT_JSON.decode(text)
    except json.JSONDecodeError as exc:
        raise _Invalid(
            "syntax",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        ) from None
    except RecursionError:
        raise _Invalid("depth", "the body is nested too deeply to be read") from None
    except ValueError as exc:
        raise _Invalid("syntax", f"the body is not valid JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # in C; only a short count says whether a key came twice
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return out


_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
"""Built once: `json.loads` with these arguments builds a decoder (and its scanner) at
every call, ~2.5 µs of a Huawei request's 22 µs parse."""
