"""The `store` fixture: every store the mock has, so the behaviour tests run against each.

A store is made by a maker in `MAKERS`, one per param; a new store adds its maker (a
context manager taking a folder and the `Bounds`, that yields an empty store and cleans
up after it) and its name. `make_store(bounds)` makes one with other bounds."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver.state import Bounds, LocalStore, Store


@contextlib.contextmanager
def local_store(tmp_path: Path, bounds: Bounds) -> Iterator[Store]:
    store = LocalStore(tmp_path / "state.sqlite", bounds)
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def redis_store(tmp_path: Path, bounds: Bounds) -> Iterator[Store]:
    """A store on a real redis-server (one per test run, emptied for each test)."""
    from mockserver.state.redis_store import RedisStore
    from tests.redis_server import shared_redis

    server = shared_redis()
    server.flush()
    store = RedisStore.from_url(server.url, bounds)
    try:
        yield store
    finally:
        store.close()


MAKERS: dict[str, Callable[[Path, Bounds], contextlib.AbstractContextManager[Store]]] = {
    "local": local_store,
    "redis": redis_store,
}

MakeStore = Callable[[Bounds], Store]


@pytest.fixture(params=list(MAKERS))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    made = 0
    with contextlib.ExitStack() as stack:

        def make(bounds: Bounds) -> Store:
            nonlocal made
            made += 1
            folder = tmp_path / f"store-{made}"
            folder.mkdir()
            return stack.enter_context(MAKERS[request.param](folder, bounds))

        yield make


@pytest.fixture
def store(make_store: MakeStore) -> Store:
    return make_store(Bounds())


def row(n: int, at: float | None = None, **more: Any) -> dict[str, Any]:
    """A journal row as `journal.build_entry` makes them (the columns a store indexes)."""
    return {
        "at": time.time() if at is None else at,
        "api": "demo",
        "operationId": "op",
        "method": "GET",
        "path": f"/items/{n}",
        "status": 200,
        **more,
    }


def paths(store: Store, session: str = "s", **options: Any) -> list[str]:
    return [entry["path"] for entry in store.journal(session, {}, 100_000, **options)]
