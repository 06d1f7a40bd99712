"""Scripted scenarios: rules that make chosen calls fail, for retry and resilience tests.

A scenario document (YAML or JSON)::

    scenarios:
      - name: rate-limited-once          # optional, shown in errors and the journal
        match:
          operationId: reportEvents       # or `method` + `path` (the spec's template)
          api: huawei-ces-events          # optional, when an operationId is not unique
          headers: {X-Tenant: acme}       # optional, exact values
          query: {page_size: "5"}         # optional, exact values
        sequence:                         # call 1 gets the first answer, call 2 the second...
          - {status: 429, headers: {Retry-After: "1"}}
        # or  times: N    with  respond: {...}   -- the first N matching calls
        # or  probability: 0.1  with respond     -- a seeded share of matching calls
        # or  respond alone                      -- every matching call

An answer (`respond` or a sequence step) takes `status`, `example`, `dynamic`, `delay`
(ms), `fault` and `headers`. Every value is checked when the document is loaded,
against the operations it matches, exactly as the control headers are.

Rules are tried in order; the first that fires answers. Each rule counts the matching
calls that reach it, in the shared `Store`, so counts hold across worker
processes. A probability draw is a hash of (seed, rule, call number): the same run
gives the same calls the same fate.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from mockserver.controls import FAULTS, MAX_DELAY_MS, Controls, example_names
from mockserver.fixtures import FixtureStore
from mockserver.spec import Operation
from mockserver.state import Store
from mockserver.validation import RequestRecord

_ANSWER_KEYS = {"status", "example", "dynamic", "delay", "fault", "headers"}
_RULE_KEYS = {"name", "match", "respond", "sequence", "times", "probability", "seed"}
_MATCH_KEYS = {"operationId", "api", "method", "path", "headers", "query"}


class ScenarioError(ValueError):
    """A scenario document that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Answer:
    controls: Controls
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    name: str
    operations: frozenset[tuple[str, str]]
    headers: Mapping[str, str]
    query: Mapping[str, str]
    answers: tuple[Answer, ...]
    mode: str  # "always" | "times" | "sequence" | "probability"
    limit: int = 0
    probability: float = 1.0
    seed: int = 0

    def matches(self, op: Operation, request: RequestRecord) -> bool:
        if (op.api, op.operation_id) not in self.operations:
            return False
        for name, value in self.headers.items():
            if request.header(name) != value:
                return False
        if self.query:
            sent = dict(request.query)
            if any(sent.get(k) != v for k, v in self.query.items()):
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


@dataclass(frozen=True, slots=True)
class Scenarios:
    rules: tuple[Rule, ...] = ()
    document: Any = None


@dataclass(slots=True)
class _Cache:
    version: int = -1
    changes: int = -1
    """`Store.scenarios_changes()` when `version` was read."""
    compiled: Scenarios = field(default_factory=Scenarios)


