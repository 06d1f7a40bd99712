"""The path of every API request: request -> `RequestRecord` -> `Engine` -> answer.

API requests are the hot path, so they do not go through Flask. `Gateway.exchange` is
the core, free of any server: it reads the request through the readers it is given,
hands the `RequestRecord` to the engine, and shapes the `Reply` (or the problem
document of a `MockError`) into status, headers and bytes; `Gateway.journal` then
journals the exchange (the journal's writer thread also writes the access log line).
Two forms serve it:

* `AsgiGateway`, what `mockserver serve` runs (under uvicorn workers, `serving.py`):
  the request comes from the ASGI scope and messages, `X-Mock-Delay` waits on the event
  loop, and a network fault goes to the connection (`faults.TransportFaults`);
* `Gateway` itself, a WSGI app: what `app.test_client()` and WSGI servers run. It
  cannot reach the connection, so it answers a network fault with 501.

Only `/__mock/` admin routes reach the Flask app.

Why: on 2 cores, Flask's request context, dispatch, hooks and response object cost
about as much as the engine itself for a small request (bench/PROFILE.md): in-process,
a valid Huawei POST took ~650-800 µs through Flask and ~250-300 µs here.

The WSGI form reads what Werkzeug did for these requests the same way, and
tests/test_gateway.py compares the two on the same requests (and the ASGI form's
answers with the WSGI form's):

* the path is PATH_INFO as UTF-8 (bad bytes replaced), leading slashes folded to one;
* the query is parsed with blank values kept, bad percent-escapes left as they are;
* headers are the environ's `HTTP_*` keys plus Content-Type and Content-Length, with
  lower-cased, dash-separated names (ASGI: a repeated header's values joined by ",");
* the body is read once, at most `max_body` bytes, else 413 (by Content-Length, or
  while a chunked body is read);
* the status line carries Werkzeug's reason phrase; HEAD, 1xx, 204 and 304 answers
  carry no body; 1xx and 204 carry no Content-Length; Location is made a URI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from werkzeug.http import remove_entity_headers
from werkzeug.urls import iri_to_uri

from mockserver import journal, problems, wire
from mockserver.cors import CorsPolicy, is_preflight
from mockserver.engine import SESSION_HEADER, Allowed, Engine, Outcome
from mockserver.media import serialise
from mockserver.problems import MockError
from mockserver.state import DEFAULT_SESSION
from mockserver.validation import RequestRecord
from mockserver.wire import Headers

log = logging.getLogger("mockserver")

ADMIN_PREFIX = "/__mock/"
HEALTH_PATH = ADMIN_PREFIX + "health"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_NO_BODY_METHODS = frozenset({"HEAD"})
_URI_HEADERS = frozenset({"location", "content-location"})


def request_path(environ: dict[str, Any]) -> str:
    """PATH_INFO as Werkzeug reads it: UTF-8 (bad bytes replaced), one leading slash."""
    raw = environ.get("PATH_INFO") or ""
    return folded(raw.encode("latin-1").decode("utf-8", "replace"))


def request_raw_path(environ: dict[str, Any]) -> str:
    """The path as the client sent it, percent-escapes kept (from the `RAW_URI` or
    `REQUEST_URI` that Werkzeug, gunicorn and uWSGI give), leading slashes folded to one;
    "" when the server gives neither."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if not raw:
        return ""
    if not raw.startswith("/"):  # absolute-form: http://host/path
        raw = urlsplit(raw).path
    return folded(raw.split("?", 1)[0].split("#", 1)[0])


def folded(path: str) -> str:
    """The path with its leading slashes folded to one (as Werkzeug reads PATH_INFO)."""
    return "/" + path.lstrip("/")


