"""Security requirements, checked for what each scheme is.

    apiKey                      the named header, query parameter or cookie, non-empty
    http bearer, oauth2,
    openIdConnect               `Authorization: Bearer <token>` (scheme in any case), a
                                non-empty token68; `bearerFormat: JWT` means three
                                base64url parts, the first two non-empty
    http basic                  `Authorization: Basic <base64 of user:pass>`
    other http schemes          `Authorization: <scheme> <something>`

Requirements are alternatives (any one may be met); the schemes of one requirement
must all be met. Without configured credentials any well-formed credential passes;
with `--credential SCHEME=VALUE` only the configured values pass for that scheme (for
bearer-like schemes VALUE is the token, for basic `user:pass`, for apiKey the key).

A refused request is answered 401 with `WWW-Authenticate` naming every scheme that
would have been accepted (`challenge`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the compiler imports this module: no import back at run time
    from mockserver.spec.model import Credential, Operation

_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
BEARER_LIKE = ("oauth2", "openIdConnect")


class CredentialError(ValueError):
    """A configured credential names no security scheme of the loaded specs."""


@dataclass(frozen=True, slots=True)
class Finding:
    """Why one scheme of a requirement is not met: `rule` and a sentence."""

    credential: Credential
    rule: str
    message: str


Expected = Mapping[str, frozenset[str]]
"""Security scheme name -> the only values accepted for it."""


def parse_credentials(pairs: Iterable[str]) -> dict[str, frozenset[str]]:
    """`["key=abc", "key=def", "bearer=t"]` -> {"key": {"abc", "def"}, "bearer": {"t"}}."""
    found: dict[str, set[str]] = {}
    for pair in pairs:
        scheme, sep, value = pair.partition("=")
        if not sep or not scheme.strip():
            raise CredentialError(f"a credential is SCHEME=VALUE, not {pair!r}")
        found.setdefault(scheme.strip(), set()).add(value)
    return {scheme: frozenset(values) for scheme, values in found.items()}


def check_expected(expected: Expected, operations: Iterable[Operation]) -> None:
    """Raise `CredentialError` when a configured scheme is used by no operation."""
    known = sorted({c.scheme for op in operations for req in op.security for c in req})
    unknown = sorted(set(expected) - set(known))
    if unknown:
        names = ", ".join(known) if known else "none: no loaded operation requires security"
        raise CredentialError(
            f"--credential names unknown security scheme(s) {', '.join(map(repr, unknown))}; "
            f"the loaded specs' schemes are: {names}"
        )


def check(
    requirements: Sequence[Sequence[Credential]],
    headers: Mapping[str, str],
    query: Mapping[str, list[str]],
    cookies: Mapping[str, list[str]],
    expected: Expected,
) -> tuple[Finding, ...]:
    """Nothing when one requirement is met; else the findings of the closest one (the
    fewest unmet schemes, then the most credentials sent, then the first)."""
    best: tuple[int, int] | None = None
    closest: list[Finding] = []
    for requirement in requirements:
        findings = []
        for credential in requirement:
            finding = _check_one(credential, headers, query, cookies, expected)
            if finding is not None:
                findings.append(finding)
        if not findings:
            return ()
        sent = len(requirement) - sum(f.rule == "security" for f in findings)
        rank = (len(findings), -sent)
        if best is None or rank < best:
            best, closest = rank, findings
    return tuple(closest)


def _check_one(
    credential: Credential,
    headers: Mapping[str, str],
    query: Mapping[str, list[str]],
    cookies: Mapping[str, list[str]],
    expected: Expected,
) -> Finding | None:
    scheme = credential.scheme
    if credential.kind == "apiKey":
        if credential.location == "header":
            value = headers.get(credential.name.lower(), "")
        elif credential.location == "query":
            value = (query.get(credential.name) or [""])[0]
        else:
            value = (cookies.get(credential.name) or [""])[0]
        if not value:
            return Finding(
                credential,
                "security",
                f"missing credential: send the {credential.location} '{credential.name}' "
                f"(security scheme '{scheme}')",
            )
        return _compare(credential, value, expected)
    header = headers.get("authorization", "")
    wanted = http_scheme(credential)
    if not header.strip():
        return Finding(
            credential,
            "security",
            f"missing credential: send the header 'Authorization: {wanted.capitalize()} ...' "
            f"(security scheme '{scheme}')",
        )
    sent_scheme, _, rest = header.strip().partition(" ")
    token = rest.strip()
    if sent_scheme.lower() != wanted:
        return Finding(
            credential,
            "auth-scheme",
            f"the Authorization header uses the {_short(sent_scheme)} scheme; security scheme "
            f"'{scheme}' takes '{wanted.capitalize()} ...'",
        )
    if not token:
        return Finding(
            credential,
            "format",
            f"the Authorization header has an empty {wanted.capitalize()} credential "
            f"(security scheme '{scheme}')",
        )
    if wanted == "bearer":
        problem = _bearer_problem(token, credential.bearer_format)
    elif wanted == "basic":
        problem, token = _basic_problem(token)
    else:
        problem = None
    if problem:
        return Finding(credential, "format", f"{problem} (security scheme '{scheme}')")
    return _compare(credential, token, expected)


def _compare(credential: Credential, value: str, expected: Expected) -> Finding | None:
    accepted = expected.get(credential.scheme)
    if accepted is None or value in accepted:
        return None
    return Finding(
        credential,
        "credential",
        f"the credential sent for security scheme '{credential.scheme}' is not the one the "
        "mock was started with (--credential)",
    )


def _bearer_problem(token: str, bearer_format: str) -> str | None:
    if not _TOKEN68.fullmatch(token):
        return "the bearer token has characters a token cannot hold (RFC 6750)"
    if bearer_format.upper() == "JWT":
        parts = token.split(".")
        if (
            len(parts) != 3
            or not parts[0]
            or not parts[1]
            or not all(_BASE64URL.fullmatch(p) for p in parts)
        ):
            return "the bearer token is not a JWT (three base64url parts joined by '.')"
    return None


def _basic_problem(token: str) -> tuple[str | None, str]:
    """(problem, the decoded `user:pass`)."""
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return "the Basic credential is not base64", token
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if ":" not in text:
        return "the Basic credential does not decode to user:password (no ':')", token
    return None, text


def http_scheme(credential: Credential) -> str:
    """The Authorization scheme a credential takes, lower-cased."""
    if credential.kind in BEARER_LIKE:
        return "bearer"
    return credential.http_scheme or "bearer"


def challenge(requirements: Sequence[Sequence[Credential]], realm: str) -> str:
    """`WWW-Authenticate` for a refused request: one challenge per scheme that would
    be accepted, in the order the requirements list them."""
    seen: set[str] = set()
    parts = []
    quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
    for requirement in requirements:
        for credential in requirement:
            if credential.scheme in seen:
                continue
            seen.add(credential.scheme)
            if credential.kind == "apiKey":
                name = credential.name.replace("\\", "\\\\").replace('"', '\\"')
                parts.append(f'ApiKey realm="{quoted}", in="{credential.location}", name="{name}"')
                continue
            scheme = http_scheme(credential)
            if scheme == "basic":
                parts.append(f'Basic realm="{quoted}", charset="UTF-8"')
            else:
                parts.append(f'{scheme.capitalize()} realm="{quoted}"')
    return ", ".join(parts)


def _short(text: str) -> str:
    return repr(text if len(text) <= 20 else text[:20] + "...")
