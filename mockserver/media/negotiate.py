"""Content negotiation: which documented media type answers a request's `Accept`.

    no Accept, an empty one, or nothing but `*/*`   -> the first documented type
    otherwise each documented type gets the quality of the most specific range that
    matches it (q=0: refused); the best quality wins, then the more specific match,
    then the documented order. No acceptable type -> None (the caller answers 406).

Ranges match from most to least specific: `type/sub` with parameters (every parameter
of the range equal in the documented type, when it states that parameter), `type/sub`,
a structured-syntax suffix (`application/json` and `application/*+json` accept
`application/problem+json`), `type/*`, `*/*`. Ranges that cannot be read are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from mockserver.media.codec import essence, params

_EXACT, _SUFFIX, _TYPE, _ANY = 4, 3, 2, 1


@dataclass(frozen=True, slots=True)
class MediaRange:
    kind: str
    sub: str
    params: tuple[tuple[str, str], ...]
    q: float

    def specificity(self, offered: str) -> int:
        """How specifically this range names `offered` (0: it does not)."""
        main = essence(offered)
        kind, _, sub = main.partition("/")
        if self.kind == "*":
            return _ANY if self.sub == "*" else 0
        if self.kind != kind and kind != "*":
            return 0
        if self.sub == "*" or sub == "*":
            return _TYPE
        if self.sub == sub:
            stated = params(offered)
            for key, value in self.params:
                if key in stated and stated[key].lower() != value.lower():
                    return 0
            return _EXACT + len(self.params)
        suffix = "+" + (self.sub.rsplit("+", 1)[-1] if "+" in self.sub else self.sub)
        if sub.endswith(suffix) and (self.sub == suffix[1:] or self.sub.startswith("*+")):
            return _SUFFIX
        return 0


@lru_cache(maxsize=512)
def parse_accept(header: str) -> tuple[MediaRange, ...]:
    """The ranges of an `Accept` value; unreadable entries are left out."""
    ranges = []
    for entry in header.split(",")[:64]:
        name, *rest = entry.split(";")
        kind, slash, sub = name.strip().lower().partition("/")
        if not slash or not kind or not sub or (kind == "*" and sub != "*"):
            continue
        q = 1.0
        extra: list[tuple[str, str]] = []
        readable = True
        for part in rest:
            key, _, value = part.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    readable = False
                if not 0.0 <= q <= 1.0:
                    readable = False
            elif key:
                extra.append((key, value))
        if readable:
            ranges.append(MediaRange(kind, sub, tuple(extra), q))
    return tuple(ranges)


def negotiate(accept: str | None, offered: Sequence[str]) -> str | None:
    """The documented media type to answer with, or None when none is acceptable."""
    if not offered:
        return None
    if accept is None or not accept.strip():
        return offered[0]
    ranges = parse_accept(accept.strip())
    if not ranges:
        return offered[0]  # nothing readable: as if no Accept was sent
    best: tuple[float, int, int] | None = None
    chosen = None
    for index, name in enumerate(offered):
        found = max(((r.specificity(name), r.q) for r in ranges), default=(0, 0.0))
        specificity, q = found
        if specificity == 0 or q <= 0.0:
            continue
        key = (q, specificity, -index)
        if best is None or key > best:
            best, chosen = key, name
    return chosen


def concrete(chosen: str, accept: str | None) -> str:
    """The Content-Type to send for a documented type that is itself a range
    (`image/*`, `*/*`): the most wanted concrete type the client named inside it, else a
    common one."""
    main = essence(chosen)
    if "*" not in main:
        return chosen
    for item in sorted(parse_accept(accept or ""), key=lambda r: -r.q):
        if item.q > 0 and "*" not in (item.kind, item.sub):
            named = f"{item.kind}/{item.sub}"
            kind, _, sub = main.partition("/")
            if MediaRange(kind, sub, (), 1.0).specificity(named):
                return named
    return _COMMON.get(main.split("/", 1)[0], "application/json")


_COMMON = {
    "*": "application/json",
    "application": "application/json",
    "text": "text/plain",
    "image": "image/png",
}
