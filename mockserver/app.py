"""`create_app(settings)`: the mock as one WSGI app, API requests and admin routes.

API requests go through `gateway.Gateway` (environ -> engine -> bytes, no Flask on the
hot path), which also journals and logs them. The Flask app behind it serves only the
`/__mock/` admin routes; its one error handler renders every `MockError` (and any HTTP
error Werkzeug raises there) as problem+json, with the same `problems.render` the
gateway uses. The returned object is the Flask app, with the gateway as its
`wsgi_app`, so `app.test_client()` exercises the same gateway core (`Gateway.exchange`)
that `mockserver serve` runs through `asgi_app(app, threads)`.
"""

from __future__ import annotations

import base64
import hmac
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from flask import Flask, Response, jsonify, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from mockserver import admin, journal, problems
from mockserver.controls import documented_keys, example_names
from mockserver.cors import CorsPolicy, is_preflight
from mockserver.defaults import (
    DEFAULT_JOURNAL_BYTES,
    DEFAULT_JOURNAL_SIZE,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_SEED,
    DEFAULT_SESSION_TTL,
    bundled,
)
from mockserver.engine import Engine
from mockserver.gateway import ADMIN_PREFIX, HEALTH_PATH, AsgiGateway, Gateway
from mockserver.problems import MockError
from mockserver.scenarios import ScenarioError, parse_document
from mockserver.state import DEFAULT_SESSION

log = logging.getLogger("mockserver")

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]
OPEN_ADMIN_ROUTES = (HEALTH_PATH,)
DASHBOARD = "/__mock/ui"


class AnyPath(BaseConverter):
    """Every path, newlines included (Werkzeug's `path` converter stops at `\\n`)."""

    regex = r"[\s\S]*"
    part_isolating = False