def parse_document(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML or JSON: {exc}") from None


def compile_document(
    document: Any, operations: tuple[Operation, ...], fixtures: FixtureStore
) -> Scenarios:
    """Check a whole document against the loaded operations; raise `ScenarioError`."""
    if document is None:
        return Scenarios()
    if not isinstance(document, Mapping) or not isinstance(document.get("scenarios"), list):
        raise ScenarioError("the document must be a mapping with a `scenarios` list")
    rules = tuple(
        _compile_rule(i, raw, operations, fixtures) for i, raw in enumerate(document["scenarios"])
    )
    return Scenarios(rules, document)


def _compile_rule(
    index: int, raw: Any, operations: tuple[Operation, ...], fixtures: FixtureStore
) -> Rule:
    where = f"scenarios[{index}]"
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: a rule is a mapping")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_RULE_KEYS)}")
    name = str(raw.get("name", f"rule {index}"))
    where = f"{where} ({name})"
    match = raw.get("match")
    if not isinstance(match, Mapping):
        raise ScenarioError(f"{where}: `match` is required (operationId, or method and path)")
    unknown = set(match) - _MATCH_KEYS
    if unknown:
        raise ScenarioError(
            f"{where}: unknown match keys {sorted(unknown)}; known: {sorted(_MATCH_KEYS)}"
        )
    matched = _matching_operations(where, match, operations)
    headers = {str(k).lower(): str(v) for k, v in (match.get("headers") or {}).items()}
    query = {str(k): str(v) for k, v in (match.get("query") or {}).items()}

    modes = [k for k in ("sequence", "times", "probability") if k in raw]
    if len(modes) > 1:
        raise ScenarioError(f"{where}: use one of sequence, times or probability, not {modes}")
    mode = modes[0] if modes else "always"
    if mode == "sequence":
        steps = raw["sequence"]
        if not isinstance(steps, list) or not steps:
            raise ScenarioError(f"{where}: `sequence` is a non-empty list of answers")
        answers = tuple(
            _answer(f"{where}.sequence[{i}]", s, matched, fixtures) for i, s in enumerate(steps)
        )
    else:
        if "respond" not in raw:
            raise ScenarioError(f"{where}: `respond` is required with {mode}")
        answers = (_answer(f"{where}.respond", raw["respond"], matched, fixtures),)
    limit = 0
    if mode == "times":
        limit = raw["times"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ScenarioError(f"{where}: `times` is a whole number of at least 1")
    probability = 1.0
    if mode == "probability":
        probability = raw["probability"]
        if (
            isinstance(probability, bool)
            or not isinstance(probability, int | float)
            or not 0 <= probability <= 1
        ):
            raise ScenarioError(f"{where}: `probability` is a number from 0 to 1")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ScenarioError(f"{where}: `seed` is an integer")
    return Rule(
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
    )


def _matching_operations(
    where: str, match: Mapping[str, Any], operations: tuple[Operation, ...]
) -> list[Operation]:
    if "operationId" in match:
        found = [
            o
            for o in operations
            if o.operation_id == match["operationId"] and match.get("api", o.api) == o.api
        ]
        if not found:
            known = ", ".join(sorted({o.operation_id for o in operations}))
            raise ScenarioError(f"{where}: no operation {match['operationId']!r}; known: {known}")
        if len(found) > 1:
            apis = ", ".join(o.api for o in found)
            raise ScenarioError(f"{where}: {match['operationId']!r} exists in {apis}; add `api`")
        return found
    method = str(match.get("method", "")).upper()
    path = match.get("path")
    if not method or not path:
        raise ScenarioError(f"{where}: match by `operationId`, or by `method` and `path`")
    found = [
        o
        for o in operations
        if o.method == method and o.path == path and match.get("api", o.api) == o.api
    ]
    if not found:
        raise ScenarioError(
            f"{where}: no operation {method} {path}; paths are written as in "
            "the spec, e.g. /V1.0/{project_id}/events (see GET /__mock/apis)"
        )
    return found


def _answer(where: str, raw: Any, matched: list[Operation], fixtures: FixtureStore) -> Answer:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: an answer is a mapping")
    unknown = set(raw) - _ANSWER_KEYS
    if unknown:
        raise ScenarioError(
            f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_ANSWER_KEYS)}"
        )
    status = raw.get("status")
    if status is not None:
        for op in matched:
            if status not in op.responses:
                raise ScenarioError(
                    f"{where}: {op.operation_id} documents no status {status}; "
                    f"documented: {', '.join(map(str, op.statuses))}"
                )
    example = raw.get("example")
    if example is not None:
        for op in matched:
            valid = example_names(op, fixtures, status or op.success_status)
            if example not in valid:
                raise ScenarioError(
                    f"{where}: {op.operation_id} has no example {example!r}; "
                    f"known: {', '.join(valid) or '(none)'}"
                )
    delay = raw.get("delay", 0)
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY_MS:
        raise ScenarioError(f"{where}: `delay` is whole milliseconds from 0 to {MAX_DELAY_MS}")
    fault = raw.get("fault")
    if fault is not None and fault not in FAULTS:
        raise ScenarioError(f"{where}: unknown fault {fault!r}; use one of: {', '.join(FAULTS)}")
    dynamic = raw.get("dynamic", False)
    if not isinstance(dynamic, bool):
        raise ScenarioError(f"{where}: `dynamic` is true or false")
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise ScenarioError(f"{where}: `headers` is a mapping of names to values")
    for key, value in headers.items():
        if not _safe_header(str(key), str(value)):
            raise ScenarioError(f"{where}: header {key!r} is not a valid header name and value")
    return Answer(
        Controls(status, example, dynamic, None, delay, fault),
        tuple((str(k), str(v)) for k, v in headers.items()),
    )


def _safe_header(name: str, value: str) -> bool:
    token = name and all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name)
    return bool(token) and not any(c in value for c in "\r\n\0")


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
        compiled = compile_document(document, self.operations, self.fixtures)
        self.store.set_scenarios(session, document)
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
        self, session: str, op: Operation, request: RequestRecord
    ) -> tuple[Rule, Answer] | None:
        """The first rule that fires for this call, counting the call for each rule tried."""
        for rule in self.current(session).rules:
            if not rule.matches(op, request):
                continue
            call = self.store.increment(session, f"rule:{rule.index}")
            answer = rule.answer_for(call)
            if answer is not None:
                return rule, answer
        return None
