"""The request journal and contract coverage.

Every request to an API route is recorded once, after it is answered: when it came,
what was sent (method, path, query, headers, body as JSON where it parsed), which
operation it reached, the status answered, the controls used and the validation
problems found (also where a forced status hid them). Entries live in the shared
`Store`, so a request answered by any worker process is in the journal, in
order; the journal keeps the newest `size` entries, so memory stays flat.

A stored body is cut at `MAX_BODY_IN_JOURNAL` bytes: the entry then holds the first
bytes as text, and `bodyTruncated` says so, with the whole body's size and SHA-256 (a
test can still check what was sent). Parsed or not, no body makes an entry large.

Coverage is counted beside the journal, per session, and is never trimmed with it nor
cleared with a session's journal: for every operation, which documented statuses and
which named examples were served, and how many requests were valid and invalid.
`coverage_report` turns the counts of one session, or of all sessions, into the report
of `GET /__mock/coverage`, with how to reach each status never served;
`render_text` and `render_junit` are for the CLI.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import queue
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO
from xml.sax.saxutils import quoteattr

from mockserver import logs
from mockserver.controls import documented_keys, example_names
from mockserver.engine import Engine, Outcome
from mockserver.spec import Operation
from mockserver.state import JOURNAL_FILTERS, Order, Store
from mockserver.validation import RequestRecord

MAX_BODY_IN_JOURNAL = 64 * 1024
MAX_LISTED = 10_000


class FilterError(ValueError):
    """A journal filter that cannot be applied."""


def build_entry(
    record: RequestRecord,
    outcome: Outcome | None,
    status: int,
    started: float,
    duration_ms: float,
    error: str | None = None,
) -> dict[str, Any]:
    query: dict[str, list[str]] = {}
    for key, value in record.query:
        query.setdefault(key, []).append(value)
    body: Any = None
    truncated: dict[str, Any] | None = None
    if len(record.body) > MAX_BODY_IN_JOURNAL:
        body = record.body[:MAX_BODY_IN_JOURNAL].decode("utf-8", "replace")
        truncated = {
            "size": len(record.body),
            "kept": MAX_BODY_IN_JOURNAL,
            "sha256": hashlib.sha256(record.body).hexdigest(),
        }
    elif (
        outcome is not None
        and outcome.checked.body is not None
        and not isinstance(outcome.checked.body, bytes)
    ):
        body = outcome.checked.body
    elif record.body:
        body = record.body.decode("utf-8", "replace")
    op = outcome.operation if outcome else None
    checked = outcome.checked if outcome else None
    return {
        "time": utc_millis(started),
        "at": started,
        "method": record.method,
        "path": record.path,
        "query": query,
        "headers": dict(record.headers),
        "body": body,
        "bodyTruncated": truncated,
        "api": op.api if op else None,
        "operationId": op.operation_id if op else None,
        "status": status,
        "controls": outcome.controls.as_dict() if outcome else {},
        "scenario": outcome.scenario if outcome else None,
        "source": outcome.reply.source if outcome else "mock",
        "example": outcome.reply.example if outcome else None,
        "valid": checked.valid if checked else None,
        "problems": [v.as_dict() for v in (*checked.security, *checked.violations)]
        if checked
        else [],
        "error": error,
        "durationMs": round(duration_ms, 3),
    }


_last_second: tuple[int, str] = (-1, "")


def utc_millis(at: float) -> str:
    """`at` (seconds since the epoch) in ISO 8601, UTC, to the millisecond
    (`2026-11-27T18:00:00.123Z`): what `datetime.fromtimestamp(at, UTC)` and its
    `isoformat(timespec="milliseconds")` give, at a third of the cost. The text of
    the second is kept from one call to the next (requests come many to a second)."""
    global _last_second
    fraction, whole = math.modf(at)
    second, micros = int(whole), round(fraction * 1e6)  # datetime rounds half to even too
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    cached = _last_second
    if cached[0] != second:
        cached = _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{micros // 1000:03d}Z"


def log_line(entry: dict[str, Any], log_format: str) -> str:
    """One line per request: method, path, operationId, status, duration, controls."""
    if log_format == "json":
        return json.dumps(
            {
                key: entry[key]
                for key in (
                    "time",
                    "method",
                    "path",
                    "api",
                    "operationId",
                    "status",
                    "durationMs",
                    "controls",
                    "scenario",
                    "valid",
                )
            },
            ensure_ascii=False,
        )
    controls = " ".join(f"{k}={v}" for k, v in entry["controls"].items())
    operation = f"{entry['api']}.{entry['operationId']}" if entry["operationId"] else "-"
    line = (
        f"{entry['time']} {entry['method']} {entry['path'][:200]} {operation} "
        f"{entry['status']} {entry['durationMs']:.1f}ms {controls}"
    ).rstrip()
    return _UNPRINTABLE.sub(_escape, line)


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\\\\]")
"""What must not reach a text log line as it is: control characters (a decoded `%0A`
in a path would forge a line), the Unicode line separators, and the backslash that
escapes them."""


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    if char == "\\":
        return "\\\\"
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


class AccessLog:
    """One line per request on a stream, off the request path.

    The store calls it on its journal thread with the rows of each batch written
    (`Store.after_write`), so a request pays nothing for its line. The lines of a
    batch are handed, as one text, to a thread of this process that writes them: a
    stream nobody reads (a full pipe) holds up that thread only, never the journal.
    Past `max_pending` characters waiting, lines are dropped and counted, and the count
    is written once the stream moves again. `close` (the store calls it at exit, after
    its journal thread has written everything) writes what is left.
    """

    def __init__(self, stream: TextIO, log_format: str, max_pending: int = 8 << 20) -> None:
        self.stream = stream
        self.log_format = log_format
        self.max_pending = max_pending
        self.dropped = 0
        self._pending = 0
        self._texts: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = -1
        self._guard = threading.Lock()

    def __call__(self, rows: list[dict[str, Any]]) -> None:
        text = "".join(log_line(row, self.log_format) + "\n" for row in rows)
        with self._guard:
            if self._pid != os.getpid():  # threads don't survive a fork: one per process
                self._texts, self._pending, self._pid = queue.SimpleQueue(), 0, os.getpid()
                self._thread = threading.Thread(
                    target=self._run, args=(self._texts,), name="mockserver-log", daemon=True
                )
                self._thread.start()
            if self._pending + len(text) > self.max_pending:
                self.dropped += len(rows)
                return
            self._pending += len(text)
        self._texts.put(text)

    def _run(self, texts: queue.SimpleQueue[str | None]) -> None:
        while (text := texts.get()) is not None:
            with self._guard:
                self._pending -= len(text)
                dropped, self.dropped = self.dropped, 0
            if dropped:
                notice = f"mockserver: {dropped} access log lines dropped: stdout was not read"
                text += logs.line(self.log_format, "warning", notice, dropped=dropped) + "\n"
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):  # the stream is closed or gone: nothing to log to
                pass

    def close(self, timeout: float = 5.0) -> None:
        """Write what this process has handed over (waiting at most `timeout` seconds for
        a stream that does not move), then end its thread."""
        thread = self._thread
        if thread is None or self._pid != os.getpid() or not thread.is_alive():
            return
        self._texts.put(None)
        thread.join(timeout)


def coverage_keys(outcome: Outcome | None, status: int) -> list[tuple[str, str, str, str]]:
    """(api, operationId, kind, key) counted for one answered request."""
    if outcome is None:
        return []
    op = outcome.operation
    keys = [
        (op.api, op.operation_id, "status", str(status)),
        (op.api, op.operation_id, "requests", "valid" if outcome.checked.valid else "invalid"),
    ]
    if outcome.reply.example:
        keys.append((op.api, op.operation_id, "example", f"{status}.{outcome.reply.example}"))
    return keys


LISTING_OPTIONS = ("session", "limit", "last", "order")
"""Query parameters of a listing besides its filters."""


def parse_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """Query parameters -> journal filters; unknown names and bad values are refused."""
    unknown = [key for key in args if key not in JOURNAL_FILTERS and key not in LISTING_OPTIONS]
    if unknown:
        named = ", ".join(repr(key[:40]) for key in unknown)
        known = ", ".join((*JOURNAL_FILTERS, *LISTING_OPTIONS))
        plural = "s" if len(unknown) > 1 else ""
        raise FilterError(f"unknown filter{plural} {named}; the filters are: {known}")
    filters: dict[str, Any] = {}
    for key, value in args.items():
        if key in LISTING_OPTIONS:
            continue
        if key == "status":
            if not value.isdigit():
                raise FilterError(f"status must be a number, not {value[:20]!r}")
            filters[key] = int(value)
        elif key == "since":
            filters[key] = parse_since(value)
        elif key == "method":
            filters[key] = value.upper()
        else:
            filters[key] = value
    return filters


def parse_since(value: str) -> float:
    """An ISO-8601 time (`2026-01-01T10:00:00Z`) or seconds since the epoch."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(
            f"since must be an ISO-8601 time or epoch seconds, not {value[:40]!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class Listing:
    """What a listing asks for: how many entries, which ones, in which order."""

    limit: int
    order: Order


