"""CORS, so that a browser front-end can use the mock: the policy, and its headers.

On by default (a mock runs next to a developer's front-end): every answer carries
`Access-Control-Allow-Origin` (the request's `Origin`, with `Vary: Origin` and
`Access-Control-Allow-Credentials: true`; `*` when no `Origin` was sent, or one that
is not an origin: nothing else from a request is written into a header) and
`Access-Control-Expose-Headers` naming the answer's headers a script could not read
otherwise. A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
is answered 204 with the methods the path documents, the request headers asked for that
the operation takes (its header parameters, its credentials, `Content-Type` when it
has a body, the mock's control headers), and `Access-Control-Max-Age`.

`--cors off` (or `MOCKSERVER_CORS=off`) sends none of it; `--cors ORIGIN,ORIGIN` allows
only those origins (an `Origin` not listed gets no CORS header, so the browser refuses).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_AGE = 600
"""Seconds a browser may cache a preflight's answer."""

SAFELISTED = frozenset(
    {"cache-control", "content-language", "content-length", "content-type", "expires"}
    | {"last-modified", "pragma"}
)
"""Response headers a script reads without being told (Fetch's CORS-safelisted)."""

_CORS_PREFIX = "access-control-"
_ORIGIN = re.compile(r"[a-z][a-z0-9+.\-]*://[A-Za-z0-9.\-\[\]:]{1,200}|null")
"""What an `Origin` header is (RFC 6454 §7): only such a value is ever echoed."""
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
"""A header name (RFC 9110 §5.6.2): only such a name asked for is echoed."""


class CorsError(ValueError):
    """A `--cors` value that is neither on, off nor a list of origins."""


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    enabled: bool = True
    origins: frozenset[str] | None = None
    """The allowed origins; None: any."""
    max_age: int = MAX_AGE

    @classmethod
    def parse(cls, text: str) -> CorsPolicy:
        """`on` (any origin), `off`, or origins separated by commas
        (`http://localhost:3000,https://app.example`)."""
        value = text.strip()
        if value.lower() in ("on", "true", "yes", "1", "*"):
            return cls()
        if value.lower() in ("off", "false", "no", "0"):
            return cls(enabled=False)
        origins = [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        for origin in origins:
            scheme, sep, host = origin.partition("://")
            if not sep or scheme not in ("http", "https") or not host or "/" in host:
                raise CorsError(
                    f"{origin!r} is not an origin (scheme://host[:port], such as "
                    "http://localhost:3000); use on, off or origins separated by commas"
                )
        if not origins:
            raise CorsError("no origin given; use on, off or origins separated by commas")
        return cls(origins=frozenset(origins))

    def allowed_origin(self, origin: str | None) -> str | None:
        """The `Access-Control-Allow-Origin` value for a request from `origin`, or None
        when it gets none (CORS off, or an origin that is not listed)."""
        if not self.enabled:
            return None
        if origin is None or not _ORIGIN.fullmatch(origin):
            return "*" if self.origins is None else None  # nothing fit to echo
        if self.origins is not None and origin not in self.origins:
            return None
        return origin

    def answer_headers(
        self, origin: str | None, answer: Iterable[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """The CORS headers of an ordinary answer with headers `answer`."""
        if not self.enabled:
            return []
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return [("Vary", "Origin")] if origin is not None else []
        out = [("Access-Control-Allow-Origin", allowed)]
        if allowed != "*":
            out += [("Access-Control-Allow-Credentials", "true"), ("Vary", "Origin")]
        exposed = sorted(
            {
                name
                for name, _ in answer
                if name.lower() not in SAFELISTED and not name.lower().startswith(_CORS_PREFIX)
            },
            key=str.lower,
        )
        if exposed:
            out.append(("Access-Control-Expose-Headers", ", ".join(exposed)))
        return out

    def preflight_headers(
        self,
        origin: str,
        methods: Iterable[str],
        asked: str | None,
        accepted: Iterable[str],
    ) -> list[tuple[str, str]]:
        """The CORS headers of a preflight's answer: the path's `methods`, and of the
        request headers `asked` for, those in `accepted` (lower-case names, or `*` for
        any), in the order asked."""
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return [("Vary", "Origin")]
        take = frozenset(accepted)
        echoed = [
            name
            for name in (part.strip() for part in (asked or "").split(","))
            if _TOKEN.fullmatch(name) and ("*" in take or name.lower() in take)
        ]
        out = [
            ("Access-Control-Allow-Origin", allowed),
            ("Access-Control-Allow-Methods", ", ".join(methods)),
            ("Access-Control-Max-Age", str(self.max_age)),
            ("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]
        if echoed:
            out.insert(2, ("Access-Control-Allow-Headers", ", ".join(echoed)))
        if allowed != "*":
            out.insert(1, ("Access-Control-Allow-Credentials", "true"))
        return out


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    """A browser's CORS preflight: OPTIONS with Origin and Access-Control-Request-Method."""
    return (
        method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers
    )


CORS_OFF = CorsPolicy(enabled=False)
