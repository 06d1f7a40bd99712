"""The compiled model: frozen records that routing, validation and answering work on.

Nothing after loading sees raw OpenAPI: validators and generators in these records
were built at start-up (`compile.py`), and nothing here knows which spec version or
file format a spec was written in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockserver.generation import Generator
    from mockserver.headers import DocumentedHeader
    from mockserver.media import Writer

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NO_TEMPLATE: Any = object()
"""Marks a media type with no `x-error-template`."""

RANGE_KEYS = ("1XX", "2XX", "3XX", "4XX", "5XX")
"""The status ranges a spec may document, as keys of `Operation.ranges`."""
DEFAULT_KEY = "default"
"""`Operation.ranges` key of the `default` response."""


@dataclass(frozen=True, slots=True)
class Param:
    """One path, query, header or cookie parameter, with its decoder's facts and validator."""

    name: str
    location: str
    required: bool
    kind: str
    item_kind: str
    style: str
    explode: bool
    schema: Any
    validator: Any
    allow_reserved: bool = False
    allow_empty: bool | None = None
    """`allowEmptyValue` as written: True, False, or None when the spec is silent."""
    content_json: bool = False
    """Described by `content` with a JSON media type: the value is JSON text."""
    properties: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """For an object: each declared property's (kind, item kind)."""
    additional: bool = False
    """For an object: whether it admits properties it does not declare."""
    additional_kind: tuple[str, str] = ("string", "string")
    claimed: frozenset[str] = frozenset()
    """The names of the operation's other query parameters (an exploded form object
    admitting any property takes every query name not in here)."""


@dataclass(frozen=True, slots=True)
class MediaType:
    """One documented response media type: schema, validator, generator, examples, template."""

    name: str
    schema: Any
    validator: Any
    generator: Generator | None
    examples: Mapping[str, Any]
    error_template: Any = NO_TEMPLATE
    prefer_generated: bool = False
    write: Writer | None = None
    """How a body becomes bytes: its media codec's writer, compiled once (`media`)."""

    @property
    def is_json(self) -> bool:
        return is_json_media_type(self.name)


@dataclass(frozen=True, slots=True)
class Response:
    """One documented response. `status` is its number; for a range (`4XX`) or `default`
    it is the status the mock answers with when it picks that response itself (the
    range's `X00`, `default`'s 200 or 500, see `compile.py`), and `key` says which."""

    status: int
    description: str
    media: tuple[MediaType, ...]
    headers: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""
    """The key it is documented under: "200", "4XX", "default"."""
    documented_headers: tuple[DocumentedHeader, ...] = ()
    """`headers`, compiled: what every answer with this response carries."""

    @property
    def default_media(self) -> MediaType | None:
        return self.media[0] if self.media else None

    def media_named(self, name: str) -> MediaType | None:
        """The documented media type called exactly `name` (as the spec writes it)."""
        return next((m for m in self.media if m.name == name), None)


@dataclass(frozen=True, slots=True)
class BodyMedia:
    """One documented request media type: schema, validator, and the codec's reader
    (compiled for its schema and `encoding`; None: the body is taken as bytes)."""

    name: str
    schema: Any
    validator: Any
    reader: Callable[[bytes], Any] | None = None

    @property
    def is_json(self) -> bool:
        return is_json_media_type(self.name)


@dataclass(frozen=True, slots=True)
class RequestBody:
    required: bool
    media: tuple[BodyMedia, ...]


@dataclass(frozen=True, slots=True)
class Credential:
    """One security scheme of a requirement: where the credential must be sent."""

    scheme: str
    kind: str
    location: str
    name: str
    http_scheme: str = ""
    """For `type: http`: its `scheme`, lower-cased (`bearer`, `basic`, ...)."""
    bearer_format: str = ""


@dataclass(frozen=True, slots=True)
class Operation:
    api: str
    operation_id: str
    method: str
    path: str
    summary: str
    params: tuple[Param, ...]
    body: RequestBody | None
    responses: Mapping[int, Response]
    """The responses documented under a number ("200")."""
    security: tuple[tuple[Credential, ...], ...]
    source: str
    ranges: Mapping[str, Response] = field(default_factory=dict)
    """The responses documented under a range ("1XX".."5XX") or as "default"."""
    challenge: str = ""
    """`WWW-Authenticate` for a 401 of this operation (see `security.challenge`)."""
    base_path: str = ""
    """The path of the operation's server URL (`servers.py`): "/api/v3", or "" for none."""

    @property
    def served_path(self) -> str:
        """Where the mock serves it: the base path, then `path` as the spec writes it."""
        return self.base_path + self.path

    @property
    def statuses(self) -> tuple[int, ...]:
        """The documented numeric statuses, in order (ranges and `default` are not)."""
        return tuple(sorted(self.responses))

    @property
    def success_status(self) -> int:
        """The lowest documented 2xx; else 200 if `2XX` or `default` is documented;
        else the lowest documented status, number or range."""
        ok = [s for s in self.statuses if 200 <= s < 300]
        if ok:
            return ok[0]
        if "2XX" in self.ranges or DEFAULT_KEY in self.ranges:
            return 200
        candidates = [*self.statuses, *(r.status for r in self.ranges.values())]
        return min(candidates) if candidates else 200

    def response_for(self, status: int) -> Response | None:
        """The response documented for `status`: its number, else its range, else
        `default`; None when none of them is documented."""
        exact = self.responses.get(status)
        if exact is not None:
            return exact
        if 100 <= status <= 599:
            ranged = self.ranges.get(f"{status // 100}XX")
            if ranged is not None:
                return ranged
        return self.ranges.get(DEFAULT_KEY)

    def first_documented(self, *candidates: int) -> int | None:
        for status in candidates:
            if status in self.responses:
                return status
        return None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path} ({self.api}.{self.operation_id})"


@dataclass(frozen=True, slots=True)
class Api:
    api_id: str
    title: str
    version: str
    source: str
    operations: tuple[Operation, ...]
    base_path: str = ""
    """The document's base path (`servers.py`); an operation may have its own."""


def is_json_media_type(name: str) -> bool:
    main = name.split(";", 1)[0].strip().lower()
    return (
        main == "application/json" or main.endswith("+json") or main.startswith("application/vnd.")
    )


def route_shape(path: str) -> str:
    """`/a/{x}/b` and `/a/{y}/b` are the same route: both are `/a/{}/b`; `/c/{a}...{b}`
    is `/c/{}...{}`, another route than `/c/{ab}`."""
    return _TEMPLATE_PARAM.sub("{}", path)


_TEMPLATE_PARAM = re.compile(r"\{[^{}/]*\}")
