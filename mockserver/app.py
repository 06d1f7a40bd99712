"""`create_app(settings)`: the Flask edge around the engine.

One catch-all view snapshots the Flask request into a `RequestRecord`, hands it to
the `Engine`, and turns its `Reply` into a response. The `/__mock/` admin routes sit
beside it. One error handler renders every `MockError` (and any HTTP error Werkzeug
raises) as problem+json; nothing else builds an error response.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from mockserver import problems
from mockserver.controls import example_names
from mockserver.engine import DEFAULT_SEED, Engine, Outcome
from mockserver.problems import MockError
from mockserver.responder import serialise
from mockserver.scenarios import ScenarioError, parse_document
from mockserver.serving import FAULT_KEY, can_fault
from mockserver.state import DEFAULT_SESSION
from mockserver.validation import RequestRecord

log = logging.getLogger("mockserver")

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MAX_BODY = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    specs: tuple[Path, ...] = field(default_factory=lambda: (PROJECT_ROOT / "specs",))
    fixtures: Path | None = field(default_factory=lambda: PROJECT_ROOT / "fixtures")
    seed: int = DEFAULT_SEED
    max_body: int = DEFAULT_MAX_BODY


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """Load and compile everything now; the returned app only looks things up."""
    settings = settings or Settings()
    engine = engine or Engine.from_paths(list(settings.specs), settings.fixtures, settings.seed)
    app = Flask("mockserver")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    app.extensions["mockserver.engine"] = engine

    @app.get("/__mock/health")
    def health() -> Response:
        return jsonify(
            {
                "status": "ok",
                "apis": [api.api_id for api in engine.apis],
                "operations": len(engine.operations),
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
        text = request.get_data(cache=False).decode("utf-8", "replace")
        try:
            engine.scenarios.load(session, parse_document(text))
        except ScenarioError as exc:
            raise problems.AdminError(f"The scenarios were not loaded: {exc}") from None
        return jsonify({"session": session, **scenarios_body(engine, session)})

    @app.delete("/__mock/scenarios")
    def delete_scenarios() -> Response:
        session = admin_session()
        engine.scenarios.load(session, None)
        return Response(status=204)

    def serve(path: str = "") -> Response:
        record = snapshot()
        outcome = engine.handle(record)
        fault = outcome.controls.fault
        if fault is not None and not can_fault(request.environ):
            raise problems.FaultUnavailable(
                f"X-Mock-Fault {fault!r} acts on the client's socket, which only the server "
                "that `mockserver serve` runs gives the mock; this server cannot reach it."
            )
        if outcome.controls.delay_ms:
            time.sleep(outcome.controls.delay_ms / 1000)
        if fault is not None:
            request.environ[FAULT_KEY] = fault
        return to_response(outcome)

    serve.provide_automatic_options = False  # type: ignore[attr-defined]
    app.add_url_rule("/", "serve", serve, methods=ALL_METHODS)
    app.add_url_rule("/<path:path>", "serve", serve, methods=ALL_METHODS)

    @app.errorhandler(MockError)
    def mock_error(error: MockError) -> Response:
        return problem_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 400
        cls = problems.BodyTooLarge if status == 413 else problems.BadHttpRequest
        mapped = cls(_http_detail(error, settings.max_body))
        mapped.status = status
        return problem_response(mapped)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error while serving %s %s", request.method, request.path)
        return problem_response(
            problems.InternalError(
                f"The mock failed unexpectedly ({type(error).__name__}); this is a mock bug, "
                "please report it with the request that caused it."
            )
        )

    return app


def admin_session() -> str:
    """The session an admin call is about: `?session=`, else `X-Mock-Session`."""
    return request.args.get("session") or request.headers.get("X-Mock-Session") or DEFAULT_SESSION


def scenarios_body(engine: Engine, session: str) -> dict[str, Any]:
    current = engine.scenarios.current(session)
    return {"rules": len(current.rules), "document": current.document}


def snapshot() -> RequestRecord:
    """The Flask request as a plain record (headers lower-cased, body read once)."""
    body = request.get_data(cache=False)
    return RequestRecord(
        method=request.method,
        path=request.path,
        query=tuple(request.args.items(multi=True)),
        headers={key.lower(): value for key, value in request.headers.items()},
        body=body,
    )


def to_response(outcome: Outcome) -> Response:
    reply = outcome.reply
    response = Response(serialise(reply), status=reply.status)
    if reply.media_type is not None:
        response.headers["Content-Type"] = reply.media_type
    else:
        response.headers.remove("Content-Type")
    for key, value in reply.headers:
        response.headers[key] = value
    return response


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
        "operations": [
            {
                "operationId": op.operation_id,
                "method": op.method,
                "path": op.path,
                "summary": op.summary,
                "statuses": list(op.statuses),
                "examples": {str(s): example_names(op, engine.fixtures, s) for s in op.statuses},
            }
            for op in api.operations
        ],
    }
