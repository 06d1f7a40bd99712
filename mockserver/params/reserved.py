"""allowReserved: RFC 3986's reserved characters must be percent-encoded in a query
value unless the parameter sets `allowReserved: true`.

Checked on the query string as sent. Not counted as reserved: `+` (a space in a form
-encoded query) and the delimiter of the parameter's own style (the `,` of
`form` with `explode: false`), which the style itself puts there.
"""

from __future__ import annotations

from collections.abc import Iterable

from mockserver.params.sources import raw_pairs

RESERVED = frozenset(":/?#[]@!$&'()*,;=")


def unencoded_reserved(
    raw_query: str, names: Iterable[str], delimiter: str = ""
) -> tuple[str, str] | None:
    """The first (name, character) where a value of one of `names` holds a reserved
    character unencoded; None when every such character was percent-encoded."""
    wanted = set(names)
    for name, value in raw_pairs(raw_query):
        if name not in wanted:
            continue
        for char in value:
            if char in RESERVED and char != delimiter:
                return name, char
    return None
