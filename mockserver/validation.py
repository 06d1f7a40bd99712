"""Check a request against its operation: a pure function from request to findings.

`check(operation, request, path_params, credentials)` decodes parameters by their
declared style and type (`params/`), checks credentials (`security.py`), the content
type, and reads the body with its media type's codec (`media/`: JSON, XML, form,
multipart, text, binary) before checking it against its schema. Every problem found
is a `Violation` (location, name, rule, message). It never raises for a client's
mistake; which documented status the findings become is the responder's decision,
not this module's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mockserver import params as parameters
from mockserver import security
from mockserver.media import BodyError
from mockserver.media.jsontext import parse_json as _parse_json
from mockserver.params import MISSING, ParamError, Sources
from mockserver.schemas import SchemaViolation, TooDeep
from mockserver.spec import BodyMedia, Operation, Param

MAX_VIOLATIONS = 50
MAX_MESSAGE = 300
NO_CREDENTIALS: security.Expected = {}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A plain snapshot of what the client sent; no framework types past this point.

    `query` is the query string's pairs, percent-decoded; `raw_query` the query string
    as sent (allowReserved is judged on it)."""

    method: str
    path: str
    """Decoded (bad escapes replaced): what the journal and messages show."""
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw_query: str = ""
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
    """What `check` found: violations, unmet security, and the decoded values."""

    violations: tuple[Violation, ...]
    security: tuple[Violation, ...]
    params: Mapping[str, Any]
    body: Any

    @property
    def valid(self) -> bool:
        return not self.violations and not self.security


def check(
    op: Operation,
    request: RequestRecord,
    path_params: Mapping[str, str],
    credentials: security.Expected = NO_CREDENTIALS,
    raw_path_params: Mapping[str, str] | None = None,
) -> Checked:
    """`credentials`: security scheme name -> the only values accepted for it;
    `raw_path_params` the path values as sent (`Match.raw_path_params`)."""
    query: dict[str, list[str]] = {}
    for key, value in request.query:
        query.setdefault(key, []).append(value)
    cookie_header = request.header("cookie")
    sources = Sources(
        path=path_params,
        raw_path=raw_path_params if raw_path_params is not None else path_params,
        query=query,
        raw_query=request.raw_query,
        headers=request.headers,
        cookies=parameters.parse_cookies(cookie_header) if cookie_header else {},
    )
    violations: list[Violation] = []
    decoded: dict[str, Any] = {}
    for param in op.params:
        value = _check_param(param, sources, violations)
        if value is not MISSING:
            decoded[param.name] = value
    body, body_violations = _check_body(op, request)
    violations.extend(body_violations)
    if len(violations) > MAX_VIOLATIONS:
        extra = len(violations) - MAX_VIOLATIONS
        violations = violations[:MAX_VIOLATIONS]
        violations.append(Violation("request", "", "limit", f"and {extra} more problems"))
    unmet: tuple[Violation, ...] = ()
    if op.security:
        findings = security.check(op.security, request.headers, query, sources.cookies, credentials)
        unmet = tuple(Violation("security", f.credential.name, f.rule, f.message) for f in findings)
    return Checked(tuple(violations), unmet, decoded, body)


# -- parameters --------------------------------------------------------------------------
def _check_param(param: Param, sources: Sources, violations: list[Violation]) -> Any:
    where = f"{param.location} parameter '{param.name}'"
    try:
        value = parameters.decode(param, sources)
    except ParamError as exc:
        violations.append(Violation(param.location, param.name, exc.rule, f"{where} {exc.message}"))
        return MISSING
    if value is MISSING:
        if param.required and not _sent_empty(param, sources):
            violations.append(
                Violation(param.location, param.name, "required", f"{where} is required")
            )
        return MISSING
    if param.location == "query" and not param.allow_reserved and sources.raw_query:
        found = parameters.unencoded_reserved(
            sources.raw_query, _query_names(param, value), _own_delimiter(param)
        )
        if found is not None:
            name, char = found
            violations.append(
                Violation(
                    "query",
                    param.name,
                    "allowReserved",
                    f"{where}: the reserved character {char!r} in {name!r} must be "
                    f"percent-encoded (%{ord(char):02X}); the spec does not set allowReserved",
                )
            )
    for error in param.validator.iter_errors(value):
        field_name = f"{param.name}.{error.field}" if error.field else param.name
        violations.append(
            Violation(
                param.location,
                field_name,
                error.rule,
                _clip(f"{where}: {error.message}"),
            )
        )
    return value


def _sent_empty(param: Param, sources: Sources) -> bool:
    """A required query parameter sent empty under `allowEmptyValue: true` is sent."""
    return param.allow_empty is True and param.name in sources.query


def _query_names(param: Param, value: Any) -> list[str]:
    if param.style == "deepObject" and isinstance(value, dict):
        return [f"{param.name}[{key}]" for key in value]
    if param.kind == "object" and param.explode and isinstance(value, dict):
        return list(value)
    return [param.name]


def _own_delimiter(param: Param) -> str:
    """The reserved character the parameter's own style writes between items."""
    if param.kind in ("array", "object") and param.style == "form" and not param.explode:
        return ","
    return ""


def _clip(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


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
    if media.reader is None:
        return request.body, []
    try:
        body = media.reader(request.body)
    except BodyError as exc:
        name = getattr(exc, "field", "")
        return None, [Violation("body", name, exc.rule, _clip(exc.message))]
    if media.validator is None or isinstance(body, bytes):
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
    """Strict JSON (the JSON codec's reader): UTF-8 only, no NaN/Infinity, no duplicate
    keys, bounded nesting; raises `BodyError`."""
    return _parse_json(data)