@dataclass(frozen=True, slots=True)
class Settings:
    specs: tuple[Path, ...] = field(default_factory=lambda: (bundled("specs"),))
    fixtures: Path | None = field(default_factory=lambda: bundled("fixtures"))
    base_paths: tuple[tuple[str, str], ...] = ()
    """`--base-path` overrides: (API id or "" for every API, path)."""
    seed: int = DEFAULT_SEED
    max_body: int = DEFAULT_MAX_BODY
    journal_size: int = DEFAULT_JOURNAL_SIZE
    journal_bytes: int = DEFAULT_JOURNAL_BYTES
    max_sessions: int = DEFAULT_MAX_SESSIONS
    session_ttl: float = DEFAULT_SESSION_TTL
    admin_token: str | None = None
    log_format: str = "text"
    log_requests: bool = False
    cors: CorsPolicy = field(default_factory=CorsPolicy)
    credentials: tuple[str, ...] = ()
    """`SCHEME=VALUE` pairs (`--credential`)."""
    strict: bool = False
    """`--strict`: any spec problem refuses the start (else each is one warning line)."""
    version: str = ""
    """What `/__mock/health` says is loaded: a digest of the files served (`reload`)."""
    state: str | None = field(default=None, repr=False)
    """`--state`: the shared store's URL (Redis; it may hold a password, so it is not
    in the repr), or None for the local store."""


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """Load and compile everything now; the returned app only looks things up."""
    settings = settings or Settings()
    engine = engine or Engine.from_paths(
        list(settings.specs),
        settings.fixtures,
        settings.seed,
        base_paths=dict(settings.base_paths),
        credentials=settings.credentials,
    )
    store = engine.store
    app = Flask("mockserver")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False  # admin_not_found answers OPTIONS
    app.extensions["mockserver.engine"] = engine

    # -- admin ------------------------------------------------------------------------
    expected_token = (settings.admin_token or "").encode("utf-8", "surrogateescape")

    @app.before_request
    def guard_admin() -> None:
        if settings.admin_token and request.path not in OPEN_ADMIN_ROUTES:
            sent = sent_admin_token(request.headers)
            if sent is None or not hmac.compare_digest(sent, expected_token):
                # A browser asks for Basic credentials (the token as password) on the
                # dashboard, and sends them on to the admin routes the page reads.
                challenge = "Basic" if request.path == DASHBOARD else "Bearer"
                raise problems.AdminUnauthorized(
                    "The admin API needs the token the mock was started with: send "
                    "`Authorization: Bearer <token>`, `X-Mock-Admin-Token: <token>`, or "
                    "HTTP Basic credentials with the token as password.",
                    headers={"WWW-Authenticate": f'{challenge} realm="mockserver admin"'},
                )

    @app.get(HEALTH_PATH)
    def health() -> Response:
        state = store.health()
        return jsonify(
            {
                "status": "ok" if state.ok else "degraded",
                "state": {
                    "backend": state.backend,
                    "ok": state.ok,
                    "detail": state.detail,
                    "dropped": state.dropped,
                },
                "apis": [api.api_id for api in engine.apis],
                "operations": len(engine.operations),
                "version": settings.version,
            }
        )

    @app.get("/__mock/apis")
    def apis() -> Response:
        return jsonify({"apis": [describe_api(engine, api.api_id) for api in engine.apis]})

    @app.get("/__mock/scenarios")
    def get_scenarios() -> Response:
        session = admin_session()
        return jsonify({"session": session, **scenarios_body(engine, session)})

    @app.put("/__mock/scenarios")
    def put_scenarios() -> Response:
        session = admin_session()
        try:
            text = request.get_data(cache=False).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise problems.AdminError(
                f"The scenarios were not loaded: the body is not UTF-8 (byte {exc.start})"
            ) from None
        try:
            engine.scenarios.load(session, parse_document(text))
        except ScenarioError as exc:
            raise problems.AdminError(f"The scenarios were not loaded: {exc}") from None
        return jsonify({"session": session, **scenarios_body(engine, session)})

    @app.delete("/__mock/scenarios")
    def delete_scenarios() -> Response:
        engine.scenarios.load(admin_session(), None)
        return Response(status=204)

    @app.get("/__mock/requests")
    def list_requests() -> Response:
        session = admin_session()
        try:
            filters = journal.parse_filters(request.args)
            listing = journal.parse_listing(request.args)
        except journal.FilterError as exc:
            raise problems.AdminError(f"Bad journal query: {exc}") from None
        info = store.journal_info(session)
        matched = store.journal_count(session, filters)
        about = {
            "order": listing.order,
            "limit": listing.limit,
            "matched": matched,
            "cut": matched > listing.limit,
            "evicted": info.evicted,
            "dropped": info.dropped,
        }
        pages = store.journal_pages(session, filters, listing.limit, order=listing.order)
        return Response(journal.listing_json(session, pages, about), mimetype="application/json")

    @app.delete("/__mock/requests")
    def clear_requests() -> Response:
        store.clear_journal(admin_session())
        return Response(status=204)

    @app.get("/__mock/coverage")
    def coverage() -> Response:
        return jsonify(journal.coverage_report(engine, store, admin_session_or_all()))

    @app.delete("/__mock/coverage")
    def clear_coverage() -> Response:
        store.clear_coverage(admin_session_or_all())
        return Response(status=204)

    admin.register(app)  # the index, the admin API's description, the dashboard

    # -- anything else under /__mock/ ----------------------------------------------------
    def admin_not_found(path: str = "") -> Response:
        allowed = admin_methods.get(request.path)
        if allowed is not None:  # a route of the mock, not this method
            if request.method == "OPTIONS":
                return Response(status=204, headers={"Allow": ", ".join(allowed)})
            raise problems.AdminMethodNotAllowed(
                f"{request.method} is not a method of {request.path}; it takes "
                f"{', '.join(allowed)}.",
                extra={"allowed": list(allowed)},
                headers={"Allow": ", ".join(allowed)},
            )
        routes = sorted(
            f"{m} {r.rule}"
            for r in app.url_map.iter_rules()
            if r.rule.startswith(ADMIN_PREFIX)
            for m in sorted((r.methods or set()) - {"HEAD", "OPTIONS"})
        )
        raise problems.RouteNotFound(
            f"{request.method} {request.path[:200]} is not an admin route of the mock; "
            f"they are: {', '.join(routes)}."
        )

    admin_not_found.provide_automatic_options = False  # type: ignore[attr-defined]
    app.url_map.converters["anything"] = AnyPath
    # Every admin route's methods, for its OPTIONS and its 405 (Flask's automatic OPTIONS
    # would list the methods of the catch-all below too, which are all refused).
    methods_of: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(ADMIN_PREFIX):
            methods_of.setdefault(rule.rule, {"OPTIONS"}).update(rule.methods or ())
    admin_methods = {path: tuple(sorted(methods)) for path, methods in methods_of.items()}
    app.add_url_rule("/<anything:path>", "admin_not_found", admin_not_found, methods=ALL_METHODS)

    # -- errors -------------------------------------------------------------------------
    @app.errorhandler(MockError)
    def mock_error(error: MockError) -> Response:
        return problem_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 400
        cls = problems.BodyTooLarge if status == 413 else problems.BadHttpRequest
        mapped = cls(_http_detail(error, settings.max_body))
        mapped.status = status
        mapped.kind = problems.status_slug(status).replace("_", "-")
        return problem_response(mapped)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error while serving %s %s", request.method, request.path[:200])
        return problem_response(
            problems.InternalError(
                f"The mock failed unexpectedly ({type(error).__name__}); this is a mock bug, "
                "please report it with the request that caused it."
            )
        )

    @app.after_request
    def cors_headers(response: Response) -> Response:
        """The admin API answers browsers as the API does (see `cors.py`)."""
        policy = settings.cors
        origin = request.headers.get("Origin")
        if not policy.enabled:
            return response
        if is_preflight(request.method, {k.lower(): v for k, v in request.headers.items()}):
            methods = [m.strip() for m in response.headers.get("Allow", "").split(",")]
            asked = request.headers.get("Access-Control-Request-Headers")
            added = policy.preflight_headers(str(origin), [m for m in methods if m], asked, "*")
        else:
            added = policy.answer_headers(origin, response.headers.items())
        for key, value in added:
            response.headers[key] = value
        return response

    app.wsgi_app = Gateway(  # type: ignore[method-assign]
        engine,
        app.wsgi_app,
        max_body=settings.max_body,
        journal_size=settings.journal_size,
        cors=settings.cors,
    )
    if settings.log_requests:
        store.after_write = journal.AccessLog(sys.stdout, settings.log_format)
    return app


