"""State shared by every worker process (and every instance, with a shared store):
rule counters, scenarios, the journal, coverage. One interface (`Store`), stores that
implement it (`LocalStore`), and `open_store`, which picks one from a URL."""

from mockserver.state.factory import open_store
from mockserver.state.local import LocalStore
from mockserver.state.store import (
    DEFAULT_SESSION,
    JOURNAL_FILTERS,
    Bounds,
    Health,
    JournalInfo,
    Order,
    Store,
)
from mockserver.state.writer import claim_slot

__all__ = [
    "DEFAULT_SESSION",
    "JOURNAL_FILTERS",
    "Bounds",
    "Health",
    "JournalInfo",
    "LocalStore",
    "Order",
    "Store",
    "claim_slot",
    "open_store",
]
