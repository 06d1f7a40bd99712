"""`application/x-www-form-urlencoded` bodies.

PLACEHOLDER owned by the `requests` helper, who replaces it (parsing with `encoding`,
types per property, and writing). Today: reading gives a dict of strings (a name sent
twice gives a list), writing encodes a flat object.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from mockserver.media.codec import BodyError, MediaFacts, Reader, Writer
from mockserver.media.text import as_text


class FormCodec:
    family = "form"

    def writer(self, facts: MediaFacts) -> Writer:
        def write(value: Any) -> bytes:
            if isinstance(value, bytes):
                return value
            if not isinstance(value, dict):
                return as_text(value).encode("utf-8")
            pairs = [
                (str(k), as_text(item))
                for k, v in value.items()
                for item in (v if isinstance(v, list) else [v])
            ]
            return urlencode(pairs).encode("ascii")

        return write

    def reader(self, facts: MediaFacts) -> Reader:
        def read(data: bytes) -> Any:
            try:
                text = data.decode("ascii")
            except UnicodeDecodeError as exc:
                raise BodyError("encoding", f"a form body is ASCII (byte {exc.start})") from None
            out: dict[str, Any] = {}
            for key, value in parse_qsl(text, keep_blank_values=True):
                if key in out:
                    previous = out[key]
                    out[key] = (
                        [*previous, value] if isinstance(previous, list) else [previous, value]
                    )
                else:
                    out[key] = value
            return out

        return read
