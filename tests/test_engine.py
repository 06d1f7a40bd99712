"""engine.py: the methods a spec does not write (HEAD, OPTIONS) and what a preflight is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.engine import Allowed, Engine, Outcome, with_implied
from mockserver.problems import MethodNotDocumented
from mockserver.validation import RequestRecord

ANSWERS = Path(__file__).parent / "data" / "answers.yaml"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_paths([ANSWERS], None)


def test_head_is_the_get_operation(engine: Engine) -> None:
    outcome = engine.handle(RequestRecord("HEAD", "/pets"))
    assert isinstance(outcome, Outcome)
    assert outcome.operation.operation_id == "listPets"
    assert outcome.reply.status == 200


def test_head_where_no_get_is_documented_is_405(engine: Engine) -> None:
    with pytest.raises(MethodNotDocumented) as caught:
        engine.handle(RequestRecord("HEAD", "/only-ok"))
    assert caught.value.headers["Allow"] == "OPTIONS, POST"


def test_options_lists_the_path_s_methods(engine: Engine) -> None:
    assert engine.handle(RequestRecord("OPTIONS", "/pets/3")) == Allowed(
        ("DELETE", "GET", "HEAD", "OPTIONS")
    )


def test_a_405_lists_head_and_options_too(engine: Engine) -> None:
    with pytest.raises(MethodNotDocumented) as caught:
        engine.handle(RequestRecord("PUT", "/pets"))
    assert caught.value.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert caught.value.extra["allowed"] == ["GET", "HEAD", "OPTIONS", "POST"]


def test_with_implied() -> None:
    assert with_implied(("POST",)) == ("OPTIONS", "POST")
    assert with_implied(("GET", "PUT")) == ("GET", "HEAD", "OPTIONS", "PUT")


def test_a_preflight_is_told_the_operation_s_request_headers(engine: Engine) -> None:
    facts = engine.preflight("/pets", "GET")
    assert facts is not None
    assert facts.methods == ("GET", "HEAD", "OPTIONS", "POST")
    assert {"x-request-id", "x-mock-status", "x-mock-session"} <= facts.headers
    assert "content-type" not in facts.headers  # GET /pets takes no body
    post = engine.preflight("/pets", "POST")
    assert post is not None and "content-type" in post.headers
    secure = engine.preflight("/secure", "GET")
    assert secure is not None and "x-api-key" in secure.headers
    assert engine.preflight("/nowhere", "GET") is None
