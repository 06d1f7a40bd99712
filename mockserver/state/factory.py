"""`open_store(url)`: the store a `--state` URL names.

No URL (or `local`): the local store (SQLite plus shared memory, one host), in `folder`
when given, else in a temporary file of its own. `redis://` and `rediss://` URLs name a
Redis (or wire-compatible) server shared by every instance; its store is imported only
when asked for.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import urlsplit

from mockserver.state.local import LocalStore
from mockserver.state.store import Bounds, Store

SCHEMES = ("local", "redis", "rediss")


class StoreUrlError(ValueError):
    """A `--state` value that names no store."""


def open_store(
    url: str | None = None, folder: Path | None = None, bounds: Bounds | None = None
) -> Store:
    """The store `url` names; the local store (in `folder`, if given) without one."""
    bounds = bounds or Bounds()
    if not url or url == "local":
        return LocalStore(folder / "state.sqlite" if folder is not None else None, bounds)
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("redis", "rediss"):
        module = importlib.import_module("mockserver.state.redis_store")
        store: Store = module.RedisStore.from_url(url, bounds)
        return store
    raise StoreUrlError(
        f"--state {url[:100]!r} names no store: use redis://HOST:PORT/DB (or rediss://), "
        "or leave it out for the local store"
    )
