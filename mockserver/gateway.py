"""The WSGI path of every API request: environ -> `RequestRecord` -> `Engine` -> bytes.

API requests are the hot path, so they do not go through Flask: `Gateway` reads the
WSGI environ straight into a `RequestRecord`, hands it to the engine, and writes the
`Reply` (or the problem document of a `MockError`) back with `start_response`. It then
journals the exchange (the journal's writer thread also writes the access log line).
Only `/__mock/` admin routes reach the Flask app.

Why: under gunicorn on 2 cores, Flask's request context, dispatch, hooks and response
object cost about as much as the engine itself for a small request (bench/PROFILE.md):
in-process, a valid Huawei POST took ~650-800 µs through Flask and ~250-300 µs here.

What Werkzeug did for these requests is done here the same way, and tests/test_gateway.py
compares the two on the same requests:

* the path is PATH_INFO as UTF-8 (bad bytes replaced), leading slashes folded to one;
* the query is parsed with blank values kept, bad percent-escapes left as they are;
* headers are the environ's `HTTP_*` keys plus Content-Type and Content-Length, with
  lower-cased, dash-separated names;
* the body is read once, at most `max_body` bytes, else 413 (by Content-Length, or
  while a chunked body is read);
* the status line carries Werkzeug's reason phrase; HEAD, 1xx, 204 and 304 answers
  carry no body; 1xx and 204 carry no Content-Length; Location is made a URI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.http import HTTP_STATUS_CODES, remove_entity_headers
from werkzeug.urls import iri_to_uri

from mockserver import journal, problems
from mockserver.engine import SESSION_HEADER, Engine, Outcome
from mockserver.problems import MockError
from mockserver.responder import serialise
from mockserver.serving import FAULT_KEY, can_fault
from mockserver.state import DEFAULT_SESSION
from mockserver.validation import RequestRecord

log = logging.getLogger("mockserver")

ADMIN_PREFIX = "/__mock/"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Headers = list[tuple[str, str]]

_NO_BODY_METHODS = frozenset({"HEAD"})
_URI_HEADERS = frozenset({"location", "content-location"})


def request_path(environ: dict[str, Any]) -> str:
    """PATH_INFO as Werkzeug reads it: UTF-8 (bad bytes replaced), one leading slash."""
    raw = environ.get("PATH_INFO") or ""
    return "/" + raw.encode("latin-1").decode("utf-8", "replace").lstrip("/")


def request_query(environ: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The query string's pairs, in order, blank values kept (as Werkzeug's `args`)."""
    raw = environ.get("QUERY_STRING") or ""
    if not raw:
        return ()
    text = raw.encode("latin-1").decode("utf-8", "replace")
    return tuple(parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote"))


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """Lower-cased header names -> values, from the environ's CGI-style keys."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                headers[key[5:].replace("_", "-").lower()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[key.replace("_", "-").lower()] = value
    return headers


def _too_large(max_body: int) -> problems.BodyTooLarge:
    return problems.BodyTooLarge(
        f"The request body is larger than the mock's limit of {max_body} bytes; "
        "send less, or start the mock with a larger --max-body."
    )


def read_body(environ: dict[str, Any], headers: dict[str, str], max_body: int) -> bytes:
    """The whole request body, or `BodyTooLarge` past `max_body` bytes.

    A Content-Length over the limit is refused before anything is read. A body without
    one (chunked) is read up to one byte past the limit, which is enough to know.
    """
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    length_text = headers.get("content-length")
    if length_text is not None and not chunked:
        try:
            length = max(0, int(length_text.strip()))
        except ValueError:
            length = 0
        if length > max_body:
            raise _too_large(max_body)
        return stream.read(length) if length else b""
    if not chunked and not environ.get("wsgi.input_terminated"):
        return b""  # no length and nothing to end the stream: there is no body
    data: bytes = stream.read(max_body + 1)
    if len(data) > max_body:
        raise _too_large(max_body)
    return data


def _set(headers: Headers, name: str, value: str) -> None:
    """Set a header, replacing any of the same name (as `Headers.__setitem__`)."""
    lowered = name.lower()
    headers[:] = [(k, v) for k, v in headers if k.lower() != lowered]
    headers.append((name, value))


def status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'unknown').upper()}"


class Gateway:
    """The WSGI app `mockserver serve` runs: API requests here, `/__mock/` to Flask."""

    def __init__(
        self,
        engine: Engine,
        admin_app: WsgiApp,
        *,
        max_body: int,
        journal_size: int,
    ) -> None:
        self.engine = engine
        self.admin_app = admin_app
        self.max_body = max_body
        self.journal_size = journal_size

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = request_path(environ)
        if path.startswith(ADMIN_PREFIX):
            return self.admin_app(environ, start_response)
        started = time.time()
        method = environ.get("REQUEST_METHOD", "GET")
        record: RequestRecord | None = None
        outcome: Outcome | None = None
        error: str | None = None
        try:
            headers = request_headers(environ)
            query = request_query(environ)
            record = RequestRecord(method, path, query, headers)  # journaled if no body comes
            sent = read_body(environ, headers, self.max_body)
            if sent:
                record = RequestRecord(method, path, query, headers, sent)
            outcome = self.engine.handle(record)
            status, response_headers, body = self._answer(environ, outcome)
        except MockError as exc:
            error = exc.kind
            status, response_headers, body = self._problem(exc)
        except OSError:
            # The engine does no file or network I/O: this is the client's socket (gone,
            # or too slow to send its body). gunicorn closes the connection.
            raise
        except Exception as exc:
            log.exception("unexpected error while serving %s %s", method, path[:200])
            error = "internal-error"
            status, response_headers, body = self._problem(
                problems.InternalError(
                    f"The mock failed unexpectedly ({type(exc).__name__}); this is a mock "
                    "bug, please report it with the request that caused it."
                )
            )
        try:
            self._journal(record, method, path, outcome, status, started, error)
        except Exception:  # a journal failure must never lose the client's answer
            log.exception("could not journal %s %s", method, path[:200])
        start_response(status_line(status), response_headers)
        if method in _NO_BODY_METHODS or 100 <= status < 200 or status in (204, 304):
            return []
        return [body]

    def _answer(self, environ: dict[str, Any], outcome: Outcome) -> tuple[int, Headers, bytes]:
        fault = outcome.controls.fault
        if fault is not None and not can_fault(environ):
            raise problems.FaultUnavailable(
                f"X-Mock-Fault {fault!r} acts on the client's socket, which only the server "
                "that `mockserver serve` runs gives the mock; this server cannot reach it."
            )
        if outcome.controls.delay_ms:
            time.sleep(outcome.controls.delay_ms / 1000)
        if fault is not None:
            environ[FAULT_KEY] = fault
        reply = outcome.reply
        body = serialise(reply)
        headers: Headers = []
        if reply.media_type is not None:
            headers.append(("Content-Type", reply.media_type))
        headers.append(("Content-Length", str(len(body))))
        for key, value in reply.headers:
            _set(headers, key, value)
        return reply.status, finish_headers(reply.status, headers), body

    @staticmethod
    def _problem(error: MockError) -> tuple[int, Headers, bytes]:
        status, extra, payload = problems.render(error)
        headers: Headers = [("Content-Length", str(len(payload)))]
        for key, value in extra.items():
            _set(headers, key, value)
        return status, finish_headers(status, headers), payload

    def _journal(
        self,
        record: RequestRecord | None,
        method: str,
        path: str,
        outcome: Outcome | None,
        status: int,
        started: float,
        error: str | None,
    ) -> None:
        if record is None:  # the headers or the query could not be read
            record = RequestRecord(method, path)
        duration = (time.time() - started) * 1000
        session = outcome.session if outcome else (record.header(SESSION_HEADER) or DEFAULT_SESSION)
        entry = journal.build_entry(record, outcome, status, started, duration, error)
        self.engine.store.record(
            session, entry, self.journal_size, journal.coverage_keys(outcome, status)
        )


def finish_headers(status: int, headers: Headers) -> Headers:
    """What Werkzeug's `get_wsgi_headers` does to the headers of these answers."""
    for i, (key, value) in enumerate(headers):
        if key.lower() in _URI_HEADERS:
            headers[i] = (key, iri_to_uri(value))
    if 100 <= status < 200 or status == 204:
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    elif status == 304:
        remove_entity_headers(headers)
    return headers
