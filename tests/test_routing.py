"""The router: built once, literal segments first, exact trailing slashes, 405 with Allow."""

from __future__ import annotations

from mockserver.engine import Engine
from mockserver.routing import Match, NoRoute, Router, WrongMethod

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