def parse_listing(args: Mapping[str, str]) -> Listing:
    """`limit`, `last` and `order` of a listing: the oldest `limit` entries by default
    (`MAX_LISTED` at most), `order=desc` for the newest first, `last=N` for the newest
    N (oldest first, or newest first with `order=desc`); `last` wins over `limit`."""
    order = args.get("order", "asc")
    if order not in ("asc", "desc"):
        raise FilterError(f"order must be asc or desc, not {order[:20]!r}")
    name = "last" if "last" in args else "limit"
    text = args.get(name, str(MAX_LISTED))
    if not text.isdigit() or not text.isascii():
        raise FilterError(f"{name} must be a whole number, not {text[:20]!r}")
    limit = min(int(text), MAX_LISTED)
    if name == "last" and order == "asc":
        return Listing(limit, "last")
    return Listing(limit, "desc" if order == "desc" else "asc")


def listing_json(
    session: str, pages: Iterable[list[str]], about: Mapping[str, Any] | None = None
) -> Iterator[str]:
    """`{"session": ..., <about>..., "requests": [...]}` in pieces, from entries already
    stored as JSON text: a listing is streamed a page at a time, never parsed and
    re-encoded whole."""
    head = json.dumps({"session": session, **(about or {})})[:-1]
    yield f'{head}, "requests": ['
    separator = ""
    for page in pages:
        yield separator + ",".join(page)
        separator = ","
    yield "]}\n"


