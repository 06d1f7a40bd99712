"""The precedence rules, written once: which status, which media type, and which body.

Status::

    X-Mock-Status / Prefer code   ->  that status, documented under its number, its
                                      range (4XX) or `default` (wins over everything)
    missing credentials           ->  401, else a documented 4XX, else `default`,
                                      else the mock's own 401 problem+json
    any other violation           ->  400, else 422, else a documented 4XX, else
                                      `default` (both answered as 400), else the
                                      mock's own 400 problem+json
    otherwise                     ->  the lowest documented 2xx (2XX or `default`: 200)

Media type: the documented one the request's `Accept` prefers (`media.negotiate`:
q-values, wildcards, `+json` suffixes). When none is acceptable the answer is 406
problem+json, unless the status was forced, an example named, or the request is
rejected: those answer in the first documented media type.

Body, for the chosen media type::

    rejected request               ->  the response's x-error-template, filled in;
                                       else generated and filled from the violations
                                       (`rejections.fill`); else its first example
    X-Mock-Example: name           ->  that named fixture, else that named spec example
    X-Mock-Dynamic: true           ->  generated from the schema
    otherwise                      ->  default fixture, first spec example,
                                       x-error-template, generated from the schema
                                       (x-mock-default-body: generated skips the
                                       example and the template)

Headers: every header the chosen response documents (`headers.py`: its example, a
`Location` naming the created resource, else generated), then the reply's own (a
scenario's win); a 401 always names its schemes in `WWW-Authenticate`.

A status with nothing to send (no content documented, or neither schema nor example)
has no body and no Content-Type. Every rejected or forced answer carries
`X-Mock-Violations` (`rejections.header_value`). Generated data is seeded by the
request's identity (see `request_seed`), so the same request gets the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faker import Faker

from mockserver import rejections
from mockserver.controls import Controls
from mockserver.fixtures import FixtureStore
from mockserver.generation import make_context
from mockserver.headers import HeaderRequest
from mockserver.headers import fill as fill_headers
from mockserver.media import Writer, concrete, negotiate
from mockserver.problems import (
    PROBLEM_MEDIA_TYPE,
    MissingCredentials,
    MockError,
    NotAcceptable,
    UndocumentedError,
    status_slug,
)
from mockserver.spec import NO_TEMPLATE, MediaType, Operation, Response
from mockserver.validation import Checked, RequestRecord, Violation

NOT_ACCEPTABLE: Any = object()
"""What `_media` gives when `Accept` refuses every documented media type."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer, before serialisation."""

    status: int
    media_type: str | None
    body: Any
    source: str
    example: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    write: Writer | None = None
    """How the body becomes bytes (the media type's compiled codec writer); None: the
    codec of `media_type`, knowing only its name."""


def request_seed(
    server_seed: int,
    op: Operation,
    request: RequestRecord,
    path_params: Mapping[str, str],
    controls: Controls,
    status: int,
) -> int:
    """A seed that depends on the request's identity, never on the order of requests."""
    if controls.seed is not None:
        parts: list[str] = [f"seed={controls.seed}"]
    else:
        parts = [
            f"seed={server_seed}",
            *(f"{k}={v}" for k, v in sorted(path_params.items())),
            *(f"{k}={v}" for k, v in sorted(request.query)),
        ]
    # Each part ends with a NUL; then the body, unless a seed was forced.
    text = "\0".join((op.api, op.operation_id, str(status), *parts, ""))
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
    if controls.seed is None:
        digest.update(request.body)
    return int.from_bytes(digest.digest()[:8], "big")


