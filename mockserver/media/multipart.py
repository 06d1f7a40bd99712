"""`multipart/form-data` bodies (RFC 7578), read by the body's schema and `encoding`.

Reading gives an object with one property per part name: a file part (one with a
`filename`, or one whose property is `format: binary`) as its bytes read as latin-1
text (so `maxLength` counts bytes and `type: string` holds), a JSON part (content type
`application/json`, or an object property) parsed, any other part as UTF-8 text typed
by its property's schema (integers of ASCII digits, numbers, booleans). A name sent
in several parts gives a list. Where `encoding.<name>.contentType` is documented, each
part of that name must be sent with one of its types (wildcards allowed); a part
without a Content-Type is `text/plain`, or `application/octet-stream` for a file.

The boundary is read from the body's first line (`--boundary`), as every client sends
it, so a reader needs only the bytes.

Writing: an object as one part per property (arrays as repeated parts), separated by
`BOUNDARY`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mockserver.media.codec import BodyError, MediaFacts, Reader, Writer
from mockserver.media.form import FieldError, property_kinds, typed
from mockserver.media.text import as_text

BOUNDARY = "mockserver-boundary-7MA4YWxkTrZu0gW"
"""The boundary of written bodies; a reply's Content-Type must name it."""
MAX_PARTS = 1000


class MultipartCodec:
    family = "multipart"

    def writer(self, facts: MediaFacts) -> Writer:
        return write_multipart

    def reader(self, facts: MediaFacts) -> Reader:
        kinds, binary = property_kinds(facts.schema, facts.resolve)
        allowed: dict[str, list[str]] = {}
        for name, rules in (facts.encoding or {}).items():
            if isinstance(rules, Mapping) and rules.get("contentType"):
                allowed[str(name)] = [
                    t.strip().lower() for t in str(rules["contentType"]).split(",") if t.strip()
                ]

        def read(data: bytes) -> Any:
            out: dict[str, Any] = {}
            for part in parse_parts(data):
                value = _value(part, kinds, binary, allowed)
                if part.name in out:
                    previous = out[part.name]
                    if isinstance(previous, list) and kinds.get(part.name, ("",))[0] == "array":
                        previous.append(value)
                    else:
                        out[part.name] = [previous, value]
                elif kinds.get(part.name, ("",))[0] == "array":
                    out[part.name] = [value]
                else:
                    out[part.name] = value
            return out

        return read


class Part:
    __slots__ = ("content", "content_type", "filename", "name")

    def __init__(self, name: str, filename: str | None, content_type: str, content: bytes):
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.content = content


def parse_parts(data: bytes) -> list[Part]:
    """The parts of a multipart body, or `BodyError` saying what is malformed."""
    if data.startswith(b"--"):
        start = 0
    else:  # a preamble (Werkzeug's client sends an empty one) before the first boundary
        start = data.find(b"\r\n--")
        if start < 0:
            raise BodyError("syntax", "the multipart body does not start with a --boundary line")
        start += 2
    line_end = data.find(b"\r\n", start)
    if line_end < 0:
        raise BodyError("syntax", "the multipart body has no part after its boundary")
    boundary = data[start:line_end].rstrip(b" \t")
    if boundary.endswith(b"--") and b"\r\n" + boundary[:-2] not in data[line_end:]:
        return []  # the close delimiter first: a form with no field (as schemathesis sends)
    if len(boundary) < 3 or len(boundary) > 72:
        raise BodyError("syntax", "the multipart boundary must be 1 to 70 characters")
    # Each chunk is one part (CRLF, headers, CRLF CRLF, content); the last one follows
    # the close delimiter (`--boundary--`) and begins with "--".
    chunks = data[line_end:].split(b"\r\n" + boundary)
    parts: list[Part] = []
    if not chunks[-1].startswith(b"--"):
        raise BodyError("syntax", "the multipart body is not closed (--boundary-- is missing)")
    for chunk in chunks[:-1]:
        if len(parts) >= MAX_PARTS:
            raise BodyError("limit", f"the multipart body has more than {MAX_PARTS} parts")
        parts.append(_part(chunk))
    return parts


