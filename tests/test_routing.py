"""The router: built once, literal segments first, exact trailing slashes, 405 with Allow,
raw paths split before decoding, base paths."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest
import requests

from mockserver.engine import Engine
from mockserver.routing import Match, NoRoute, Router, WrongMethod, split_path
from mockserver.spec import Operation
from tests.conftest import LiveServer

TENANT = "3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b"


def test_literal_segment_beats_template(engine: Engine) -> None:
    found = engine.router.match("GET", f"/event/{TENANT}/events/list")
    assert isinstance(found, Match)
    assert found.operation.operation_id == "fetchEvents"
    other = engine.router.match("GET", f"/event/{TENANT}/events/lists")
    assert isinstance(other, Match)
    assert other.operation.operation_id == "fetchEvent"
    assert other.path_params == {"tenantLocator": TENANT, "locator": "lists"}


def test_path_params_of_nested_templates(engine: Engine) -> None:
    found = engine.router.match("GET", "/api/v1/events/query/inventory/shop/web/1.2.0/")
    assert isinstance(found, Match)
    assert found.operation.operation_id == "queryInventoryVersionEvents"
    assert found.path_params == {"project": "shop", "application": "web", "version": "1.2.0"}


def test_trailing_slash_is_exact_and_suggested(engine: Engine) -> None:
    found = engine.router.match("GET", "/api/v1/events/query/inventory/shop")
    assert isinstance(found, NoRoute)
    assert found.suggestion == "/api/v1/events/query/inventory/{project}/"


def test_unknown_path(engine: Engine) -> None:
    assert engine.router.match("GET", "/nothing/here") == NoRoute(None)


def test_wrong_method_lists_documented_methods(engine: Engine) -> None:
    found = engine.router.match("POST", "/api/v1/events/subscriptions/project/p/")
    assert found == WrongMethod(("GET", "PUT"))
    head = engine.router.match("HEAD", "/api/v1/events/query/")
    assert head == WrongMethod(("GET",))


def test_empty_segment_does_not_match_a_parameter(engine: Engine) -> None:
    assert isinstance(engine.router.match("GET", "/event//events/abc"), NoRoute)


def test_router_from_no_operations() -> None:
    assert Router([]).match("GET", "/") == NoRoute(None)


# -- the tree: raw paths, partial segments, base paths -------------------------------------
def _op(method: str, path: str, base_path: str = "", op_id: str = "") -> Operation:
    return Operation(
        api="t",
        operation_id=op_id or f"{method} {path}",
        method=method,
        path=path,
        summary="",
        params=(),
        body=None,
        responses={},
        security=(),
        source="t.yaml",
        base_path=base_path,
    )


def test_an_escaped_slash_stays_inside_its_parameter() -> None:
    router = Router([_op("GET", "/events/{id}"), _op("GET", "/events/{id}/request/{rid}")])
    found = router.match("GET", "/events/request%2Fxyz")
    assert isinstance(found, Match)
    assert found.operation.path == "/events/{id}"
    assert found.path_params == {"id": "request/xyz"}
    deeper = router.match("GET", "/events/a%2Fb/request/%C3%A9")
    assert isinstance(deeper, Match)
    assert deeper.path_params == {"id": "a/b", "rid": "é"}


def test_an_escaped_slash_is_not_a_literal_separator() -> None:
    router = Router([_op("GET", "/a/b")])
    assert isinstance(router.match("GET", "/a%2Fb"), NoRoute)
    assert isinstance(router.match("GET", "/a/b"), Match)
    assert isinstance(router.match("GET", "/%61/b"), Match)  # an escaped letter is the letter


def test_escapes_that_are_not_utf8_find_no_route() -> None:
    router = Router([_op("GET", "/files/{name}")])
    assert router.match("GET", "/files/%FF") == NoRoute(None)
    assert router.match("GET", "/files/%C3") == NoRoute(None)
    found = router.match("GET", "/files/%zz")  # not an escape: the text as it is
    assert isinstance(found, Match) and found.path_params == {"name": "%zz"}


def test_split_path_decodes_each_segment() -> None:
    assert split_path("/a%2Fb/c/") == ("a/b", "c", "")
    assert split_path("/") == ("",)
    assert split_path("/%E2%82%AC") == ("€",)
    assert split_path("/%80") is None


def test_a_parameter_inside_a_segment() -> None:
    router = Router(
        [
            _op("GET", "/files/{name}.{ext}"),
            _op("GET", "/files/{name}"),
            _op("GET", "/files/index.json"),
        ]
    )
    literal = router.match("GET", "/files/index.json")
    assert isinstance(literal, Match) and literal.operation.path == "/files/index.json"
    partial = router.match("GET", "/files/report.2026.pdf")
    assert isinstance(partial, Match) and partial.operation.path == "/files/{name}.{ext}"
    assert partial.path_params == {"name": "report", "ext": "2026.pdf"}
    whole = router.match("GET", "/files/README")
    assert isinstance(whole, Match) and whole.path_params == {"name": "README"}


def test_a_literal_dead_end_falls_back_to_the_parameter() -> None:
    router = Router([_op("GET", "/a/b/c"), _op("GET", "/a/{x}/d")])
    found = router.match("GET", "/a/b/d")
    assert isinstance(found, Match) and found.path_params == {"x": "b"}


def test_method_found_on_a_less_literal_route() -> None:
    router = Router([_op("GET", "/a/list"), _op("DELETE", "/a/{id}")])
    found = router.match("DELETE", "/a/list")
    assert isinstance(found, Match) and found.path_params == {"id": "list"}
    assert router.match("PUT", "/a/list") == WrongMethod(("DELETE", "GET"))


def test_operations_are_served_under_their_base_path_only() -> None:
    router = Router([_op("GET", "/pets/{id}", "/api/v3"), _op("GET", "/health")])
    found = router.match("GET", "/api/v3/pets/7")
    assert isinstance(found, Match) and found.path_params == {"id": "7"}
    assert router.match("GET", "/pets/7") == NoRoute("/api/v3/pets/{id}", "base-path")
    assert isinstance(router.match("GET", "/health"), Match)
    assert router.match("GET", "/api/v3/health") == NoRoute(None)


def test_trailing_slash_near_miss_under_a_base_path() -> None:
    router = Router([_op("GET", "/pets/", "/v1")])
    assert router.match("GET", "/v1/pets") == NoRoute("/v1/pets/", "trailing-slash")


def test_routing_walks_the_path_not_the_operations() -> None:
    """A literal segment is a dict look-up: with 5,000 operations, matching one path
    looks at no more nodes than the path has segments (plus the parameter branches on
    its way), so the cost does not grow with the number of operations."""
    ops = [_op("GET", f"/r{i}/items/{{id}}") for i in range(5000)]
    router = Router(ops)
    visited: list[int] = []
    walk = router._tree._walk

    def counting(node: Any, segments: tuple[str, ...], depth: int) -> Any:
        visited.append(depth)
        return walk(node, segments, depth)

    router._tree._walk = counting  # type: ignore[method-assign]
    found = router.match("GET", "/r4321/items/9")
    assert isinstance(found, Match) and found.operation.path == "/r4321/items/{id}"
    assert len(visited) <= 4


# -- percent-encoded paths through a real socket (issue 15: M7) ------------------------------
def _raw_get(server: LiveServer, target: bytes, session: str, chunked: bool = False) -> int:
    """One GET with `target` exactly as written; chunked sends it through uvicorn's cycle
    (an empty chunked body) instead of the inline answer."""
    host, port = server.url.removeprefix("http://").split(":")
    head = b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    head += f"X-Mock-Session: {session}\r\n".encode()
    if chunked:
        head += b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    else:
        head += b"\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 "), received[:200]
    return int(received.split(b" ", 2)[1])


def _journal(server: LiveServer, session: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{server.url}/__mock/requests?session={session}", timeout=10)
    answer.raise_for_status()
    entries: list[dict[str, Any]] = answer.json()["requests"]
    return entries


@pytest.mark.parametrize("chunked", [False, True], ids=["inline", "asgi-cycle"])
def test_escaped_slash_does_not_reach_another_operation(
    live_server: LiveServer, chunked: bool
) -> None:
    session = f"m7-{uuid.uuid4()}"
    status = _raw_get(
        live_server, f"/event/{TENANT}/events/request%2Fxyz".encode(), session, chunked
    )
    assert status == 200
    (entry,) = _journal(live_server, session)
    assert entry["operationId"] == "fetchEvent"  # not fetchEventsForRequest
    assert entry["path"] == f"/event/{TENANT}/events/request/xyz"


@pytest.mark.parametrize("chunked", [False, True], ids=["inline", "asgi-cycle"])
def test_escapes_that_are_not_utf8_get_404(live_server: LiveServer, chunked: bool) -> None:
    session = f"m7-{uuid.uuid4()}"
    assert _raw_get(live_server, f"/event/{TENANT}/events/%FF".encode(), session, chunked) == 404
    (entry,) = _journal(live_server, session)
    assert entry["status"] == 404 and entry["operationId"] is None


def test_a_match_keeps_the_path_values_as_sent() -> None:
    found = Router([_op("GET", "/files/{name}")]).match("GET", "/files/;p=a%3Bb")
    assert isinstance(found, Match)
    assert found.path_params == {"name": ";p=a;b"}
    assert found.raw_path_params == {"name": ";p=a%3Bb"}