class Responder:
    """Chooses status and body; holds the fixtures, the server seed and a Faker it owns."""

    def __init__(self, fixtures: FixtureStore, seed: int) -> None:
        self.fixtures = fixtures
        self.seed = seed
        self._fake = Faker()
        # One Faker, re-seeded per generation: the lock keeps two threads from
        # interleaving their seeds (a Faker per thread would be built per request
        # under a threaded server, which costs far more than the wait).
        self._lock = threading.Lock()

    def respond(
        self,
        op: Operation,
        request: RequestRecord,
        path_params: Mapping[str, str],
        checked: Checked,
        controls: Controls,
    ) -> Reply:
        reply = self._respond(op, request, path_params, checked, controls)
        reply = self._with_headers(op, reply, request, path_params, controls)
        if reply.status == 401 and op.challenge:
            return with_challenge(reply, op.challenge)
        return reply

    def _respond(
        self,
        op: Operation,
        request: RequestRecord,
        path_params: Mapping[str, str],
        checked: Checked,
        controls: Controls,
    ) -> Reply:
        accept = request.header("accept")
        if controls.status is not None:
            reply = self.body_for(
                op,
                controls.status,
                request,
                path_params,
                checked,
                controls,
                message=f"status {controls.status} forced by the client",
                accept=accept,
                violations=(*checked.security, *checked.violations),
            )
            return _with_violations(reply, (*checked.security, *checked.violations))
        if checked.security:
            status = rejection_status(op, (401,))
            if status is None:
                error: MockError = MissingCredentials(
                    rejections.sentence(checked.security),
                    headers={"WWW-Authenticate": op.challenge} if op.challenge else None,
                )
                return _problem(error, checked.security)
            reply = self.rejection(op, status, checked.security, request, path_params, controls)
            return _with_violations(reply, checked.security)
        if checked.violations:
            status = rejection_status(op, (400, 422))
            if status is None:
                error = UndocumentedError(
                    rejections.sentence(checked.violations)
                    + f" ({op.operation_id} documents no 400, 422, 4XX or default response "
                    "to report it)",
                    extra={"violations": [v.as_dict() for v in checked.violations]},
                )
                return _problem(error, checked.violations)
            reply = self.rejection(op, status, checked.violations, request, path_params, controls)
            return _with_violations(reply, checked.violations)
        return self.body_for(
            op, op.success_status, request, path_params, checked, controls, accept=accept
        )

    # -- bodies -----------------------------------------------------------------------------
    def rejection(
        self,
        op: Operation,
        status: int,
        violations: tuple[Violation, ...],
        request: RequestRecord,
        path_params: Mapping[str, str],
        controls: Controls,
    ) -> Reply:
        response = op.response_for(status)
        media = _media(response, request.header("accept"), required=False)
        if media is None or media is NOT_ACCEPTABLE:
            return Reply(status, None, None, "none")
        media_type = concrete(media.name, request.header("accept"))
        seed = request_seed(self.seed, op, request, path_params, controls, status)
        if media.error_template is not NO_TEMPLATE:
            body = fill_template(
                media.error_template,
                status,
                rejections.sentence(violations),
                violations,
                _request_id(seed),
            )
            return Reply(status, media_type, body, "template", write=media.write)
        if media.generator is not None:
            generated = self._generate(media, seed, {}, None)
            validate = media.validator.is_valid if media.validator is not None else None
            body = rejections.fill(generated, status, violations, validate)
            return Reply(status, media_type, body, "generated", write=media.write)
        if media.examples:
            first = next(iter(media.examples))
            return Reply(
                status, media_type, media.examples[first], "example", first, write=media.write
            )
        return Reply(status, None, None, "none")

    def body_for(
        self,
        op: Operation,
        status: int,
        request: RequestRecord,
        path_params: Mapping[str, str],
        checked: Checked,
        controls: Controls,
        message: str = "",
        accept: str | None = None,
        violations: tuple[Violation, ...] = (),
    ) -> Reply:
        response = op.response_for(status)
        forced = controls.status is not None or controls.example is not None
        media = _media(response, accept, required=not forced)
        if media is NOT_ACCEPTABLE:
            assert response is not None
            offered = [m.name for m in response.media]
            error = NotAcceptable(
                f"Accept {(accept or '')[:200]!r} accepts none of the media types "
                f"{op.operation_id} documents for status {status}: {', '.join(offered)}. "
                "Send one of them (or */*), or force a status with X-Mock-Status.",
                extra={"accepted": offered},
            )
            refused = Violation("header", "Accept", "not-acceptable", error.detail)
            return _problem(error, (refused,))
        if media is None:
            return Reply(status, None, None, "none")
        media_type = concrete(media.name, accept)
        write = media.write
        name = controls.example
        if name is not None:
            found, body = self.fixtures.get(op, status, name)
            if found:
                return Reply(status, media_type, body, "fixture", name, write=write)
            return Reply(status, media_type, media.examples[name], "example", name, write=write)
        seed = request_seed(self.seed, op, request, path_params, controls, status)
        if not controls.dynamic:
            found, body = self.fixtures.get(op, status)
            if found:
                return Reply(status, media_type, body, "fixture", write=write)
            if media.examples and not media.prefer_generated:
                first = next(iter(media.examples))
                return Reply(
                    status, media_type, media.examples[first], "example", first, write=write
                )
            if media.error_template is not NO_TEMPLATE and not media.prefer_generated:
                body = fill_template(
                    media.error_template,
                    status,
                    message or status_slug(status),
                    (),
                    _request_id(seed),
                )
                return Reply(status, media_type, body, "template", write=write)
        if media.generator is None:
            if media.examples:  # X-Mock-Dynamic, and nothing to generate from
                first = next(iter(media.examples))
                return Reply(
                    status, media_type, media.examples[first], "example", first, write=write
                )
            return Reply(status, None, None, "none")
        body = self._generate(media, seed, {**checked.params}, checked.body)
        if controls.status is not None and status >= 400:  # a forced error: its own status
            validate = media.validator.is_valid if media.validator is not None else None
            body = rejections.fill(body, status, violations, validate)
        return Reply(status, media_type, body, "generated", write=write)

    def _with_headers(
        self,
        op: Operation,
        reply: Reply,
        request: RequestRecord,
        path_params: Mapping[str, str],
        controls: Controls,
    ) -> Reply:
        """The chosen response's documented headers, before the reply's own (which win)."""
        response = op.response_for(reply.status)
        if response is None or not response.documented_headers:
            return reply
        seed = request_seed(self.seed, op, request, path_params, controls, reply.status)
        facts = HeaderRequest(seed, request.path, op.path, request.header("host"), reply.body)
        with self._lock:
            documented = fill_headers(response.documented_headers, facts, self._fake)
        return dataclasses.replace(reply, headers=documented + reply.headers)

    def _generate(self, media: MediaType, seed: int, echo: Mapping[str, Any], body: Any) -> Any:
        if media.generator is None:
            return None
        with self._lock:
            return media.generator(make_context(seed, self._fake, echo=echo, body=body))