def request_query(environ: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The query string's pairs, in order, blank values kept (as Werkzeug's `args`)."""
    return parse_query(environ.get("QUERY_STRING") or "")


def parse_query(raw: str) -> tuple[tuple[str, str], ...]:
    """A raw query string (latin-1 text of its bytes) as pairs, in order, blanks kept."""
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


def declared_length(headers: dict[str, str]) -> int | None:
    """The body's length as Content-Length declares it (0 if unreadable); None when there
    is none to go by (no header, or a chunked body)."""
    length_text = headers.get("content-length")
    if length_text is None or "chunked" in headers.get("transfer-encoding", "").lower():
        return None
    try:
        return max(0, int(length_text.strip()))
    except ValueError:
        return 0


def read_body(environ: dict[str, Any], headers: dict[str, str], max_body: int) -> bytes:
    """The whole request body, or `BodyTooLarge` past `max_body` bytes.

    A Content-Length over the limit is refused before anything is read. A body without
    one (chunked) is read up to one byte past the limit, which is enough to know.
    """
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = declared_length(headers)
    if length is not None:
        if length > max_body:
            raise _too_large(max_body)
        return stream.read(length) if length else b""
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
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


def _add(headers: Headers, name: str, value: str) -> None:
    """Add a CORS header: `Vary` joins an existing one, any other replaces its namesake
    (a scenario's or a documented header of the same name)."""
    lowered = name.lower()
    if lowered == "vary":
        for i, (key, present) in enumerate(headers):
            if key.lower() == "vary":
                merged = [v.strip() for v in present.split(",") if v.strip()]
                merged += [v.strip() for v in value.split(",") if v.strip() not in merged]
                headers[i] = (key, ", ".join(merged))
                return
        headers.append((name, value))
        return
    _set(headers, name, value)


def status_line(status: int) -> str:
    """`201 Created`, for WSGI's `start_response` (the phrase from `wire.reason`)."""
    return wire.status_text(status)


@dataclass(slots=True)
class Exchange:
    """One API request as the gateway handled it: the answer, and what to journal."""

    method: str
    path: str
    started: float
    record: RequestRecord | None = None
    outcome: Outcome | None = None
    error: str | None = None
    status: int = 500
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    fault: str | None = None
    delay: float = 0.0
    """Seconds to wait before answering (`X-Mock-Delay`): the server's to spend."""

    @property
    def bodyless(self) -> bool:
        """HEAD, 1xx, 204 and 304 answers carry no body."""
        status = self.status
        return self.method in _NO_BODY_METHODS or 100 <= status < 200 or status in (204, 304)


class Gateway:
    """The WSGI app: API requests here, `/__mock/` to Flask. `exchange` and `journal`
    are the server-neutral core, which `AsgiGateway` shares."""

    def __init__(
        self,
        engine: Engine,
        admin_app: WsgiApp,
        *,
        max_body: int,
        journal_size: int,
        cors: CorsPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.admin_app = admin_app
        self.max_body = max_body
        self.journal_size = journal_size
        self.cors = cors if cors is not None else CorsPolicy()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = request_path(environ)
        if path.startswith(ADMIN_PREFIX):
            return self.admin_app(environ, start_response)
        exchange = self.exchange(
            environ.get("REQUEST_METHOD", "GET"),
            path,
            lambda: request_headers(environ),
            lambda: request_query(environ),
            lambda headers: read_body(environ, headers, self.max_body),
            faults_possible=False,  # a WSGI app cannot reach the connection
            raw_path=request_raw_path(environ),
            raw_query=environ.get("QUERY_STRING") or "",
        )
        if exchange.delay:
            time.sleep(exchange.delay)
        self.journal(exchange)
        start_response(status_line(exchange.status), exchange.headers)
        return [] if exchange.bodyless else [exchange.body]

    def asterisk(self, method: str, headers: dict[str, str]) -> Exchange:
        """A request for `*` (RFC 9110 §9.3.7): `OPTIONS *` is answered 204 with the
        methods some loaded spec documents; any other method is a 400."""
        exchange = Exchange(method, "*", time.time())
        exchange.record = RequestRecord(method, "*", (), headers)
        if method != "OPTIONS":
            exchange.error = problems.BadHttpRequest.kind
            return answer_problem(
                exchange,
                problems.BadHttpRequest(
                    f"The target * names no resource: it is for OPTIONS only, not {method}."
                ),
            )
        methods = {op.method for op in self.engine.operations} | {"OPTIONS"}
        exchange.status = 204
        exchange.headers = [("Allow", ", ".join(sorted(methods)))]
        return exchange

    def exchange(
        self,
        method: str,
        path: str,
        read_headers: Callable[[], dict[str, str]],
        read_query: Callable[[], tuple[tuple[str, str], ...]],
        read_body: Callable[[dict[str, str]], bytes],
        faults_possible: bool,
        raw_path: str = "",
        raw_query: str = "",
    ) -> Exchange:
        """Read the request through the server's readers, run the engine, and shape the
        answer; every error becomes its problem document here. `path` is decoded,
        `raw_path` as sent (what the router splits, see `routing.py`); `raw_query` is the
        query string as sent (latin-1 text of its bytes)."""
        exchange = Exchange(method, path, time.time())
        preflight = False
        try:
            headers = read_headers()
            query = read_query()
            exchange.record = RequestRecord(  # if no body comes
                method, path, query, headers, raw_query=raw_query, raw_path=raw_path
            )
            sent = read_body(headers)
            if sent:
                exchange.record = RequestRecord(
                    method, path, query, headers, sent, raw_query=raw_query, raw_path=raw_path
                )
            preflight = self.cors.enabled and self._preflight(exchange, headers)
            if not preflight:
                result = self.engine.handle(exchange.record)
                if isinstance(result, Allowed):
                    exchange.status = 204
                    exchange.headers = [("Allow", ", ".join(result.methods))]
                else:
                    exchange.outcome = result
                    self._answer(exchange, result, faults_possible)
        except MockError as exc:
            exchange.error = exc.kind
            self._problem(exchange, exc)
        except OSError:
            # The engine does no file or network I/O: this is the client's socket (gone,
            # or too slow to send its body). The server closes the connection.
            raise
        except Exception as exc:
            log.exception("unexpected error while serving %s %s", method, path[:200])
            exchange.error = "internal-error"
            self._problem(
                exchange,
                problems.InternalError(
                    f"The mock failed unexpectedly ({type(exc).__name__}); this is a mock "
                    "bug, please report it with the request that caused it."
                ),
            )
        if self.cors.enabled and not preflight:
            origin = exchange.record.header("origin") if exchange.record is not None else None
            for key, value in self.cors.answer_headers(origin, exchange.headers):
                _add(exchange.headers, key, value)
        return exchange

    def _preflight(self, exchange: Exchange, headers: dict[str, str]) -> bool:
        """Answer a CORS preflight for a documented path (204, the path's methods, the
        request headers asked for that the operation takes); False if this is none."""
        if not is_preflight(exchange.method, headers):
            return False
        asked = headers["access-control-request-method"].strip()
        record = exchange.record
        facts = self.engine.preflight((record and record.raw_path) or exchange.path, asked)
        if facts is None:
            return False  # no such path: the engine's 404 says so
        exchange.status = 204
        exchange.headers = [("Allow", ", ".join(facts.methods))]
        for key, value in self.cors.preflight_headers(
            headers["origin"],
            facts.methods,
            headers.get("access-control-request-headers"),
            facts.headers,
        ):
            _add(exchange.headers, key, value)
        return True

    @staticmethod
    def _answer(exchange: Exchange, outcome: Outcome, faults_possible: bool) -> None:
        fault = outcome.controls.fault
        if fault is not None and not faults_possible:
            raise problems.FaultUnavailable(
                f"X-Mock-Fault {fault!r} acts on the client's connection, which only the "
                "server that `mockserver serve` runs gives the mock; this server cannot "
                "reach it."
            )
        reply = outcome.reply
        body = serialise(reply)
        headers: Headers = []
        if reply.media_type is not None:
            headers.append(("Content-Type", reply.media_type))
        headers.append(("Content-Length", str(len(body))))
        for key, value in reply.headers:
            _set(headers, key, value)
        exchange.status = reply.status
        exchange.headers = finish_headers(reply.status, headers)
        exchange.body = body
        exchange.fault = fault
        exchange.delay = outcome.controls.delay_ms / 1000 if outcome.controls.delay_ms else 0.0

    @staticmethod
    def _problem(exchange: Exchange, error: MockError) -> None:
        answer_problem(exchange, error)

    def journal(self, exchange: Exchange) -> None:
        """Journal the exchange; a journal failure must never lose the client's answer."""
        try:
            record = exchange.record
            if record is None:  # the headers or the query could not be read
                record = RequestRecord(exchange.method, exchange.path)
            outcome = exchange.outcome
            duration = (time.time() - exchange.started) * 1000
            session = (
                outcome.session if outcome else (record.header(SESSION_HEADER) or DEFAULT_SESSION)
            )
            entry = journal.build_entry(
                record, outcome, exchange.status, exchange.started, duration, exchange.error
            )
            self.engine.store.record(
                session, entry, self.journal_size, journal.coverage_keys(outcome, exchange.status)
            )
        except Exception:
            log.exception("could not journal %s %s", exchange.method, exchange.path[:200])


def answer_problem(exchange: Exchange, error: MockError) -> Exchange:
    """Make `error`'s problem document the exchange's answer (the one way a mock error
    becomes an answer, for the gateway and for the server's own refusals)."""
    status, extra, payload = problems.render(error)
    headers: Headers = [("Content-Length", str(len(payload)))]
    for key, value in extra.items():
        _set(headers, key, value)
    exchange.status = status
    exchange.headers = finish_headers(status, headers)
    exchange.body = payload
    exchange.fault, exchange.delay = None, 0.0
    return exchange


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


# -- ASGI: what `mockserver serve` runs ---------------------------------------------------
AsgiScope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
AsgiApp = Callable[[AsgiScope, Receive, Send], Awaitable[None]]


def asgi_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased header names -> values; a repeated header's values joined with ","
    (as gunicorn joins them into the WSGI environ)."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    return headers


Deliver = Callable[["Exchange"], Awaitable[None]]
"""The connection's answer sequence for one request (`serving.MockProtocol`'s)."""

CONNECTION = "mockserver.connection"
"""The ASGI scope extension that carries a request's `Deliver`."""


class ClientGone(Exception):
    """The client closed the connection before its request was read."""


async def receive_body(receive: Receive, headers: dict[str, str], max_body: int) -> bytes:
    """The whole request body from ASGI messages, or `BodyTooLarge` past `max_body`.
    A Content-Length over the limit is refused before anything is read."""
    length = declared_length(headers)
    if length is not None and length > max_body:
        raise _too_large(max_body)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > max_body:
                raise _too_large(max_body)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class AsgiGateway:
    """The ASGI app `mockserver serve` runs: API requests on the event loop through
    `Gateway.exchange` (the engine is CPU-bound and short: it runs inline, with no thread
    hand-off), `/__mock/` to `admin` (the Flask app, on threads).

    Under `mockserver serve` the exchange is handed to the connection (`CONNECTION`, in
    the scope's extensions): the protocol runs the one answer sequence there (wait out
    `X-Mock-Delay` on the loop, holding no thread; journal what is answered; write it with
    `wire` or make its network fault), the same sequence as for the requests it answers
    inline. Under another ASGI server the answer goes out as ASGI messages, and a network
    fault, which needs the connection, is a 501."""

    def __init__(self, gateway: Gateway, admin: AsgiApp, health: AsgiApp | None = None) -> None:
        self.gateway = gateway
        self.admin = admin
        self.health = health or admin
        """`/__mock/health`: the same app on its own thread, so that a liveness probe is
        answered while every admin thread is busy (a long upload, a slow listing)."""

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan events are asked for; websockets are not served
        path = scope["path"]
        where = folded(path)
        if where.startswith(ADMIN_PREFIX):
            await (self.health if where == HEALTH_PATH else self.admin)(scope, receive, send)
            return
        headers = asgi_headers(scope["headers"])
        body = b""
        refusal: MockError | None = None
        try:
            body = await receive_body(receive, headers, self.gateway.max_body)
        except MockError as exc:
            refusal = exc
        except ClientGone:
            return
        deliver: Deliver | None = scope.get("extensions", {}).get(CONNECTION)
        raw_path = scope.get("raw_path")
        exchange = self._exchange(
            scope["method"],
            path,
            scope["query_string"],
            headers,
            body,
            refusal,
            deliver is not None,
            raw_path.decode("latin-1") if raw_path else "",
        )
        if refusal is not None:  # the rest of the body is not read: end the connection
            exchange.headers.append(("connection", "close"))
        if deliver is not None:
            await deliver(exchange)
            return
        if exchange.delay:
            await asyncio.sleep(exchange.delay)
        self.gateway.journal(exchange)
        response_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in exchange.headers]
        await send(
            {"type": "http.response.start", "status": exchange.status, "headers": response_headers}
        )
        await send(
            {"type": "http.response.body", "body": b"" if exchange.bodyless else exchange.body}
        )

    # -- inline: what `serving.MockProtocol` answers without an ASGI cycle ------------------
    def answers_inline(self, path: str, headers: dict[str, str]) -> bool:
        """Whether the protocol may answer this request inline, once its whole body is in:
        an API request (not `/__mock/`) whose body, if any, has a Content-Length within
        `--max-body`. Anything else (a chunked or too large body, which the ASGI path
        refuses as it reads) goes through `__call__`."""
        if "%" in path:
            path = unquote(path)
        if folded(path).startswith(ADMIN_PREFIX) or "transfer-encoding" in headers:
            return False
        length = declared_length(headers)
        return length is None or length <= self.gateway.max_body

    def answer_inline(
        self, method: str, path: str, query_string: bytes, headers: dict[str, str], body: bytes
    ) -> Exchange:
        """The exchange of a request `answers_inline` accepted; the protocol waits out its
        delay, then calls `journal` and writes the answer (or makes its fault). `path` is
        the raw one, percent-escapes kept: the router splits it before decoding."""
        decoded = unquote(path) if "%" in path else path
        return self._exchange(method, decoded, query_string, headers, body, None, True, path)

    def journal(self, exchange: Exchange) -> None:
        self.gateway.journal(exchange)

    def _exchange(
        self,
        method: str,
        path: str,
        query_string: bytes,
        headers: dict[str, str],
        body: bytes,
        refusal: MockError | None,
        faults_possible: bool,
        raw_path: str = "",
    ) -> Exchange:
        if path == "*":
            return self.gateway.asterisk(method, headers)
        path = folded(path)
        raw_path = folded(raw_path) if raw_path else ""

        def body_or_refusal(_: dict[str, str]) -> bytes:
            if refusal is not None:
                raise refusal
            return body

        return self.gateway.exchange(
            method,
            path,
            lambda: headers,
            lambda: parse_query(query_string.decode("latin-1")),
            body_or_refusal,
            faults_possible,
            raw_path,
            query_string.decode("latin-1"),
        )
