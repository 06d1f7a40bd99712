"""The gateway of API requests. Its WSGI form reads a request as Werkzeug would, and
answers, journals and fails the way the Flask edge did; its ASGI form (what `mockserver
serve` runs) gives the same answers to the same requests."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import uuid
from typing import Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request

from mockserver import problems
from mockserver.app import asgi_app
from mockserver.engine import Engine
from mockserver.gateway import (
    CONNECTION,
    AsgiGateway,
    Exchange,
    Gateway,
    finish_headers,
    read_body,
    request_headers,
    request_path,
    request_query,
    status_line,
)

EVENTS = "/api/v1/events/query/"
HUAWEI = "/V1.0/0605767d1bd5a8ef2f31c00b8a0b1ab3/events"


def environ(
    method: str = "GET", path: str = EVENTS, query: str = "", body: bytes = b"", **extra: Any
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "4010",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "HTTP_HOST": "127.0.0.1:4010",
    }
    env.update(extra)
    return env


class Answer:
    def __init__(self, app: Any, env: dict[str, Any]) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> None:
            self.status, self.headers = status, headers

        self.body = b"".join(app(env, start_response))

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


# -- reading the request as Werkzeug does --------------------------------------------------
LATIN1_TEXT = st.text(st.characters(max_codepoint=255, blacklist_characters="\x00"), max_size=40)
HEADER_KEYS = st.sampled_from(
    ["HTTP_ACCEPT", "HTTP_X_API_KEY", "HTTP_X_MOCK_STATUS", "HTTP_CONTENT_TYPE", "CONTENT_TYPE",
     "CONTENT_LENGTH", "HTTP_CONTENT_LENGTH", "HTTP_X__ODD", "SERVER_NAME", "wsgi.version"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, database=None)
@given(
    path=LATIN1_TEXT,
    query=st.one_of(
        LATIN1_TEXT,
        st.lists(
            st.sampled_from(["a=1", "a=", "a", "b=%zz", "c=%C3%A9", "+=+", "d=x+y", "", "é=ü", ";"])
        ).map("&".join),
    ),
    headers=st.dictionaries(HEADER_KEYS, LATIN1_TEXT, max_size=6),
)
def test_the_request_is_read_as_werkzeug_reads_it(
    path: str, query: str, headers: dict[str, str]
) -> None:
    env = environ(path=path, query=query, **headers)
    seen = Request(env)
    assert request_path(env) == seen.path
    assert request_headers(env) == {k.lower(): v for k, v in seen.headers.items()}
    try:
        args = tuple(seen.args.items(multi=True))
    except UnicodeDecodeError:  # Werkzeug gives up on a query that is not UTF-8 ...
        utf8 = query.encode("latin-1").decode("utf-8", "replace").encode("utf-8")
        args = tuple(Request(environ(query=utf8.decode("latin-1"))).args.items(multi=True))
    # ... where the gateway replaces the bad bytes. It keeps the pairs in the order sent;
    # Werkzeug's MultiDict groups them by name, which keeps each name's values in order.
    assert tuple(MultiDict(request_query(env)).items(multi=True)) == args


# -- the body -----------------------------------------------------------------------------
class Unreadable(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    env = environ("POST", body=b"", **{"wsgi.input": Unreadable()})
    with pytest.raises(problems.BodyTooLarge, match="--max-body"):
        read_body(env, {"content-length": "11"}, max_body=10)


def test_a_chunked_body_is_read_up_to_one_byte_past_the_limit() -> None:
    env = environ("POST", body=b"x" * 11, **{"wsgi.input_terminated": True})
    with pytest.raises(problems.BodyTooLarge):
        read_body(env, {"transfer-encoding": "chunked"}, max_body=10)
    env = environ("POST", body=b"x" * 10, **{"wsgi.input_terminated": True})
    assert read_body(env, {"transfer-encoding": "chunked"}, max_body=10) == b"x" * 10


@pytest.mark.parametrize(
    ("headers", "terminated", "expected"),
    [
        ({"content-length": "3"}, False, b"abc"),
        ({"content-length": "nonsense"}, False, b""),
        ({"content-length": "-5"}, False, b""),
        ({}, False, b""),  # no length and nothing ends the stream: no body
        ({}, True, b"abcdef"),  # the server ends the stream
    ],
)
def test_the_body_is_what_the_length_says(
    headers: dict[str, str], terminated: bool, expected: bytes
) -> None:
    env = environ("POST", body=b"abcdef")
    if terminated:
        env["wsgi.input_terminated"] = True
    assert read_body(env, headers, max_body=100) == expected


# -- the answer ------------------------------------------------------------------------------
def test_status_lines_carry_the_one_source_of_phrases() -> None:
    assert status_line(201) == "201 Created"
    assert status_line(429) == "429 Too Many Requests"
    assert status_line(599) == "599 Unknown"


def test_answers_without_content_lose_what_they_cannot_carry() -> None:
    base = [("Content-Type", "application/json"), ("Content-Length", "2"), ("X-A", "1")]
    assert finish_headers(204, list(base)) == [("Content-Type", "application/json"), ("X-A", "1")]
    assert finish_headers(304, list(base)) == [("X-A", "1")]
    assert finish_headers(200, [("Location", "/événements/1")]) == [
        ("Location", "/%C3%A9v%C3%A9nements/1")
    ]


def test_head_answers_carry_no_body(app: Flask) -> None:
    # HEAD is the GET operation: its status and Content-Length, no body.
    answer = Answer(app.wsgi_app, environ("HEAD"))
    assert answer.status.startswith("200 ")
    assert answer.body == b"" and int(answer.header("Content-Length") or 0) > 0
    refused = Answer(app.wsgi_app, environ("HEAD", path="/internal/create-event"))
    assert refused.status.startswith("405 ")  # a path with no GET: the 405 problem
    assert refused.body == b"" and int(refused.header("Content-Length") or 0) > 0


def test_only_the_admin_prefix_reaches_flask(app: Flask) -> None:
    assert Answer(app.wsgi_app, environ(path="/__mock/health")).status == "200 OK"
    bare = Answer(app.wsgi_app, environ(path="/__mock"))
    assert bare.status.startswith("404 ") and b"No loaded spec documents" in bare.body


# -- failures -------------------------------------------------------------------------------
def session_environ(**kw: Any) -> tuple[str, dict[str, Any]]:
    session = f"gateway-{uuid.uuid4()}"
    return session, environ(**kw, HTTP_X_MOCK_SESSION=session)


def test_a_body_over_the_limit_is_journaled_with_what_was_read(engine: Engine) -> None:
    gateway = Gateway(engine, Flask("admin"), max_body=10, journal_size=100)
    session, env = session_environ(
        method="POST", path=HUAWEI, query="a=1", body=b"x" * 50, CONTENT_LENGTH="50"
    )
    answer = Answer(gateway, env)
    assert answer.status.startswith("413 ")
    assert answer.header("Content-Type") == problems.PROBLEM_MEDIA_TYPE
    (entry,) = engine.store.journal(session, {}, 10)
    assert entry["status"] == 413 and entry["error"] == "body-too-large"
    assert entry["query"] == {"a": ["1"]} and entry["body"] is None


def test_a_mock_bug_is_a_500_problem_and_is_journaled(
    app: Flask, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(request: Any) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(engine, "handle", broken)
    session, env = session_environ()
    answer = Answer(app.wsgi_app, env)
    assert answer.status.startswith("500 ")
    assert b"KeyError" in answer.body and b"please report it" in answer.body
    (entry,) = engine.store.journal(session, {}, 10)
    assert entry["error"] == "internal-error" and entry["status"] == 500


def test_a_client_gone_mid_body_is_left_to_the_server(app: Flask) -> None:
    class Gone(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise ConnectionResetError("client left")

    env = environ("POST", HUAWEI, CONTENT_LENGTH="10", **{"wsgi.input": Gone()})
    with pytest.raises(ConnectionResetError):
        Answer(app.wsgi_app, env)


# -- the ASGI form: what `mockserver serve` runs --------------------------------------------
class AsgiAnswer:
    """Runs the ASGI app on one request, its body in `chunks`."""

    def __init__(
        self,
        app: Any,
        method: str,
        path: str,
        query: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        chunks: tuple[bytes, ...] = (b"",),
        extensions: dict[str, Any] | None = None,
    ) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.received = 0
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "scheme": "http",
            "server": ("127.0.0.1", 4010),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "headers": headers or [],
            "extensions": extensions or {},
        }
        messages = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]

        async def receive() -> dict[str, Any]:
            self.received += 1
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status, self.headers = message["status"], message["headers"]
            else:
                self.body += message.get("body", b"")

        asyncio.run(app(scope, receive, send))

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        return next((v.decode() for k, v in self.headers if k.lower() == wanted), None)


HUAWEI_BODY = json.dumps(
    [{"event_name": "systemInvaded", "event_type": "EVENT.CUSTOM", "event_level": "Critical"}]
).encode()


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body"),
    [
        ("GET", EVENTS, "", {}, b""),
        ("GET", EVENTS, "", {"X-Mock-Status": "500"}, b""),
        ("GET", EVENTS, "", {"X-Mock-Status": "nonsense"}, b""),
        ("GET", "/event/x/events/list", "count=2&count=3", {}, b""),
        ("POST", HUAWEI, "", {"Content-Type": "application/json"}, b'[{"event_name": '),
        ("POST", HUAWEI, "", {"Content-Type": "application/json"}, HUAWEI_BODY),
        ("DELETE", EVENTS, "", {}, b""),
        ("GET", "/nowhere", "", {}, b""),
    ],
)
def test_asgi_answers_as_wsgi_does(
    app: Flask, method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> None:
    env = environ(method, path, query, body, CONTENT_LENGTH=str(len(body)))
    for key, value in headers.items():
        name = key.upper().replace("-", "_")
        env["CONTENT_TYPE" if name == "CONTENT_TYPE" else "HTTP_" + name] = value
    wsgi = Answer(app.wsgi_app, env)
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    half = len(body) // 2
    asgi = AsgiAnswer(
        asgi_app(app, 1), method, path, query.encode(), raw, (body[:half], body[half:])
    )
    assert asgi.status == int(wsgi.status.split()[0])
    assert {k.decode().lower(): v.decode() for k, v in asgi.headers} == {
        k.lower(): v for k, v in wsgi.headers
    }
    if asgi.status != 201:  # a 201's body is generated anew for each request
        assert asgi.body == wsgi.body


def test_asgi_refuses_a_declared_length_over_the_limit_unread(engine: Engine) -> None:
    gateway = AsgiGateway(Gateway(engine, Flask("admin"), max_body=10, journal_size=10), None)  # type: ignore[arg-type]
    answer = AsgiAnswer(gateway, "POST", HUAWEI, headers=[(b"content-length", b"50")])
    assert answer.status == 413 and answer.received == 0
    assert answer.header("connection") == "close"  # the rest of the body is not read
    chunked = AsgiAnswer(gateway, "POST", HUAWEI, chunks=(b"x" * 6, b"x" * 6, b"x" * 6))
    assert chunked.status == 413 and chunked.received == 2


def test_asgi_sends_admin_requests_to_flask(app: Flask) -> None:
    answer = AsgiAnswer(asgi_app(app, 1), "GET", "/__mock/health")
    assert answer.status == 200 and json.loads(answer.body)["status"] == "ok"


def test_asgi_hands_the_exchange_to_the_connection_and_sends_nothing(app: Flask) -> None:
    handed: list[Exchange] = []

    async def deliver(exchange: Exchange) -> None:
        handed.append(exchange)

    answer = AsgiAnswer(
        asgi_app(app, 1),
        "GET",
        EVENTS,
        headers=[(b"x-mock-fault", b"truncated")],
        extensions={CONNECTION: deliver},
    )
    assert answer.status == 0 and answer.body == b""  # nothing sent through ASGI
    ((exchange,),) = [handed]
    assert exchange.fault == "truncated" and exchange.status == 200
    assert exchange.body.startswith(b"[")
    # Without the server's extension the connection is out of reach: a 501 problem.
    unreachable = AsgiAnswer(asgi_app(app, 1), "GET", EVENTS, headers=[(b"x-mock-fault", b"reset")])
    assert unreachable.status == 501
