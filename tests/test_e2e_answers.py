"""How a request is answered, through a real socket, on a purpose-written spec
(tests/data/answers.yaml): readable rejections, which status a rejection gets, ranges
and default, negotiation and media types, HEAD, OPTIONS and CORS."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT, LiveServer

SPEC = str(ROOT / "tests" / "data" / "answers.yaml")
FRONT = "http://localhost:5173"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    running = LiveServer(SPEC, "--workers", "1")
    yield running
    assert running.stop() == 0


def call(
    server: LiveServer,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        sent = dict(headers or {})
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def journal(server: LiveServer, session: str) -> list[dict[str, Any]]:
    status, _, data = call(server, "GET", f"/__mock/requests?session={session}")
    assert status == 200
    entries: list[dict[str, Any]] = json.loads(data)["requests"]
    return entries


# -- 1. readable rejections ------------------------------------------------------------------
def test_a_rejection_says_what_was_wrong_in_the_api_s_own_error(server: LiveServer) -> None:
    status, headers, data = call(server, "GET", "/pets?limit=500")
    assert status == 400
    body = json.loads(data)
    assert body["code"] == 400
    assert "'limit'" in body["message"] and "maximum" in body["message"]
    assert body["errors"] == [{"field": "limit", "message": body["message"]}]
    assert headers["X-Mock-Violations"] == "query limit: maximum"
    assert set(body) == {"code", "message", "errors"}  # additionalProperties: false held


def test_an_error_with_only_an_example_is_that_example(server: LiveServer) -> None:
    status, headers, data = call(server, "POST", "/reports", body={})
    assert status == 422
    assert headers["Content-Type"] == "application/json"
    assert json.loads(data) == {"message": "The report is not valid", "code": 42}
    assert headers["X-Mock-Violations"] == "body title: required"


def test_a_template_is_filled_in_one_pass(server: LiveServer) -> None:
    status, _, data = call(server, "GET", "/echo/%7Bstatus%7D")
    assert status == 400
    body = json.loads(data)
    assert '"{status}"' in body["message"] and body["status"] == "400"


# -- 2. which status a rejection gets --------------------------------------------------------
def test_a_rejection_falls_back_to_4xx_then_default_then_the_mock(server: LiveServer) -> None:
    session = {"X-Mock-Session": "statuses"}
    status, _, data = call(server, "POST", "/pets", session, body={"id": 0})
    assert status == 400 and json.loads(data)["error"]["status"] == "400"
    status, headers, data = call(server, "GET", "/pets/0", session)
    assert status == 400 and headers["Content-Type"] == "application/problem+json"
    assert json.loads(data)["status"] == 400
    status, headers, data = call(server, "POST", "/only-ok", session, body={})
    assert status == 400 and json.loads(data)["type"] == "urn:mockserver:problem:invalid-request"
    entries = journal(server, "statuses")
    assert [e["operationId"] for e in entries] == ["createPet", "getPet", "onlyOk"]
    assert all(e["problems"] for e in entries)


# -- 3. ranges and default: forced, answered, covered ----------------------------------------
def test_ranges_and_default_are_forced_answered_and_covered(server: LiveServer) -> None:
    session = {"X-Mock-Session": "ranges"}
    status, headers, data = call(
        server, "POST", "/pets", {**session, "X-Mock-Status": "404"}, {"id": 1, "name": "a"}
    )
    assert status == 404 and json.loads(data)["error"]["status"] == "404"
    assert headers["X-Mock-Violations"] == "none"
    status, _, data = call(server, "GET", "/pets/3", {**session, "X-Mock-Status": "503"})
    assert status == 503 and json.loads(data)["status"] == 503
    status, _, data = call(server, "GET", "/__mock/coverage?session=ranges")
    ops = {op["operationId"]: op for op in json.loads(data)["operations"]}
    assert ops["createPet"]["statuses"]["served"] == ["4XX"]
    assert ops["getPet"]["statuses"]["documented"] == [200, "default"]
    assert ops["getPet"]["statuses"]["served"] == ["default"]


# -- 4. negotiation and media types ----------------------------------------------------------
def test_accept_chooses_xml_written_as_the_xml_object_says(server: LiveServer) -> None:
    status, headers, data = call(
        server, "GET", "/pets", {"Accept": "application/json;q=0.2, application/xml"}
    )
    assert status == 200 and headers["Content-Type"] == "application/xml"
    root = ET.fromstring(data)
    assert root.tag == "pets"
    for pet in root:
        assert pet.tag == "pet" and pet.get("id", "").isdigit()
        assert pet.findtext("name")
        assert all(tag.tag == "tag" for tag in pet.find("tags") or [])


def test_nothing_acceptable_is_406_and_a_forced_status_still_answers(server: LiveServer) -> None:
    status, headers, data = call(server, "GET", "/pets", {"Accept": "text/html"})
    assert status == 406 and headers["Content-Type"] == "application/problem+json"
    assert json.loads(data)["accepted"] == ["application/json", "application/xml"]
    status, headers, _ = call(
        server, "GET", "/pets", {"Accept": "text/html", "X-Mock-Status": "200"}
    )
    assert status == 200 and headers["Content-Type"] == "application/json"


def test_binary_types_are_small_valid_files(server: LiveServer) -> None:
    status, headers, png = call(server, "GET", "/pets/3/photo", {"Accept": "image/*"})
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    length, kind = struct.unpack(">I4s", png[8:16])
    assert length == 13
    assert kind == b"IHDR" and struct.unpack(">II", png[16:24]) == (1, 1)
    idat = png.index(b"IDAT")
    size = struct.unpack(">I", png[idat - 4 : idat])[0]
    assert len(zlib.decompress(png[idat + 4 : idat + 4 + size])) == 4  # filter byte + RGB
    status, headers, pdf = call(server, "GET", "/pets/3/photo", {"Accept": "application/pdf"})
    assert headers["Content-Type"] == "application/pdf"
    assert pdf.startswith(b"%PDF-1.") and pdf.rstrip().endswith(b"%%EOF")
    start = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    assert pdf[start:].startswith(b"xref")


def test_text_is_plain_text(server: LiveServer) -> None:
    status, headers, data = call(server, "GET", "/pets/3/note")
    assert status == 200 and headers["Content-Type"] == "text/plain"
    text = data.decode("utf-8")
    assert 5 <= len(text) <= 40 and not text.startswith('"')


# -- 5. HEAD, OPTIONS, CORS ------------------------------------------------------------------
def _read_answer(stream: Any) -> tuple[bytes, dict[str, str]]:
    status_line = stream.readline()
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_line, headers


def test_head_answers_get_s_headers_and_no_body(server: LiveServer) -> None:
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"HEAD /pets HTTP/1.1\r\nHost: x\r\n\r\nGET /pets HTTP/1.1\r\nHost: x\r\n\r\n")
        stream = sock.makefile("rb")
        head_line, head = _read_answer(stream)
        get_line, get = _read_answer(stream)  # begins right after HEAD's head: no body
        body = stream.read(int(get["content-length"]))
    assert head_line.startswith(b"HTTP/1.1 200") and get_line.startswith(b"HTTP/1.1 200")
    assert head["content-type"] == get["content-type"] == "application/json"
    assert head["content-length"] == get["content-length"] == str(len(body))


def test_options_answers_allow(server: LiveServer) -> None:
    status, headers, data = call(server, "OPTIONS", "/pets/3")
    assert status == 204 and data == b""
    assert headers["Allow"] == "DELETE, GET, HEAD, OPTIONS"


def test_a_browser_preflight_then_the_call(server: LiveServer) -> None:
    status, headers, _ = call(
        server,
        "OPTIONS",
        "/pets",
        {
            "Origin": FRONT,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-request-id,x-not-documented",
        },
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == FRONT
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS, POST"
    assert headers["Access-Control-Allow-Headers"] == "x-request-id"
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in headers["Vary"]
    status, headers, _ = call(server, "GET", "/pets?limit=0", {"Origin": FRONT})
    assert status == 400
    assert headers["Access-Control-Allow-Origin"] == FRONT
    assert "X-Mock-Violations" in headers["Access-Control-Expose-Headers"]


def test_every_answer_carries_allow_origin(server: LiveServer) -> None:
    for method, path in (("GET", "/nowhere"), ("PUT", "/pets"), ("GET", "/__mock/health")):
        _, headers, _ = call(server, method, path)
        assert headers["Access-Control-Allow-Origin"] == "*", (method, path)


def test_an_origin_list_admits_only_its_origins() -> None:
    running = LiveServer(SPEC, "--workers", "1", "--cors", "https://app.example")
    try:
        _, headers, _ = call(running, "GET", "/pets", {"Origin": "https://app.example"})
        assert headers["Access-Control-Allow-Origin"] == "https://app.example"
        _, headers, _ = call(running, "GET", "/pets", {"Origin": FRONT})
        assert "Access-Control-Allow-Origin" not in headers
        status, headers, _ = call(
            running,
            "OPTIONS",
            "/pets",
            {"Origin": FRONT, "Access-Control-Request-Method": "GET"},
        )
        assert status == 204 and "Access-Control-Allow-Origin" not in headers
    finally:
        assert running.stop() == 0
