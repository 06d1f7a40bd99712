"""The ceiling for bench/run.py: a bare Flask view that returns fixed bytes.

Served by the same server as mockserver (gunicorn's arbiter over mockserver's uvicorn
`MockWorker`, the same workers and keep-alive) through `asgi`, which answers inline from
the protocol's callbacks where mockserver's gateway does (and through an ASGI call on
the loop where it does not), it measures what the server and Flask cost on their own on
this machine. The view reads the request body (as mockserver does) and answers every
method and path with the same 85 bytes. `app` is the WSGI app, for WSGI servers
(bench/run.py --ceiling-worker gthread).

    python -m gunicorn --chdir bench -k mockserver.serving.MockWorker -w 2 bare_flask:asgi
    python -m gunicorn --chdir bench -k gthread -w 2 --threads 16 bare_flask:app
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mockserver.gateway import Exchange

BODY = b'[{"event_id": "37039528-071a-42f8-bdb7-5e7fa514eaf4", "event_name": "systemInvaded"}]'
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

app = Flask("bare")


@app.route("/", defaults={"path": ""}, methods=METHODS)
@app.route("/<path:path>", methods=METHODS)
def fixed(path: str) -> Response:
    request.get_data(cache=False)
    return Response(BODY, status=200, content_type="application/json")


def _environ(
    method: str, path: str, query_string: bytes, headers: Iterable[tuple[str, str]], body: bytes
) -> dict[str, Any]:
    """The WSGI environ Flask needs for a request (a minimal bridge, not a general one)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query_string.decode("latin-1"),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = value
    return environ


def _call_flask(environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started[:] = [int(status.split(" ", 1)[0]), headers]

    payload = b"".join(app(environ, start_response))
    return started[0], started[1], payload


class BareAsgi:
    """The view for mockserver's server, answered as it answers the mock's API requests:
    inline from the protocol's callbacks (`serving.InlineApp`) where the mock's are, and
    through an ASGI call on the event loop (the body read whole) where they are not."""

    def answers_inline(self, path: str, headers: dict[str, str]) -> bool:
        return "transfer-encoding" not in headers

    def answer_inline(
        self, method: str, path: str, query_string: bytes, headers: dict[str, str], body: bytes
    ) -> Exchange:
        status, response_headers, payload = _call_flask(
            _environ(method, path, query_string, headers.items(), body)
        )
        return Exchange(method, path, 0.0, status=status, headers=response_headers, body=payload)

    def journal(self, exchange: Exchange) -> None:
        pass

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        status, response_headers, payload = _call_flask(
            _environ(scope["method"], scope["path"], scope["query_string"], headers, body)
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (k.encode("latin-1"), v.encode("latin-1")) for k, v in response_headers
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


asgi = BareAsgi()
"""`gunicorn -k mockserver.serving.MockWorker bare_flask:asgi`."""