def coverage_report(engine: Engine, store: Store, session: str | None) -> dict[str, Any]:
    """The coverage of one session, or of every session together (None)."""
    counts: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    for api, op_id, kind, key, count in store.coverage(session):
        counts.setdefault((api, op_id), {}).setdefault(kind, {})[key] = count
    operations = []
    documented_statuses = served_statuses = documented_examples = served_examples = 0
    called = 0
    for op in engine.operations:
        seen = counts.get((op.api, op.operation_id), {})
        statuses = seen.get("status", {})
        keys = documented_keys(op)
        answered = {_response_key(op, int(s)) for s in statuses if s.isdigit()}
        served = [k for k in keys if k in answered]
        examples = [
            f"{s}.{name}" for s in op.statuses for name in example_names(op, engine.fixtures, s)
        ]
        examples_served = [e for e in examples if e in seen.get("example", {})]
        requests = seen.get("requests", {})
        uncovered = [k for k in keys if k not in served]
        documented_statuses += len(keys)
        served_statuses += len(served)
        documented_examples += len(examples)
        served_examples += len(examples_served)
        called += 1 if statuses else 0
        operations.append(
            {
                "api": op.api,
                "operationId": op.operation_id,
                "method": op.method,
                "path": op.path,
                "statuses": {
                    "documented": keys,
                    "served": served,
                    "uncovered": uncovered,
                    "counts": {k: v for k, v in sorted(statuses.items())},
                    "reach": {str(k): how_to_reach(op, k) for k in uncovered},
                },
                "examples": {
                    "documented": examples,
                    "served": examples_served,
                    "uncovered": [e for e in examples if e not in examples_served],
                },
                "requests": {
                    "valid": requests.get("valid", 0),
                    "invalid": requests.get("invalid", 0),
                },
            }
        )
    return {
        "session": session,
        "sessions": "all" if session is None else "one",
        "totals": {
            "operations": _share(called, len(engine.operations)),
            "statuses": _share(served_statuses, documented_statuses),
            "examples": _share(served_examples, documented_examples),
        },
        "operations": operations,
    }


