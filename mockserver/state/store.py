"""The one interface every state store implements, and the records it deals in.

Everything the mock shares between worker processes (and, with a shared store, between
instances) goes through a `Store`: rule counters, scenario documents and their change
version, the journal (handed over on the request path, written off it, settled before a
read), coverage counts, and health. `LocalStore` (`local.py`: SQLite plus shared memory,
one host) is the default; a Redis store implements the same interface, and the
behaviour tests in `tests/state/` run against every store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from mockserver.defaults import DEFAULT_JOURNAL_BYTES, DEFAULT_MAX_SESSIONS, DEFAULT_SESSION_TTL

DEFAULT_SESSION = "default"

CoverageKey = tuple[str, str, str, str]
"""(api, operationId, kind, key): `kind` is `status`, `example` or `requests`."""

CoverageRow = tuple[str, str, str, str, int]
"""A coverage key and its count."""

Order = Literal["asc", "desc", "last"]
"""Which entries a listing takes, in which order: `asc` the oldest first, `desc` the
newest first, `last` the newest `limit` of them, oldest first."""

Entry = tuple[str, dict[str, Any], int, list[CoverageKey]]
"""(session, journal row, the session's journal limit, coverage keys): one request."""

JOURNAL_FILTERS = {
    "api": "api = ?",
    "operationId": "operation_id = ?",
    "method": "method = ?",
    "path": "path = ?",
    "status": "status = ?",
    "since": "at >= ?",
}
"""Journal filters: query parameter -> condition (the local store's SQL; another store
applies the same comparisons: equality, and `at >= since`)."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """How much state a store keeps, besides each session's journal entries (the
    `limit` passed with every `record`, from `--journal-size`)."""

    journal_bytes: int = DEFAULT_JOURNAL_BYTES
    """Most bytes of stored journal entries, all sessions together; the oldest entries
    go first."""
    sessions: int = DEFAULT_MAX_SESSIONS
    """Most sessions with state kept; the least recently used one is forgotten first
    (its coverage is kept, folded into the all-sessions figures)."""
    session_ttl: float = DEFAULT_SESSION_TTL
    """Seconds a session may go unused before its state is forgotten (as above)."""


@dataclass(frozen=True, slots=True)
class JournalInfo:
    """What a listing says besides its entries, for one session."""

    kept: int = 0
    """Entries the journal holds for the session."""
    evicted: int = 0
    """Entries of the session removed by a bound (per session, or the global bytes)."""
    dropped: int = 0
    """Entries lost because they could not be written (any session: a failed write
    does not say whose entries it lost first)."""


@dataclass(frozen=True, slots=True)
class Health:
    """`/__mock/health`'s view of the store."""

    backend: str
    ok: bool = True
    detail: str | None = None
    """What is wrong, when not ok (the last error, as the store saw it)."""
    dropped: int = 0
    """Journal entries lost to failed writes since the start."""


@runtime_checkable
class Store(Protocol):
    """Shared state; safe to use from threads and from forked worker processes.

    A store that cannot do what is asked on the request path (count a call, read a
    session's scenarios) raises `problems.StateUnavailable` (503, naming the backend),
    never a bare exception. Journal writes never raise on the request path: a lost
    write is counted (`Health.dropped`, `JournalInfo.dropped`) and logged.
    """

    backend: str
    """`local`, `redis`: named in `/__mock/health` and in errors."""

    after_write: Callable[[list[dict[str, Any]]], None] | None
    """Called with the journal rows of each batch once written, off the request path
    (the access log). If it has a `close` method, that is called once at exit."""

    # -- rule counters ------------------------------------------------------------------
    def increment(self, session: str, key: str) -> int:
        """Add one call to `key` of `session`, atomically across every process and
        instance; the new count (1 for the first call)."""
        ...

    # -- scenarios ----------------------------------------------------------------------
    def scenarios_changes(self) -> int:
        """A number that changes whenever any session's scenarios are replaced; cheap
        (no lock, no round trip): asked on every request to see whether a cache is
        stale."""
        ...

    def scenarios(self, session: str) -> tuple[int, Any]:
        """(version, document) of a session's scenarios; (0, None) when it has none."""
        ...

    def set_scenarios(self, session: str, document: Any) -> None:
        """Replace a session's scenarios (None: remove them) and restart its counters."""
        ...

    # -- journal ------------------------------------------------------------------------
    def record(
        self, session: str, row: dict[str, Any], limit: int, coverage: list[CoverageKey]
    ) -> None:
        """Journal one request (kept: the newest `limit` of its session) and count its
        coverage keys. Cheap: written off the request path, but any later `settle`, in
        any process, waits for it."""
        ...

    def settle(self) -> None:
        """Wait until the journal holds every request recorded so far, by any process
        (a stuck or dead writer is waited for a bounded time)."""
        ...

    def journal(
        self, session: str, filters: dict[str, Any], limit: int, order: Order = "asc"
    ) -> list[dict[str, Any]]:
        """At most `limit` entries of a session matching every filter, taken and ordered
        as `order` says."""
        ...

    def journal_pages(
        self,
        session: str,
        filters: dict[str, Any],
        limit: int,
        page_size: int = 500,
        order: Order = "asc",
    ) -> Iterator[list[str]]:
        """The same entries as JSON texts, a page at a time (at most `page_size` entries,
        and a bounded number of bytes): a listing streams them and its memory stays a
        page whatever the journal's size. It holds what was written when it began."""
        ...

    def journal_count(self, session: str, filters: dict[str, Any]) -> int:
        """How many entries of a session match every filter (a listing says it is cut
        when more match than it holds)."""
        ...

    def journal_info(self, session: str) -> JournalInfo:
        """Counts a listing reports beside its entries."""
        ...

    def clear_journal(self, session: str) -> None:
        """Forget a session's journal (also what is still queued for it)."""
        ...

    # -- coverage -----------------------------------------------------------------------
    def coverage(self, session: str | None) -> list[CoverageRow]:
        """Coverage counts of one session, or of every session summed (None)."""
        ...

    def clear_coverage(self, session: str | None) -> None:
        """Forget one session's coverage, or all of it (None)."""
        ...

    # -- the store itself ---------------------------------------------------------------
    def health(self) -> Health:
        """Whether the store works, and what it lost."""
        ...

    def close(self) -> None:
        """Write what this process still holds, then let go of the store."""
        ...
