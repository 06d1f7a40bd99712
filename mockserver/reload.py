"""Hot reload: what a loaded version is made of, and a watcher of those files.

`mockserver serve` reloads on SIGHUP, and with `--watch` whenever a spec, fixture or the
scenario file changes. The master process builds the new version first (specs read,
checked and compiled, fixtures validated, scenarios loaded); only if that succeeds are
new workers started on it, while the old ones finish the requests they hold and stop
(gunicorn's graceful reload). A build that fails leaves the old version serving and logs
one line naming the problem. `/__mock/health` shows the version being served: a digest
of every file it was built from.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

log = logging.getLogger("mockserver")

WATCH_INTERVAL = 1.0
"""Seconds between two looks at the watched files."""

Signature = tuple[tuple[str, int, int], ...]


def files(paths: Iterable[Path | None]) -> Iterator[Path]:
    """Every file under `paths` (files, or folders read recursively), in a stable order."""
    for path in paths:
        if path is None:
            continue
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


def signature(paths: Iterable[Path | None]) -> Signature:
    """Name, size and modification time of every file: cheap to take every second."""
    seen = []
    for path in files(paths):
        try:
            stat = path.stat()
        except OSError:  # removed between listing and stat: the next look sees it
            continue
        seen.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(seen)


def version(paths: Iterable[Path | None]) -> str:
    """A digest of the names and contents of every file: the same files, the same version."""
    digest = hashlib.sha256()
    for path in files(paths):
        digest.update(str(path).encode("utf-8", "surrogateescape") + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"(unreadable)")
        digest.update(b"\0")
    return digest.hexdigest()[:12]


class Watcher(threading.Thread):
    """Calls `changed()` once the watched files differ from the last look and have stayed
    the same for one more look (an editor writing a file in steps causes one reload)."""

    def __init__(
        self,
        paths: Iterable[Path | None],
        changed: Callable[[], None],
        interval: float = WATCH_INTERVAL,
    ) -> None:
        super().__init__(name="mockserver-watch", daemon=True)
        self.paths = [p for p in paths if p is not None]
        self.changed = changed
        self.interval = interval
        self._stopping = threading.Event()
        self._loaded = signature(self.paths)
        self._pending: Signature | None = None

    def run(self) -> None:
        while not self._stopping.wait(self.interval):
            if self.look():
                self.changed()

    def look(self) -> bool:
        """One look at the files: True when they changed and have settled."""
        now = signature(self.paths)
        if now == self._loaded:
            self._pending = None
            return False
        if now == self._pending:  # changed, and the same as at the last look
            self._loaded, self._pending = now, None
            return True
        self._pending = now
        return False

    def stop(self) -> None:
        self._stopping.set()


def ask_for_reload() -> None:
    """What the watcher does on a change: the same as `kill -HUP` on the master."""
    os.kill(os.getpid(), signal.SIGHUP)
