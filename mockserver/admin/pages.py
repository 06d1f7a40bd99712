"""`GET /__mock/` (the index), `GET /__mock/openapi.json` and `GET /__mock/ui`.

The admin API's description is a data file, `openapi.yaml` beside this module, read
once when the app is built; the index is derived from it, so both say the same. A test
holds the description to the Flask app's real admin routes, so a route cannot be added
without being described. The dashboard is one self-contained HTML page
(`dashboard.html`: its script and style inline, nothing fetched from elsewhere) that
reads the same admin routes a client would.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import yaml
from flask import Flask, Response

from mockserver import __version__

ADMIN_METHODS = ("get", "put", "post", "delete", "patch")


def description() -> dict[str, Any]:
    """The admin API's OpenAPI 3.1 document."""
    text = resources.files("mockserver.admin").joinpath("openapi.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    document["info"]["version"] = __version__
    return document


def index(document: dict[str, Any]) -> dict[str, Any]:
    """Every admin route with its summary, from the description."""
    routes = [
        {"method": method.upper(), "path": path, "summary": operation.get("summary", "")}
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ADMIN_METHODS
    ]
    return {
        "name": "mockserver",
        "version": __version__,
        "openapi": "/__mock/openapi.json",
        "ui": "/__mock/ui",
        "routes": routes,
    }


def register(app: Flask) -> None:
    """Add the three routes to `app` (before its catch-all for unknown admin paths)."""
    document = description()
    described = json.dumps(document, indent=1).encode("utf-8")
    listed = json.dumps(index(document), indent=1).encode("utf-8")
    page = resources.files("mockserver.admin").joinpath("dashboard.html").read_bytes()

    @app.get("/__mock/")
    def admin_index() -> Response:
        return Response(listed, mimetype="application/json")

    @app.get("/__mock/openapi.json")
    def admin_openapi() -> Response:
        return Response(described, mimetype="application/json")

    @app.get("/__mock/ui")
    def admin_dashboard() -> Response:
        response = Response(page, mimetype="text/html")
        # The page runs only its own inline script and talks only to this origin.
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
        )
        response.headers["Cache-Control"] = "no-store"
        return response