def _part(chunk: bytes) -> Part:
    if not chunk.startswith(b"\r\n"):
        raise BodyError("syntax", "a multipart boundary line is followed by more than CRLF")
    head, sep, content = chunk[2:].partition(b"\r\n\r\n")
    if not sep:
        if chunk[2:].startswith(b"\r\n"):
            head, content = b"", chunk[4:]
        elif chunk.endswith(b"\r\n"):
            # Headers straight into the next delimiter: RFC 2046's body-part is
            # `MIME-part-headers [CRLF *OCTET]`, so a part may have no content at all
            # (Werkzeug writes an empty field so): an empty value.
            head, content = chunk[2:-2], b""
        else:
            raise BodyError("syntax", "a multipart part has no blank line after its headers")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, colon, value = line.partition(":")
        if colon:
            headers[key.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise BodyError("syntax", "a multipart part has no Content-Disposition header")
    kind, params = _parameters(disposition)
    if kind != "form-data" or "name" not in params:
        raise BodyError(
            "syntax", "each part of a form must be Content-Disposition: form-data; name=..."
        )
    filename = params.get("filename")
    default_type = "application/octet-stream" if filename is not None else "text/plain"
    return Part(params["name"], filename, headers.get("content-type", default_type), content)


def _parameters(header: str) -> tuple[str, dict[str, str]]:
    """`form-data; name="a;b"; filename=x.png` -> ("form-data", {...})."""
    items: list[str] = []
    current, quoted, escaped = "", False, False
    for char in header:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    params = {}
    for item in items[1:]:
        key, eq, value = item.partition("=")
        if eq:
            params[key.strip().lower()] = value.strip()
    return items[0].strip().lower(), params


def _value(
    part: Part,
    kinds: Mapping[str, tuple[str, str]],
    binary: set[str],
    allowed: Mapping[str, list[str]],
) -> Any:
    name = part.name
    sent_type = part.content_type.split(";", 1)[0].strip().lower()
    accepted = allowed.get(name)
    if accepted is not None and not any(_matches(sent_type, a) for a in accepted):
        raise FieldError(
            name,
            "content-type",
            f"body part '{name}' is sent as {sent_type!r}; the spec accepts {', '.join(accepted)}",
        )
    if part.filename is not None or name in binary:
        return part.content.decode("latin-1")
    kind, item_kind = kinds.get(name, ("string", "string"))
    if kind == "array":
        kind = item_kind
    if kind == "object" or sent_type == "application/json" or sent_type.endswith("+json"):
        try:
            return json.loads(part.content.decode("utf-8"))
        except (ValueError, RecursionError):
            raise FieldError(name, "syntax", f"body part '{name}' is not valid JSON") from None
    try:
        text = part.content.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError(
            name, "encoding", f"body part '{name}' is not UTF-8 text (send it as a file)"
        ) from None
    return typed(kind, text)


def _matches(sent: str, accepted: str) -> bool:
    accepted = accepted.split(";", 1)[0].strip()
    if accepted in ("*/*", sent):
        return True
    return accepted.endswith("/*") and sent.startswith(accepted[:-1])


def write_multipart(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    fields = value if isinstance(value, Mapping) else {"value": value}
    out = bytearray()
    for name, item in fields.items():
        for element in item if isinstance(item, list) else [item]:
            out += f"--{BOUNDARY}\r\n".encode()
            safe = str(name).replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
            out += f'Content-Disposition: form-data; name="{safe}"\r\n'.encode()
            if isinstance(element, bytes):
                out += b"Content-Type: application/octet-stream\r\n\r\n" + element
            elif isinstance(element, Mapping | list):
                out += b"Content-Type: application/json\r\n\r\n"
                out += json.dumps(element, ensure_ascii=False).encode("utf-8")
            else:
                out += b"\r\n" + as_text(element).encode("utf-8")
            out += b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)