def asgi_app(app: Flask, threads: int) -> AsgiGateway:
    """The app as `mockserver serve` serves it: API requests on the event loop through the
    same gateway, `/__mock/` admin requests through the Flask app on `threads` threads."""
    from a2wsgi import WSGIMiddleware

    gateway = app.wsgi_app
    assert isinstance(gateway, Gateway), "made by create_app"
    # a2wsgi types the environ and the ASGI messages as TypedDicts; ours are plain dicts.
    admin = WSGIMiddleware(cast(Any, app), workers=threads)
    health = WSGIMiddleware(cast(Any, app), workers=1)
    return AsgiGateway(gateway, cast(Any, admin), cast(Any, health))


def sent_admin_token(headers: Headers) -> bytes | None:
    """The admin token a request carries, as the bytes it sent: `X-Mock-Admin-Token`,
    else the credentials of an `Authorization` header of the Bearer scheme, or the
    password of Basic credentials (schemes in any case, RFC 9110 §11.1); None for a
    header with no scheme or another scheme."""
    sent = headers.get("X-Mock-Admin-Token")
    if sent is None:
        scheme, _, credentials = headers.get("Authorization", "").strip().partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if not credentials or scheme not in ("bearer", "basic"):
            return None
        if scheme == "basic":
            return basic_password(credentials)
        sent = credentials
    try:  # a server hands header bytes over as latin-1 text: these are the bytes sent
        return sent.encode("latin-1")
    except UnicodeEncodeError:  # text a test client passed as it is
        return sent.encode("utf-8", "surrogateescape")


def basic_password(credentials: str) -> bytes | None:
    """The password of HTTP Basic credentials (`base64(user:password)`), as bytes; None
    where they are not base64 of a `user:password` pair."""
    try:
        decoded = base64.b64decode(credentials.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    _user, colon, password = decoded.partition(b":")
    return password if colon else None


def admin_session() -> str:
    """The session an admin call is about: `?session=`, else `X-Mock-Session`."""
    return request.args.get("session") or request.headers.get("X-Mock-Session") or DEFAULT_SESSION


def admin_session_or_all() -> str | None:
    """The session a coverage call is about, as `admin_session`; None (every session)
    when it names none."""
    return request.args.get("session") or request.headers.get("X-Mock-Session") or None


def scenarios_body(engine: Engine, session: str) -> dict[str, Any]:
    current = engine.scenarios.current(session)
    return {"rules": len(current.rules), "document": current.document}


def problem_response(error: MockError) -> Response:
    status, headers, payload = problems.render(error)
    response = Response(payload, status=status)
    for key, value in headers.items():
        response.headers[key] = value
    return response


def _http_detail(error: HTTPException, max_body: int) -> str:
    if error.code == 413:
        return (
            f"The request body is larger than the mock's limit of {max_body} bytes; "
            "send less, or start the mock with a larger --max-body."
        )
    return f"{error.name}: {error.description or 'the request could not be read'}"


def describe_api(engine: Engine, api_id: str) -> dict[str, Any]:
    """What a user needs to know which control values are valid for each operation."""
    api = next(a for a in engine.apis if a.api_id == api_id)
    return {
        "id": api.api_id,
        "title": api.title,
        "version": api.version,
        "source": api.source,
        "basePath": api.base_path,
        "operations": [
            {
                "operationId": op.operation_id,
                "method": op.method,
                "path": op.path,
                "servedPath": op.served_path,
                "summary": op.summary,
                "statuses": documented_keys(op),
                "examples": {str(s): example_names(op, engine.fixtures, s) for s in op.statuses},
            }
            for op in api.operations
        ],
    }
