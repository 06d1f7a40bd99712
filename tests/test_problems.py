"""problems: the mock's own errors as RFC 9457 documents, rendered in one place."""

from __future__ import annotations

import json

import pytest

from mockserver import problems
from tests.conftest import LiveServer
from tests.test_hostile import body_of, exchange, status_of

STANDARD = {"type": "x", "title": "x", "status": 299, "detail": "x", "instance": "x"}


def every_problem_class() -> list[type[problems.MockError]]:
    found: list[type[problems.MockError]] = [problems.MockError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", every_problem_class(), ids=lambda c: c.__name__)
def test_extensions_never_replace_standard_members(cls: type[problems.MockError]) -> None:
    error = cls("what to do", extra={**STANDARD, "valid": [1, 2]})
    status, headers, payload = problems.render(error)
    body = json.loads(payload)
    assert body == {
        "type": f"urn:mockserver:problem:{cls.kind}",
        "title": problems.status_phrase(cls.status),
        "status": cls.status,
        "detail": "what to do",
        "valid": [1, 2],
    }
    assert status == cls.status
    assert headers["Content-Type"] == problems.PROBLEM_MEDIA_TYPE


EVENTS = "/api/v1/events/query/"


def get(path: str, headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n".encode()


CASES = {
    "no-route": get("/nowhere"),
    "method-not-documented": b"DELETE " + EVENTS.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n",
    "bad-example": get(EVENTS, "X-Mock-Example: nope\r\n"),
    "bad-status": get(EVENTS, "X-Mock-Status: 999\r\n"),
    "bad-delay": get(EVENTS, "X-Mock-Delay: -1\r\n"),
    "bad-fault": get(EVENTS, "X-Mock-Fault: fire\r\n"),
    "bad-dynamic": get(EVENTS, "X-Mock-Dynamic: maybe\r\n"),
    "dot-segment": get("/api/v1/events/%2e%2e/query/"),
    "admin-route": get("/__mock/nowhere"),
    "admin-method": b"POST /__mock/health HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    "admin-filter": get("/__mock/requests?bogus=1"),
    "admin-scenarios": b"PUT /__mock/scenarios HTTP/1.1\r\nHost: t\r\n"
    b"Content-Length: 5\r\n\r\nx: [1",
    "body-too-large": b"POST /internal/create-event HTTP/1.1\r\nHost: t\r\n"
    b"Content-Type: application/json\r\nContent-Length: 99999999\r\n\r\n",
    "header-too-large": get(EVENTS, "X-Big: " + "a" * 70_000 + "\r\n"),
    "no-host": b"GET " + EVENTS.encode() + b" HTTP/1.1\r\n\r\n",
    "transfer-coding": b"POST /internal/create-event HTTP/1.1\r\nHost: t\r\n"
    b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "not-http": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", CASES.values(), ids=CASES.keys())
def test_every_problem_the_mock_sends_states_the_status_it_was_sent_with(
    live_server: LiveServer, request_bytes: bytes
) -> None:
    answer = exchange(live_server, request_bytes)
    status = status_of(answer)
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert b"content-type: application/problem+json" in head
    body = json.loads(body_of(answer))
    assert body["status"] == status and 400 <= status < 600
    assert body["type"].startswith("urn:mockserver:problem:")
    assert body["title"] and body["detail"]
