"""The real mockserver WSGI app, built as `mockserver serve` builds it, for other servers.

bench/servers.py serves this module's `app` under WSGI servers other than the one
`mockserver serve` runs (gunicorn's stock workers, granian, waitress), to compare them
on the same app. It mirrors mockserver/cli.py `serve` and mockserver/serving.py `serve`:
one LocalStore (SQLite) shared by every worker process, `Engine.from_paths`,
`create_app(Settings(..., log_requests=True))`, the access log on stdout through the
same background handler, and `gc.freeze()` once everything is built. It is the WSGI
app: `mockserver serve` now serves its ASGI form (`app.asgi_app`) under uvicorn workers,
and under a WSGI server network faults answer 501 (the app cannot reach the
connection). Not for running the mock: use `mockserver serve`.

    MOCK_APP_STATE=/tmp/x/state.sqlite .venv/bin/python -m gunicorn --chdir bench \\
        -k gthread -w 2 --threads 4 -b 127.0.0.1:4600 mock_app:app
    .venv/bin/granian --interface wsgi --workers 2 --working-dir bench mock_app:app

Environment: MOCK_APP_STATE, the SQLite file every worker shares (default: a new
temporary file per process, so set it when there are several workers);
MOCK_APP_SPECS, spec files or folders separated by ':' (default: the bundled specs/).
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mockserver.app import Settings, create_app  # noqa: E402
from mockserver.cli import configure_logging, default_fixtures  # noqa: E402
from mockserver.defaults import DEFAULT_SEED  # noqa: E402
from mockserver.engine import Engine  # noqa: E402
from mockserver.gateway import WsgiApp  # noqa: E402
from mockserver.state import LocalStore  # noqa: E402


def build() -> WsgiApp:
    """The app `mockserver serve` hands its server, faults middleware included."""
    raw_specs = os.environ.get("MOCK_APP_SPECS", "")
    specs = [Path(p) for p in raw_specs.split(":") if p] or [ROOT / "specs"]
    fixtures = default_fixtures(specs)
    state = os.environ.get("MOCK_APP_STATE")
    store = LocalStore(Path(state) if state else None)
    engine = Engine.from_paths(specs, fixtures, DEFAULT_SEED, store)
    settings = Settings(specs=tuple(specs), fixtures=fixtures, log_requests=True)
    flask_app = create_app(settings, engine)
    configure_logging()
    return flask_app


app: WsgiApp = build()
gc.freeze()
