"""Media types: one codec per family, the registry that picks it, and negotiation.

Nobody outside this package branches on media type names: ask `writer_for` /
`reader_for` (compiled once, at start-up, per documented media type) and `negotiate`.

    codec.py      the interface: MediaFacts, Codec, Writer, Reader, BodyError   (media)
    registry.py   media type (and schema) -> codec                              (media)
    negotiate.py  Accept -> documented media type                               (media)
    jsontext.py   JSON and +json                                                (media)
    xmldoc.py     XML and +xml, shaped by OpenAPI's `xml` object                (media)
    text.py       text/*                                                        (media)
    binary.py     octet-stream, images, PDF, `format: binary`; small valid files (media)
    form.py       application/x-www-form-urlencoded                          (requests)
    multipart.py  multipart/form-data                                        (requests)
    write.py      `serialise`: a reply's body as bytes                          (media)
"""

from mockserver.media.codec import BodyError, Codec, MediaFacts, Reader, Writer
from mockserver.media.negotiate import concrete, negotiate
from mockserver.media.registry import family, reader_for, sampler_for, writer_for
from mockserver.media.write import serialise

__all__ = [
    "BodyError",
    "Codec",
    "MediaFacts",
    "Reader",
    "Writer",
    "concrete",
    "family",
    "negotiate",
    "reader_for",
    "sampler_for",
    "serialise",
    "writer_for",
]
