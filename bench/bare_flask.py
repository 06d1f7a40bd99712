"""The ceiling for bench/run.py: a bare Flask view that returns fixed bytes.

Served by the same WSGI server as mockserver (gunicorn, gthread workers, the same
workers/threads/keep-alive), it measures what Flask + gunicorn cost on their own on
this machine: mockserver cannot be faster than this. The view reads the request body
(as mockserver does) and answers every method and path with the same 85 bytes.

    python -m gunicorn --chdir bench -k gthread -w 2 --threads 16 bare_flask:app
"""

from __future__ import annotations

from flask import Flask, Response, request

BODY = b'[{"event_id": "37039528-071a-42f8-bdb7-5e7fa514eaf4", "event_name": "systemInvaded"}]'
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

app = Flask("bare")


@app.route("/", defaults={"path": ""}, methods=METHODS)
@app.route("/<path:path>", methods=METHODS)
def fixed(path: str) -> Response:
    request.get_data(cache=False)
    return Response(BODY, status=200, content_type="application/json")
