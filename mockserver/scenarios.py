"""Scripted scenarios: rules that make chosen calls fail, or answer as a test needs.

A scenario document (YAML or JSON)::

    scenarios:
      - name: rate-limited-once          # optional, shown in errors and the journal
        match:
          operationId: reportEvents       # or `method` + `path` (the spec's template)
          api: huawei-ces-events          # optional, when an operationId is not unique
          params: {project_id: p1}        # optional, path parameters, exact values
          headers: {X-Tenant: acme}       # optional, exact values
          query: {page_size: "5"}         # optional, one of the values sent (a list: all)
          body: {type: TEAM_CREATED}      # optional, a JSON subset of the request body
        sequence:                         # call 1 gets the first answer, call 2 the second...
          - {status: 429, headers: {Retry-After: "1"}}
        # or  times: N    with  respond: {...}   -- the first N matching calls
        # or  probability: 0.1  with respond     -- a seeded share of matching calls
        # or  respond alone                      -- every matching call

An answer (`respond` or a sequence step) takes `status`, `example`, `dynamic`, `delay`
(ms), `fault`, `headers` and `body` (with `validate: false` to skip the schema check).
Every value is checked when the document is loaded, against the operation it matches,
exactly as the control headers are; a `body` against that operation's response schema
for the answer's status. Only the checked rules are kept: the document stored and shown
is rebuilt from them, never the text as sent.

Rules are tried in order; the first that fires answers. Each rule counts the matching
calls that reach it, in the shared `Store`, so counts hold across worker
processes. A probability draw is a hash of (seed, rule, call number): the same run
gives the same calls the same fate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mockserver.controls import FAULTS, MAX_DELAY_MS, Controls, example_names
from mockserver.fixtures import FixtureStore
from mockserver.schemas import error_path
from mockserver.spec import Operation
from mockserver.state import Store
from mockserver.validation import RequestRecord
from mockserver.yamlsafe import YamlError, load_yaml

if TYPE_CHECKING:
    from mockserver.responder import Reply

_TOP_KEYS = {"scenarios"}
_ANSWER_KEYS = {"status", "example", "dynamic", "delay", "fault", "headers", "body", "validate"}
_RULE_KEYS = {"name", "match", "respond", "sequence", "times", "probability", "seed"}
_MATCH_KEYS = {"operationId", "api", "method", "path", "params", "headers", "query", "body"}

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000
"""Limits of a scenario document, enforced while it is parsed (`yamlsafe`)."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20\x09\x21-\x7e]*[\x21-\x7e])?)?")
FRAMING_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)
"""Headers that frame the message or the connection: the mock sets them itself."""

NO_BODY: Any = object()
"""Marks an answer, or a match, with no `body`."""


class ScenarioError(ValueError):
    """A scenario document that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Answer:
    controls: Controls
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = NO_BODY
    body_status: int = 0
    """The status `body` was checked for: it replaces the body of that status only."""

    def apply(self, reply: Reply) -> Reply:
        """`reply` with this answer's headers, and its body where the status is the one
        the body was written for (an invalid request still gets the documented error)."""
        if self.body is not NO_BODY and reply.status == self.body_status:
            reply = dataclasses.replace(reply, body=self.body, source="scenario", example=None)
        if self.headers:
            reply = dataclasses.replace(reply, headers=reply.headers + self.headers)
        return reply


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    name: str
    operations: frozenset[tuple[str, str]]
    headers: Mapping[str, str]
    query: Mapping[str, str | tuple[str, ...]]
    answers: tuple[Answer, ...]
    mode: str  # "always" | "times" | "sequence" | "probability"
    limit: int = 0
    probability: float = 1.0
    seed: int = 0
    params: Mapping[str, str] = field(default_factory=dict)
    body: Any = NO_BODY

    def matches(
        self,
        op: Operation,
        request: RequestRecord,
        path_params: Mapping[str, str] | None = None,
        sent_body: _SentBody | None = None,
    ) -> bool:
        if (op.api, op.operation_id) not in self.operations:
            return False
        for name, value in self.headers.items():
            if request.header(name) != value:
                return False
        if self.params:
            given = path_params or {}
            if any(given.get(k) != v for k, v in self.params.items()):
                return False
        for name, wanted in self.query.items():
            values = tuple(v for k, v in request.query if k == name)
            if values != wanted if isinstance(wanted, tuple) else wanted not in values:
                return False
        if self.body is not NO_BODY:
            parsed = (sent_body or _SentBody(request.body)).value()
            if parsed is NO_BODY or not contains(parsed, self.body):
                return False
        return True

    def answer_for(self, call: int) -> Answer | None:
        """The answer for the `call`-th matching call (1-based), or None if it does not fire."""
        if self.mode == "always":
            return self.answers[0]
        if self.mode == "times":
            return self.answers[0] if call <= self.limit else None
        if self.mode == "sequence":
            return self.answers[call - 1] if call <= len(self.answers) else None
        digest = hashlib.sha256(f"{self.seed}:{self.index}:{call}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        return self.answers[0] if draw < self.probability else None


class _SentBody:
    """A request body read as strict JSON once, however many rules ask; NO_BODY when it
    is not JSON."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._value: Any = None
        self._read = False

    def value(self) -> Any:
        if not self._read:
            self._read = True
            try:
                self._value = _STRICT_JSON.decode(self.data.decode("utf-8"))
            except (ValueError, RecursionError):
                self._value = NO_BODY
        return self._value


