"""`multipart/form-data` bodies.

PLACEHOLDER owned by the `requests` helper, who replaces it (parts, files, part content
types, `encoding`). Today: bodies are passed through as bytes, and written as JSON text.
"""

from __future__ import annotations

from mockserver.media.codec import MediaFacts, Reader, Writer
from mockserver.media.jsontext import write_json


class MultipartCodec:
    family = "multipart"

    def writer(self, facts: MediaFacts) -> Writer:
        return write_json

    def reader(self, facts: MediaFacts) -> Reader:
        return bytes
