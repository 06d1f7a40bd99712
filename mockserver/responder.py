"""The precedence rules, written once: which status, and which body.

Status::

    X-Mock-Status / Prefer code   ->  that documented status (wins over everything)
    missing credentials           ->  the documented 401
    any other violation           ->  the documented 400, else 422
    otherwise                     ->  the lowest documented 2xx

Body, for the chosen status's first media type::

    rejected request (401/400/422) ->  the response's x-error-template, filled in
    X-Mock-Example: name           ->  that named fixture, else that named spec example
    X-Mock-Dynamic: true           ->  generated from the schema
    otherwise                      ->  default fixture, first spec example,
                                       x-error-template, generated from the schema
                                       (x-mock-default-body: generated skips the
                                       example and the template)

A status with no documented content has no body. Generated data is seeded by the
request's identity (see `request_seed`), so the same request gets the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faker import Faker

from mockserver.controls import Controls
from mockserver.fixtures import FixtureStore
from mockserver.generation import make_context
from mockserver.media import Writer
from mockserver.problems import MissingCredentials, UndocumentedError, status_slug
from mockserver.spec import NO_TEMPLATE, MediaType, Operation
from mockserver.validation import Checked, RequestRecord, Violation

REJECTED = (401, 400, 422)


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
        if controls.status is not None:
            return self.body_for(
                op,
                controls.status,
                request,
                path_params,
                checked,
                controls,
                message=f"status {controls.status} forced by the client",
            )
        if checked.security:
            status = op.first_documented(401)
            if status is None:
                raise MissingCredentials(
                    _sentence(checked.security),
                    headers={"WWW-Authenticate": op.challenge} if op.challenge else None,
                )
            return self.rejection(op, status, checked.security, request, path_params, controls)
        if checked.violations:
            status = op.first_documented(400, 422)
            if status is None:
                raise UndocumentedError(
                    _sentence(checked.violations) + f" ({op.operation_id} documents no 400 "
                    "or 422 to report it)",
                    extra={"violations": [v.as_dict() for v in checked.violations]},
                )
            return self.rejection(op, status, checked.violations, request, path_params, controls)
        return self.body_for(op, op.success_status, request, path_params, checked, controls)

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
        media = response.default_media if response is not None else None
        if media is None:
            return Reply(status, None, None, "none")
        seed = request_seed(self.seed, op, request, path_params, controls, status)
        if media.error_template is not NO_TEMPLATE:
            body = fill_template(
                media.error_template, status, _sentence(violations), violations, _request_id(seed)
            )
            return Reply(status, media.name, body, "template")
        return Reply(status, media.name, self._generate(media, seed, {}, None), "generated")

    def body_for(
        self,
        op: Operation,
        status: int,
        request: RequestRecord,
        path_params: Mapping[str, str],
        checked: Checked,
        controls: Controls,
        message: str = "",
    ) -> Reply:
        response = op.response_for(status)
        media = response.default_media if response is not None else None
        if media is None:
            return Reply(status, None, None, "none")
        name = controls.example
        if name is not None:
            found, body = self.fixtures.get(op, status, name)
            if found:
                return Reply(status, media.name, body, "fixture", name)
            return Reply(status, media.name, media.examples[name], "example", name)
        seed = request_seed(self.seed, op, request, path_params, controls, status)
        if not controls.dynamic:
            found, body = self.fixtures.get(op, status)
            if found:
                return Reply(status, media.name, body, "fixture")
            if media.examples and not media.prefer_generated:
                first = next(iter(media.examples))
                return Reply(status, media.name, media.examples[first], "example", first)
            if media.error_template is not NO_TEMPLATE and not media.prefer_generated:
                body = fill_template(
                    media.error_template,
                    status,
                    message or status_slug(status),
                    (),
                    _request_id(seed),
                )
                return Reply(status, media.name, body, "template")
        echo = {**checked.params}
        return Reply(
            status, media.name, self._generate(media, seed, echo, checked.body), "generated"
        )

    def _generate(self, media: MediaType, seed: int, echo: Mapping[str, Any], body: Any) -> Any:
        if media.generator is None:
            return None
        with self._lock:
            return media.generator(make_context(seed, self._fake, echo=echo, body=body))


def with_challenge(reply: Reply, challenge: str) -> Reply:
    """A 401 names the schemes it would accept (`WWW-Authenticate`, RFC 9110 §11.6.1);
    it replaces a documented one, which could only say less."""
    kept = tuple((k, v) for k, v in reply.headers if k.lower() != "www-authenticate")
    return dataclasses.replace(reply, headers=(*kept, ("WWW-Authenticate", challenge)))


def fill_template(
    template: Any, status: int, message: str, violations: tuple[Violation, ...], request_id: str
) -> Any:
    """Substitute the placeholders of an `x-error-template` (see specs/CONVENTIONS.md)."""
    if isinstance(template, str):
        if template == "{violations}":
            return [v.as_dict() for v in violations]
        return (
            template.replace("{message}", message)
            .replace("{status}", str(status))
            .replace("{slug}", status_slug(status))
            .replace("{request_id}", request_id)
        )
    if isinstance(template, Mapping):
        return {
            k: fill_template(v, status, message, violations, request_id)
            for k, v in template.items()
        }
    if isinstance(template, list):
        return [fill_template(v, status, message, violations, request_id) for v in template]
    return template


def _sentence(violations: tuple[Violation, ...]) -> str:
    return "; ".join(v.message for v in violations)


def _request_id(seed: int) -> str:
    return f"{seed & 0xFFFFFFFFFFFF:012x}"