def _response_key(op: Operation, status: int) -> int | str | None:
    """Which documented response a served status was answered from: its number, its
    range (`4XX`) or `default`; None when it was none of them (the mock's own 400)."""
    response = op.response_for(status)
    if response is None:
        return None
    return status if status in op.responses else response.key


def how_to_reach(op: Operation, key: int | str) -> dict[str, Any]:
    """The two ways to make the mock answer the documented response `key` (a status, a
    range such as `4XX`, or `default`) for an operation: the control header on a
    request, or a scenario rule (for a client that cannot send headers)."""
    status = key if isinstance(key, int) else op.ranges[key].status
    return {
        "header": f"X-Mock-Status: {key}",
        "scenario": {
            "match": {"api": op.api, "operationId": op.operation_id},
            "respond": {"status": status},
        },
    }


def _share(part: int, whole: int) -> dict[str, Any]:
    percent = 100.0 if whole == 0 else round(100.0 * part / whole, 1)
    return {"covered": part, "total": whole, "percent": percent}


def render_text(report: Mapping[str, Any]) -> str:
    """A table a person reads at a glance: one line per operation, the totals, then how
    to reach what was never served."""
    rows = [("OPERATION", "STATUSES", "UNCOVERED", "EXAMPLES", "VALID/INVALID")]
    for op in report["operations"]:
        statuses = op["statuses"]
        examples = op["examples"]
        rows.append(
            (
                f"{op['api']}.{op['operationId']}",
                f"{len(statuses['served'])}/{len(statuses['documented'])}",
                " ".join(map(str, statuses["uncovered"])) or "-",
                f"{len(examples['served'])}/{len(examples['documented'])}",
                f"{op['requests']['valid']}/{op['requests']['invalid']}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    totals = report["totals"]
    lines.append("")
    for name in ("operations", "statuses", "examples"):
        share = totals[name]
        lines.append(
            f"{name:<10} {share['covered']:>4}/{share['total']:<4} {share['percent']:5.1f}%"
        )
    reach = [
        f"  {op['method']} {op['path']} ({op['api']}.{op['operationId']}): "
        + ", ".join(f"X-Mock-Status: {status}" for status in op["statuses"]["uncovered"])
        for op in report["operations"]
        if op["statuses"]["uncovered"]
    ]
    if reach:
        lines += [
            "",
            "To reach an uncovered status, send its header with a request (or load a "
            "scenario rule: {match: {operationId: ID}, respond: {status: S}}):",
            *reach,
        ]
    return "\n".join(lines)


def render_junit(report: Mapping[str, Any], fail_under: float | None = None) -> str:
    """One test case per operation and documented status: served passes, never served is
    skipped (its message says how to reach it). Failures come only from the threshold:
    with `fail_under`, one more case, `status coverage >= PCT%`, fails when the status
    coverage is below it, as `mockserver coverage --fail-under` then exits 1."""
    cases = []
    skipped = 0
    for op in report["operations"]:
        classname = quoteattr(f"{op['api']}.{op['operationId']}")
        served = set(op["statuses"]["served"])
        for status in op["statuses"]["documented"]:
            name = quoteattr(f"{op['method']} {op['path']} {status}")
            if status in served:
                cases.append(f"  <testcase classname={classname} name={name}/>")
                continue
            skipped += 1
            message = quoteattr(
                f"never served; send X-Mock-Status: {status} with a request, or load a "
                f"scenario rule {{match: {{operationId: {op['operationId']}}}, "
                f"respond: {{status: {status}}}}}"
            )
            cases.append(
                f"  <testcase classname={classname} name={name}>"
                f"<skipped message={message}/></testcase>"
            )
    failures = 0
    if fail_under is not None:
        percent = float(report["totals"]["statuses"]["percent"])
        name = quoteattr(f"status coverage >= {fail_under:.1f}%")
        if percent < fail_under:
            failures = 1
            message = quoteattr(f"status coverage {percent:.1f}% is under {fail_under:.1f}%")
            cases.append(
                f'  <testcase classname="mockserver.coverage" name={name}>'
                f"<failure message={message}/></testcase>"
            )
        else:
            cases.append(f'  <testcase classname="mockserver.coverage" name={name}/>')
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<testsuite name="mockserver contract coverage" tests="{len(cases)}" '
        f'failures="{failures}" skipped="{skipped}">\n' + "\n".join(cases) + "\n</testsuite>\n"
    )
