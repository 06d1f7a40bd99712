"""`text/*` bodies: a string as it is, a number or boolean as its text."""

from __future__ import annotations

from typing import Any

from mockserver.media.codec import BodyError, MediaFacts, Reader, Writer, charset
from mockserver.media.jsontext import write_json


def as_text(value: Any) -> str:
    """The text of a value: strings as they are, `true`/`false`, numbers, JSON for the rest."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return ""
    return write_json(value).decode("utf-8")


class TextCodec:
    family = "text"

    def writer(self, facts: MediaFacts) -> Writer:
        encoding = charset(facts)

        def write(value: Any) -> bytes:
            if isinstance(value, bytes):
                return value
            return as_text(value).encode(encoding, "replace")

        return write

    def reader(self, facts: MediaFacts) -> Reader:
        encoding = charset(facts)

        def read(data: bytes) -> Any:
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise BodyError(
                    "encoding", f"the body is not valid {encoding} text (byte {exc.start})"
                ) from None

        return read