def _refuse(text: str) -> Any:
    raise ValueError(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


_STRICT_JSON = json.JSONDecoder(parse_constant=_refuse, parse_float=_finite)


def contains(actual: Any, expected: Any) -> bool:
    """`expected` is a JSON subset of `actual`: mappings by key (recursively), lists item
    by item with the same length, scalars equal with the same JSON type (`1` is not
    `true`, `1` matches `1.0`)."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and not isinstance(actual, int | float):
        return False
    return bool(actual == expected)


@dataclass(frozen=True, slots=True)
class Scenarios:
    rules: tuple[Rule, ...] = ()
    document: Any = None
    """The document rebuilt from the checked rules: what is stored and shown."""


@dataclass(slots=True)
class _Cache:
    version: int = -1
    changes: int = -1
    """`Store.scenarios_changes()` when `version` was read."""
    compiled: Scenarios = field(default_factory=Scenarios)


def parse_document(text: str, source: str = "the scenario document") -> Any:
    """YAML or JSON text as a document, bounded while it is parsed (size, nesting,
    aliases as expanded) and JSON-shaped (no dates, binary, sets, NaN)."""
    try:
        return load_yaml(
            text,
            source=source,
            max_bytes=MAX_DOCUMENT_BYTES,
            max_depth=MAX_DEPTH,
            max_nodes=MAX_NODES,
        )
    except YamlError as exc:
        place = f"line {exc.line}, column {exc.column}: " if exc.line else ""
        raise ScenarioError(f"{place}{exc.problem}") from None


def compile_document(
    document: Any, operations: tuple[Operation, ...], fixtures: FixtureStore
) -> Scenarios:
    """Check a whole document against the loaded operations; raise `ScenarioError`."""
    if document is None:
        return Scenarios()
    if not isinstance(document, Mapping) or not isinstance(document.get("scenarios"), list):
        raise ScenarioError("the document must be a mapping with a `scenarios` list")
    unknown = set(document) - _TOP_KEYS
    if unknown:
        raise ScenarioError(
            f"unknown top-level keys {_names(unknown)}; a document has only `scenarios`"
        )
    rules: list[Rule] = []
    cleaned: list[dict[str, Any]] = []
    for i, raw in enumerate(document["scenarios"]):
        rule, clean = _compile_rule(i, raw, operations, fixtures)
        rules.append(rule)
        cleaned.append(clean)
    return Scenarios(tuple(rules), {"scenarios": cleaned})


def _names(keys: Any) -> list[str]:
    return sorted(str(k)[:60] for k in keys)


def _compile_rule(
    index: int, raw: Any, operations: tuple[Operation, ...], fixtures: FixtureStore
) -> tuple[Rule, dict[str, Any]]:
    where = f"scenarios[{index}]"
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: a rule is a mapping")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {_names(unknown)}; known: {sorted(_RULE_KEYS)}")
    clean: dict[str, Any] = {}
    name = f"rule {index}"
    if "name" in raw:
        if not isinstance(raw["name"], str) or not 0 < len(raw["name"]) <= 200:
            raise ScenarioError(f"{where}: `name` is text of 1 to 200 characters")
        name = clean["name"] = raw["name"]
    where = f"{where} ({name})"
    match = raw.get("match")
    if not isinstance(match, Mapping):
        raise ScenarioError(f"{where}: `match` is required (operationId, or method and path)")
    unknown = set(match) - _MATCH_KEYS
    if unknown:
        raise ScenarioError(
            f"{where}: unknown match keys {_names(unknown)}; known: {sorted(_MATCH_KEYS)}"
        )
    matched, clean_match = _matching_operations(where, match, operations)
    headers = {
        k.lower(): v for k, v in _text_map(f"{where}: match.headers", match, "headers").items()
    }
    query: dict[str, str | tuple[str, ...]] = {}
    for key, value in _mapping(f"{where}: match.query", match.get("query")).items():
        if isinstance(value, list):
            query[key] = tuple(_text(f"{where}: match.query.{key}", v) for v in value)
        else:
            query[key] = _text(f"{where}: match.query.{key}", value)
    params = _text_map(f"{where}: match.params", match, "params")
    for op in matched:
        known = [p.name for p in op.params if p.location == "path"]
        wrong = sorted(set(params) - set(known))
        if wrong:
            raise ScenarioError(
                f"{where}: {op.operation_id} ({op.path}) has no path parameter "
                f"{', '.join(map(repr, wrong))}; its path parameters: "
                f"{', '.join(known) or '(none)'}"
            )
    if headers:
        clean_match["headers"] = headers
    if query:
        clean_match["query"] = {k: list(v) if isinstance(v, tuple) else v for k, v in query.items()}
    if params:
        clean_match["params"] = params
    body_match = match.get("body", NO_BODY)
    if body_match is not NO_BODY:
        clean_match["body"] = body_match
    clean["match"] = clean_match

    modes = [k for k in ("sequence", "times", "probability") if k in raw]
    if len(modes) > 1:
        raise ScenarioError(f"{where}: use one of sequence, times or probability, not {modes}")
    mode = modes[0] if modes else "always"
    if mode == "sequence":
        steps = raw["sequence"]
        if not isinstance(steps, list) or not steps:
            raise ScenarioError(f"{where}: `sequence` is a non-empty list of answers")
        compiled = [
            _answer(f"{where}.sequence[{i}]", s, matched, fixtures) for i, s in enumerate(steps)
        ]
        answers = tuple(a for a, _ in compiled)
        clean["sequence"] = [c for _, c in compiled]
    else:
        if "respond" not in raw:
            raise ScenarioError(f"{where}: `respond` is required with {mode}")
        answer, clean["respond"] = _answer(f"{where}.respond", raw["respond"], matched, fixtures)
        answers = (answer,)
    limit = 0
    if mode == "times":
        limit = raw["times"]
        if not _is_int(limit) or limit < 1:
            raise ScenarioError(f"{where}: `times` is a whole number of at least 1")
        clean["times"] = limit
    probability = 1.0
    if mode == "probability":
        probability = raw["probability"]
        if (
            isinstance(probability, bool)
            or not isinstance(probability, int | float)
            or not 0 <= probability <= 1
        ):
            raise ScenarioError(f"{where}: `probability` is a number from 0 to 1")
        clean["probability"] = probability
    seed = raw.get("seed", 0)
    if not _is_int(seed) or abs(seed) > 2**63:
        raise ScenarioError(f"{where}: `seed` is an integer")
    if "seed" in raw:
        clean["seed"] = seed
    rule = Rule(
        index,
        name,
        frozenset((o.api, o.operation_id) for o in matched),
        headers,
        query,
        answers,
        mode,
        limit,
        float(probability),
        seed,
        params,
        body_match,
    )
    return rule, clean


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where} is a mapping of names to values")
    return value


def _text(where: str, value: Any) -> str:
    """A scalar as the text it is sent as: `5` is "5", `true` is "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise ScenarioError(f"{where}: a value is text or a number, not {type(value).__name__}")


def _text_map(where: str, mapping: Mapping[str, Any], key: str) -> dict[str, str]:
    return {str(k): _text(f"{where}.{k}", v) for k, v in _mapping(where, mapping.get(key)).items()}


def _matching_operations(
    where: str, match: Mapping[str, Any], operations: tuple[Operation, ...]
) -> tuple[list[Operation], dict[str, Any]]:
    for key in ("operationId", "api", "method", "path"):
        if key in match and not isinstance(match[key], str):
            raise ScenarioError(f"{where}: match.{key} is text")
    api = match.get("api")
    clean: dict[str, Any] = {"api": api} if api is not None else {}
    if "operationId" in match:
        found = [
            o for o in operations if o.operation_id == match["operationId"] and api in (None, o.api)
        ]
        if not found:
            known = ", ".join(sorted({o.operation_id for o in operations}))
            raise ScenarioError(f"{where}: no operation {match['operationId']!r}; known: {known}")
        if len(found) > 1:
            apis = ", ".join(o.api for o in found)
            raise ScenarioError(f"{where}: {match['operationId']!r} exists in {apis}; add `api`")
        return found, {"operationId": match["operationId"], **clean}
    method = match.get("method", "").upper()
    path = match.get("path")
    if not method or not path:
        raise ScenarioError(f"{where}: match by `operationId`, or by `method` and `path`")
    found = [
        o for o in operations if o.method == method and o.path == path and api in (None, o.api)
    ]
    if not found:
        raise ScenarioError(
            f"{where}: no operation {method} {path}; {_paths_hint(method, path, operations)}"
        )
    return found, {"method": method, "path": path, **clean}


def _paths_hint(method: str, path: str, operations: tuple[Operation, ...]) -> str:
    """The alternatives, taken from the loaded specs only."""
    others = sorted({o.method for o in operations if o.path == path})
    if others:
        return f"{path} is documented for {', '.join(others)}"
    paths = sorted({o.path for o in operations if o.method == method})
    if not paths:
        return f"no loaded spec documents {method}; see GET /__mock/apis"
    shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    return f"paths are written as the spec writes them; {method} paths: {shown}"


def _answer(
    where: str, raw: Any, matched: list[Operation], fixtures: FixtureStore
) -> tuple[Answer, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: an answer is a mapping")
    unknown = set(raw) - _ANSWER_KEYS
    if unknown:
        raise ScenarioError(
            f"{where}: unknown keys {_names(unknown)}; known: {sorted(_ANSWER_KEYS)}"
        )
    clean: dict[str, Any] = {}
    status = raw.get("status")
    if status is not None:
        if not _is_int(status) or not 100 <= status <= 599:
            raise ScenarioError(
                f"{where}: `status` is a whole number from 100 to 599, not {status!r:.40}"
            )
        for op in matched:
            if op.response_for(status) is None:
                documented = [*map(str, op.statuses), *op.ranges]
                raise ScenarioError(
                    f"{where}: {op.operation_id} documents no status {status}; "
                    f"documented: {', '.join(documented)}"
                )
        clean["status"] = status
    example = raw.get("example")
    if example is not None:
        if not isinstance(example, str):
            raise ScenarioError(f"{where}: `example` is the name of an example or fixture")
        for op in matched:
            valid = example_names(op, fixtures, status or op.success_status)
            if example not in valid:
                raise ScenarioError(
                    f"{where}: {op.operation_id} has no example {example!r}; "
                    f"known: {', '.join(valid) or '(none)'}"
                )
        clean["example"] = example
    delay = raw.get("delay", 0)
    if not _is_int(delay) or not 0 <= delay <= MAX_DELAY_MS:
        raise ScenarioError(f"{where}: `delay` is whole milliseconds from 0 to {MAX_DELAY_MS}")
    if delay:
        clean["delay"] = delay
    fault = raw.get("fault")
    if fault is not None:
        if fault not in FAULTS:
            raise ScenarioError(
                f"{where}: unknown fault {fault!r:.40}; use one of: {', '.join(FAULTS)}"
            )
        clean["fault"] = fault
    dynamic = raw.get("dynamic", False)
    if not isinstance(dynamic, bool):
        raise ScenarioError(f"{where}: `dynamic` is true or false")
    if dynamic:
        clean["dynamic"] = True
    headers = _answer_headers(where, raw.get("headers"))
    if headers:
        clean["headers"] = dict(headers)
    body, body_status = _answer_body(where, raw, matched, status, example, dynamic)
    if body is not NO_BODY:
        clean["body"] = body
        if raw.get("validate") is False:
            clean["validate"] = False
    answer = Answer(
        Controls(status, example, dynamic, None, delay, fault), headers, body, body_status
    )
    return answer, clean


def _answer_headers(where: str, raw: Any) -> tuple[tuple[str, str], ...]:
    """Names are tokens, values visible ASCII (RFC 9110 §5.1, §5.5), once each; headers
    that frame the message are the mock's to set."""
    headers = _mapping(f"{where}: `headers`", raw)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for key, value in headers.items():
        name = str(key)
        if not _TOKEN.fullmatch(name):
            raise ScenarioError(
                f"{where}: header name {name[:60]!r} is not a token (RFC 9110 §5.1: ASCII "
                "letters, digits and !#$%&'*+-.^_`|~)"
            )
        lowered = name.lower()
        if lowered in FRAMING_HEADERS:
            raise ScenarioError(
                f"{where}: header {name} frames the message or the connection; the mock "
                f"sets it itself (refused: {', '.join(sorted(FRAMING_HEADERS))})"
            )
        if lowered in seen:
            raise ScenarioError(f"{where}: header {name} is given twice")
        seen.add(lowered)
        text = _text(f"{where}: header {name}", value)
        if not _FIELD_VALUE.fullmatch(text):
            raise ScenarioError(
                f"{where}: the value of header {name} must be visible ASCII, spaces and "
                "tabs inside (RFC 9110 §5.5), with no control character"
            )
        out.append((name, text))
    return tuple(out)


def _answer_body(
    where: str,
    raw: Mapping[str, Any],
    matched: list[Operation],
    status: int | None,
    example: str | None,
    dynamic: bool,
) -> tuple[Any, int]:
    validate = raw.get("validate", True)
    if not isinstance(validate, bool):
        raise ScenarioError(f"{where}: `validate` is true or false")
    if "body" not in raw:
        if "validate" in raw:
            raise ScenarioError(f"{where}: `validate` goes with a `body`")
        return NO_BODY, 0
    if example is not None or dynamic:
        raise ScenarioError(f"{where}: give a `body`, an `example` or `dynamic`, not several")
    body = raw["body"]
    body_status = 0
    for op in matched:
        body_status = status if status is not None else op.success_status
        response = op.response_for(body_status)
        media = response.default_media if response is not None else None
        if media is None:
            raise ScenarioError(
                f"{where}: status {body_status} of {op.operation_id} documents no body"
            )
        if validate and media.validator is not None:
            errors = sorted(media.validator.iter_errors(body), key=lambda e: list(e.absolute_path))
            if errors:
                first = errors[0]
                raise ScenarioError(
                    f"{where}: `body` at {error_path(first) or '(root)'} does not match the "
                    f"{body_status} response schema of {op.operation_id}: {first.message[:300]} "
                    "(add `validate: false` to send it anyway)"
                )
    return body, body_status


CACHED_SESSIONS = 1024
"""Sessions whose compiled scenarios a process keeps; one beyond that is compiled again
when it comes back (20,000 session ids grew a worker by 120 MB: issue 15, L14)."""


class ScenarioBook:
    """Scenarios per session, compiled once per version, counted in the shared store."""

    def __init__(
        self, store: Store, operations: tuple[Operation, ...], fixtures: FixtureStore
    ) -> None:
        self.store = store
        self.operations = operations
        self.fixtures = fixtures
        self._cache: dict[str, _Cache] = {}
        self._lock = threading.Lock()

    def load(self, session: str, document: Any) -> Scenarios:
        """Check `document` and store what was checked (never the document as sent)."""
        compiled = compile_document(document, self.operations, self.fixtures)
        self.store.set_scenarios(session, compiled.document)
        return compiled

    def current(self, session: str) -> Scenarios:
        changes = self.store.scenarios_changes()  # before the read: a later change shows
        with self._lock:
            cached = self._cache.get(session)
            if cached is not None and cached.changes == changes:
                return cached.compiled
        version, document = self.store.scenarios(session)
        with self._lock:
            cached = self._cache.get(session)
            if cached is not None and cached.version == version:  # another session changed
                self._cache[session] = _Cache(version, changes, cached.compiled)
                return cached.compiled
        compiled = compile_document(document, self.operations, self.fixtures)
        with self._lock:
            self._cache.pop(session, None)  # re-inserted last: the oldest go first
            self._cache[session] = _Cache(version, changes, compiled)
            while len(self._cache) > CACHED_SESSIONS:  # a worker's memory stays bounded
                self._cache.pop(next(iter(self._cache)))
        return compiled

    def pick(
        self,
        session: str,
        op: Operation,
        request: RequestRecord,
        path_params: Mapping[str, str] | None = None,
    ) -> tuple[Rule, Answer] | None:
        """The first rule that fires for this call, counting the call for each rule tried."""
        sent_body = _SentBody(request.body)
        for rule in self.current(session).rules:
            if not rule.matches(op, request, path_params, sent_body):
                continue
            call = self.store.increment(session, f"rule:{rule.index}")
            answer = rule.answer_for(call)
            if answer is not None:
                return rule, answer
        return None
