"""The mock's own errors, and the one place that renders them.

Errors that belong to an API (a documented 400, 401, ...) are ordinary replies built
by the responder from the spec. Errors that belong to the mock itself (no such
route, a method the spec does not document, a control header that makes no sense,
a body over the size limit) are `MockError`s, rendered here as RFC 9457
`application/problem+json` with a `detail` that says what to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"
STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})
"""RFC 9457 §3.1: the members an extension may not redefine."""

_EXTRA_SLUGS = {499: "client_closed_request"}


def status_slug(status: int) -> str:
    """`400` -> `bad_request`; a code with no standard phrase -> `status_<code>`."""
    if status in _EXTRA_SLUGS:
        return _EXTRA_SLUGS[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return f"status_{status}"
    return phrase.lower().replace("-", "_").replace(" ", "_").replace("'", "")


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return status_slug(status).replace("_", " ").capitalize()


class MockError(Exception):
    """An error of the mock itself: carries its status, its problem type and its advice."""

    status = 500
    kind = "internal-error"

    def __init__(
        self,
        detail: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The problem document: the RFC 9457 members first, then the extensions. An
        extension never replaces a standard member (§3.1): `extra` keys of those names
        are dropped, so `status` is always the HTTP status sent."""
        standard = {
            "type": f"urn:mockserver:problem:{self.kind}",
            "title": status_phrase(self.status),
            "status": self.status,
            "detail": self.detail,
        }
        extensions = {k: v for k, v in self.extra.items() if k not in STANDARD_MEMBERS}
        return {**standard, **extensions}


class RouteNotFound(MockError):
    status = 404
    kind = "no-such-route"


class MethodNotDocumented(MockError):
    status = 405
    kind = "method-not-documented"


class BadControl(MockError):
    status = 400
    kind = "bad-control-header"


class UndocumentedError(MockError):
    """A request is invalid but its operation documents no status to say so."""

    status = 400
    kind = "invalid-request"


class MissingCredentials(MockError):
    status = 401
    kind = "missing-credentials"


class NotAcceptable(MockError):
    """The request's `Accept` names none of the media types the response documents."""

    status = 406
    kind = "not-acceptable"


class BodyTooLarge(MockError):
    status = 413
    kind = "body-too-large"


class BadHttpRequest(MockError):
    status = 400
    kind = "bad-request"


class UriTooLong(MockError):
    status = 414
    kind = "uri-too-long"


class HeadersTooLarge(MockError):
    status = 431
    kind = "headers-too-large"


class AdminError(MockError):
    status = 400
    kind = "admin"


class AdminMethodNotAllowed(MockError):
    status = 405
    kind = "admin-method-not-allowed"


class AdminUnauthorized(MockError):
    status = 401
    kind = "admin-token-required"


class FaultUnavailable(MockError):
    status = 501
    kind = "fault-unavailable"


class StateUnavailable(MockError):
    """The shared state (the local store's files, or Redis) cannot do what a request
    needs: count a scenario's call, read scenarios. Answers that need no state go on."""

    status = 503
    kind = "state-unavailable"


class InternalError(MockError):
    status = 500
    kind = "internal-error"


def render(error: MockError) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and bytes of a problem document."""
    # A detail may quote what a client sent, lone surrogates included: they are written
    # as `?`, so a problem document is always UTF-8 that any parser reads.
    payload = json.dumps(error.body(), ensure_ascii=False).encode("utf-8", "replace")
    headers = {"Content-Type": PROBLEM_MEDIA_TYPE, **error.headers}
    return error.status, headers, payload


class CodingNotImplemented(MockError):
    """A request body sent with a transfer coding the mock does not decode."""

    status = 501
    kind = "transfer-coding-not-implemented"
