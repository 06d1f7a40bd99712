"""The `store` fixture: every store the mock has, so the behaviour tests run against each.

A store is made by a maker in `MAKERS`, one per param; a new store adds its maker (a
context manager that yields an empty store and cleans up after it) and its name."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver.state import LocalStore, Store


@contextlib.contextmanager
def local_store(tmp_path: Path) -> Iterator[Store]:
    store = LocalStore(tmp_path / "state.sqlite")
    try:
        yield store
    finally:
        store.close()


MAKERS: dict[str, Callable[[Path], contextlib.AbstractContextManager[Store]]] = {
    "local": local_store,
}


@pytest.fixture(params=list(MAKERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with MAKERS[request.param](tmp_path) as made:
        yield made


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
