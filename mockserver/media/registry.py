"""Which codec speaks a media type: the one place that branches on media type names.

application/json, */*+json, application/vnd.* (no other suffix)   -> json
application/xml, text/xml, */*+xml                                -> xml
application/x-www-form-urlencoded                                 -> form
multipart/*                                                       -> multipart
text/* (but text/xml)                                             -> text
application/octet-stream, image/*, audio/*, video/*, font/*,
application/pdf, zip, gzip, ..., or a schema `format: binary`     -> binary
anything else                                                     -> json
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mockserver.media.binary import BinaryCodec, sample
from mockserver.media.codec import Codec, MediaFacts, Reader, Writer, essence
from mockserver.media.form import FormCodec
from mockserver.media.jsontext import JsonCodec
from mockserver.media.multipart import MultipartCodec
from mockserver.media.text import TextCodec
from mockserver.media.xmldoc import XmlCodec

CODECS: dict[str, Codec] = {
    codec.family: codec
    for codec in (
        JsonCodec(),
        XmlCodec(),
        TextCodec(),
        BinaryCodec(),
        FormCodec(),
        MultipartCodec(),
    )
}

_BINARY_TYPES = ("image/", "audio/", "video/", "font/", "model/")
_BINARY_APPLICATIONS = frozenset(
    {
        "application/octet-stream",
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-7z-compressed",
        "application/wasm",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
    }
)


def family(name: str, schema: Any = None, resolve: Callable[[Any], Any] | None = None) -> str:
    """`json`, `xml`, `text`, `binary`, `form` or `multipart`."""
    main = essence(name)
    kind, _, sub = main.partition("/")
    if main == "application/x-www-form-urlencoded":
        return "form"
    if kind == "multipart":
        return "multipart"
    if main in ("application/xml", "text/xml") or sub.endswith("+xml"):
        return "xml"
    if main == "application/json" or sub.endswith("+json"):
        return "json"
    if is_binary_schema(schema, resolve):
        return "binary"
    if kind == "text":
        return "text"
    if main in _BINARY_APPLICATIONS or main.startswith(_BINARY_TYPES):
        return "binary"
    if sub.startswith("vnd.openxmlformats") or sub.startswith("vnd.oasis.opendocument"):
        return "binary"
    return "json"


def is_binary_schema(schema: Any, resolve: Callable[[Any], Any] | None = None) -> bool:
    """A string schema with `format: binary` (3.0) or a `contentMediaType` / `contentEncoding`
    without `type` (3.1's way of saying raw bytes)."""
    if resolve is not None and isinstance(schema, Mapping) and "$ref" in schema:
        schema = resolve(schema)
    if not isinstance(schema, Mapping):
        return False
    if schema.get("format") == "binary":
        return True
    return "type" not in schema and (
        "contentMediaType" in schema or schema.get("contentEncoding") == "binary"
    )


def codec_for(facts: MediaFacts) -> Codec:
    return CODECS[family(facts.name, facts.schema, facts.resolve)]


def writer_for(facts: MediaFacts) -> Writer:
    """Compile, once, how answers of this media type are written."""
    return codec_for(facts).writer(facts)


def reader_for(facts: MediaFacts) -> Reader:
    """Compile, once, how request bodies of this media type are read."""
    return codec_for(facts).reader(facts)


def sampler_for(facts: MediaFacts) -> Callable[[Any], bytes] | None:
    """How a generated answer of a binary media type is made: bytes from the generation
    context's `rng` (a small valid file where the type has a well-known form, see
    `binary.sample`). None for other families, and for a binary type whose schema
    describes a structured value (an object or an array: its generator writes it)."""
    if family(facts.name, facts.schema, facts.resolve) != "binary":
        return None
    schema = facts.resolve(facts.schema) if facts.schema is not None else None
    if isinstance(schema, Mapping) and schema.get("type") in ("object", "array"):
        return None
    make = sample(facts.essence)

    def generate(gctx: Any) -> bytes:
        return make(gctx.rng)

    return generate
