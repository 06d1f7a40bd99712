"""A reply's body as bytes: the codec of its media type writes it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from mockserver.media.codec import MediaFacts, Writer
from mockserver.media.registry import writer_for


class Written(Protocol):
    """What `serialise` needs of a reply."""

    @property
    def body(self) -> Any: ...

    @property
    def media_type(self) -> str | None: ...

    @property
    def write(self) -> Writer | None: ...


def serialise(reply: Written) -> bytes:
    """Bytes of a reply's body, written by the codec of its media type."""
    if reply.body is None or reply.media_type is None:
        return b""
    if isinstance(reply.body, bytes):
        return reply.body
    write = reply.write or _writer_by_name(reply.media_type)
    result: bytes = write(reply.body)
    return result


@lru_cache(maxsize=256)
def _writer_by_name(name: str) -> Writer:
    """A writer that knows only the media type's name (no schema facts)."""
    return writer_for(MediaFacts(name))
