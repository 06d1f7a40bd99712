"""The one writer of response bytes: every answer the server writes itself is made here.

`answer_bytes` writes a whole answer as uvicorn writes an ASGI app's (its
`RequestResponseCycle.send`): the status line, the server's default headers (`date`),
the answer's headers (names lower-cased, refused if not valid HTTP), `connection: close`
unless the connection is kept alive, no body for HEAD, 1xx, 204 and 304, and a chunked
body when no length is given. Inline answers, answers of requests that went through
uvicorn's cycle, refusals of requests that cannot be read, internal errors and the head
of a `truncated` fault all come through it, so their reason phrases come from one
source (`reason`) and their framing from one function.

Nothing here knows the mock: it takes a status, headers and a body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Protocol

RawHeaders = Sequence[tuple[bytes, bytes]]
Headers = list[tuple[str, str]]

_NAME_REFUSED = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_VALUE_REFUSED = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
_PHRASES = {status.value: status.phrase for status in HTTPStatus}
_STATUS_LINES = {
    code: f"HTTP/1.1 {code} {phrase}\r\n".encode() for code, phrase in _PHRASES.items()
}


class Answer(Protocol):
    """What is written: `gateway.Exchange` is one."""

    @property
    def method(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def body(self) -> bytes: ...
    @property
    def bodyless(self) -> bool: ...


def reason(status: int) -> str:
    """The reason phrase of a status (RFC 9110's), empty for a code it does not name."""
    return _PHRASES.get(status, "")


def status_text(status: int) -> str:
    """`201 Created`: the status as WSGI's `start_response` takes it."""
    return f"{status} {reason(status) or 'Unknown'}"


def head_bytes(
    status: int,
    headers: Iterable[tuple[str, str]],
    default_headers: RawHeaders,
    keep_alive: bool,
    method: str = "GET",
    length: int | None = None,
) -> tuple[bytes, bool, bool]:
    """The head of an answer; whether the connection stays open; whether the body must
    be chunked (no length given). `length` replaces any Content-Length of `headers`
    (a `truncated` fault announces the whole body and sends half). Raises ValueError
    for a header that is not valid HTTP (UnicodeEncodeError past latin-1)."""
    content = [_STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n".encode()]
    for name, value in default_headers:
        content += [name, b": ", value, b"\r\n"]
    sized = closes = False
    for key, text in headers:
        name, value = key.encode("latin-1").lower(), text.encode("latin-1")
        if _NAME_REFUSED.search(name) or _VALUE_REFUSED.search(value):
            raise ValueError(f"header {key!r} is not valid HTTP")
        if name == b"content-length":
            if length is not None:
                continue
            sized = True
        elif name == b"connection" and b"close" in [t.strip().lower() for t in value.split(b",")]:
            keep_alive, closes = False, True
        content += [name, b": ", value, b"\r\n"]
    if length is not None:
        content.append(b"content-length: %d\r\n" % length)
        sized = True
    if not keep_alive and not closes:
        content.append(b"connection: close\r\n")
    chunked = not sized and method != "HEAD" and status not in (204, 304) and status >= 200
    if chunked:
        content.append(b"transfer-encoding: chunked\r\n")  # as uvicorn: no length given
    content.append(b"\r\n")
    return b"".join(content), keep_alive, chunked


def answer_bytes(
    answer: Answer, default_headers: RawHeaders, keep_alive: bool
) -> tuple[bytes, bool]:
    """The whole answer, and whether the connection stays open after it."""
    head, keep_alive, chunked = head_bytes(
        answer.status, answer.headers, default_headers, keep_alive, answer.method
    )
    body = b"" if answer.bodyless else answer.body
    if chunked:
        body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return head + body, keep_alive
