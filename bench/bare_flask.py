"""The ceiling for bench/run.py: a bare Flask view that returns fixed bytes.

Served by the same server as mockserver (gunicorn's arbiter over mockserver's uvicorn
`MockWorker`, the same workers and keep-alive) through `asgi`, which calls the Flask
app inline on the event loop as mockserver's gateway calls its engine, it measures what
the server and Flask cost on their own on this machine. The view reads the request body
(as mockserver does) and answers every method and path with the same 85 bytes. `app`
is the WSGI app, for WSGI servers (bench/run.py --ceiling-worker gthread).

    python -m gunicorn --chdir bench -k mockserver.serving.MockWorker -w 2 bare_flask:asgi
    python -m gunicorn --chdir bench -k gthread -w 2 --threads 16 bare_flask:app
"""

from __future__ import annotations

import io
import sys
from typing import Any

from flask import Flask, Response, request

BODY = b'[{"event_id": "37039528-071a-42f8-bdb7-5e7fa514eaf4", "event_name": "systemInvaded"}]'
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

app = Flask("bare")


@app.route("/", defaults={"path": ""}, methods=METHODS)
@app.route("/<path:path>", methods=METHODS)
def fixed(path: str) -> Response:
    request.get_data(cache=False)
    return Response(BODY, status=200, content_type="application/json")


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same view for an ASGI server, called inline on its event loop as mockserver's
    gateway calls its engine: `gunicorn -k mockserver.serving.MockWorker bare_flask:asgi`.
    A minimal bridge (the environ Flask needs, the body read whole), not a general one."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
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
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = value.decode("latin-1")
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started[:] = [int(status.split(" ", 1)[0]), headers]

    payload = b"".join(app(environ, start_response))
    status, headers = started
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
    )
    await send({"type": "http.response.body", "body": payload})