def rejection_status(op: Operation, preferred: tuple[int, ...]) -> int | None:
    """The status of a rejection: the first of `preferred` the operation documents by
    number, else the first of them answered from a documented `4XX` or `default`
    response; None when the operation documents none of these."""
    for status in preferred:
        if status in op.responses:
            return status
    if "4XX" in op.ranges or "default" in op.ranges:
        return preferred[0]
    return None


def _media(response: Response | None, accept: str | None, required: bool) -> Any:
    """The documented media type to answer with: the one `Accept` prefers; when none is
    acceptable, NOT_ACCEPTABLE if `required`, else the first documented one. None when
    the response documents no content."""
    if response is None or not response.media:
        return None
    if len(response.media) == 1 and not accept:
        return response.media[0]
    chosen = negotiate(accept, [m.name for m in response.media])
    if chosen is None:
        return NOT_ACCEPTABLE if required else response.media[0]
    return response.media_named(chosen)


def _problem(error: MockError, violations: tuple[Violation, ...]) -> Reply:
    """The mock's own problem document as a reply, so that the journal keeps the
    operation and the violations of a request its operation cannot answer."""
    headers = (*error.headers.items(), (rejections.HEADER, rejections.header_value(violations)))
    return Reply(error.status, PROBLEM_MEDIA_TYPE, error.body(), "mock", headers=headers)


def _with_violations(reply: Reply, violations: tuple[Violation, ...]) -> Reply:
    header = (rejections.HEADER, rejections.header_value(violations))
    return Reply(
        reply.status,
        reply.media_type,
        reply.body,
        reply.source,
        reply.example,
        (*reply.headers, header),
        reply.write,
    )


_PLACEHOLDER = re.compile(r"\{(message|status|slug|request_id)\}")


def with_challenge(reply: Reply, challenge: str) -> Reply:
    """A 401 names the schemes it would accept (`WWW-Authenticate`, RFC 9110 §11.6.1);
    it replaces a documented one, which could only say less."""
    kept = tuple((k, v) for k, v in reply.headers if k.lower() != "www-authenticate")
    return dataclasses.replace(reply, headers=(*kept, ("WWW-Authenticate", challenge)))


def fill_template(
    template: Any, status: int, message: str, violations: tuple[Violation, ...], request_id: str
) -> Any:
    """Substitute the placeholders of an `x-error-template` (see specs/CONVENTIONS.md),
    in one pass: text a placeholder brings in (the client's own value in a message) is
    never substituted again."""
    if isinstance(template, str):
        if template == "{violations}":
            return [v.as_dict() for v in violations]
        values = {
            "message": message,
            "status": str(status),
            "slug": status_slug(status),
            "request_id": request_id,
        }
        return _PLACEHOLDER.sub(lambda found: values[found.group(1)], template)
    if isinstance(template, Mapping):
        return {
            k: fill_template(v, status, message, violations, request_id)
            for k, v in template.items()
        }
    if isinstance(template, list):
        return [fill_template(v, status, message, violations, request_id) for v in template]
    return template


def _request_id(seed: int) -> str:
    return f"{seed & 0xFFFFFFFFFFFF:012x}"
