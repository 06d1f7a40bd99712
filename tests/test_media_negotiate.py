"""Content negotiation: Accept ranges, q-values, wildcards, suffixes, parameters."""

from __future__ import annotations

import pytest

from mockserver.media.negotiate import concrete, negotiate, parse_accept

JSON_XML = ("application/json", "application/xml")


@pytest.mark.parametrize("accept", [None, "", "  ", "*/*", "garbage", "text"])
def test_no_usable_accept_gives_the_first_documented_type(accept: str | None) -> None:
    assert negotiate(accept, JSON_XML) == "application/json"
    assert negotiate(accept, tuple(reversed(JSON_XML))) == "application/xml"


def test_an_exact_type_is_chosen_over_the_first() -> None:
    assert negotiate("application/xml", JSON_XML) == "application/xml"


def test_q_values_order_the_choice() -> None:
    assert negotiate("application/json;q=0.5, application/xml", JSON_XML) == "application/xml"
    assert negotiate("application/json;q=0.9, application/xml;q=0.1", JSON_XML) == (
        "application/json"
    )


def test_q_zero_refuses_and_nothing_acceptable_is_none() -> None:
    assert negotiate("application/json;q=0", JSON_XML) is None
    assert negotiate("text/html", JSON_XML) is None
    assert negotiate("*/*, application/json;q=0", JSON_XML) == "application/xml"


def test_a_type_wildcard_matches_its_family() -> None:
    assert negotiate("image/*", ("application/json", "image/png")) == "image/png"
    assert negotiate("text/*", JSON_XML) is None


def test_a_json_range_accepts_a_json_suffix() -> None:
    offered = ("application/problem+json",)
    assert negotiate("application/json", offered) == "application/problem+json"
    assert negotiate("application/*+json", offered) == "application/problem+json"
    assert negotiate("application/vnd.api+json", offered) is None


def test_the_more_specific_range_decides_the_quality() -> None:
    accept = "application/*;q=0.2, application/xml;q=0.9"
    assert negotiate(accept, JSON_XML) == "application/xml"
    assert negotiate("*/*;q=0.1, application/json", ("application/xml", "text/plain")) == (
        "application/xml"
    )


def test_parameters_must_agree_where_the_documented_type_states_them() -> None:
    offered = ("application/json; version=1", "application/json; version=2")
    assert negotiate("application/json; version=2", offered) == "application/json; version=2"
    assert negotiate("application/json; version=3", offered) is None
    assert negotiate("text/plain; charset=utf-8", ("text/plain",)) == "text/plain"


def test_a_browser_accept_prefers_xml_to_json() -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert negotiate(browser, JSON_XML) == "application/xml"


def test_unreadable_ranges_are_ignored() -> None:
    ranges = parse_accept("application/json;q=high, application/xml;q=2, text/plain;q=0.3, */x")
    assert [(r.kind, r.sub, r.q) for r in ranges] == [("text", "plain", 0.3)]


def test_a_documented_range_answers_with_a_concrete_type() -> None:
    assert negotiate("image/png", ("image/*",)) == "image/*"
    assert concrete("image/*", "image/png") == "image/png"
    assert concrete("image/*", None) == "image/png"
    assert concrete("*/*", "*/*") == "application/json"
    assert concrete("application/json", "text/html") == "application/json"
