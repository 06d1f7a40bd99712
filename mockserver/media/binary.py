"""Binary bodies (octet-stream, images, PDF, `format: binary`): bytes as they are.

Generated binary answers are small valid files where the type has a well-known form
(`image/png`, `image/gif`, `application/pdf`) and deterministic bytes otherwise: see
`sample`. An example given as a string is sent as its UTF-8 bytes.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable
from typing import Any

from mockserver.media.codec import MediaFacts, Reader, Writer
from mockserver.media.jsontext import write_json

SAMPLE_SIZE = 32
"""How many bytes a generated body of an unknown binary type has."""


class BinaryCodec:
    family = "binary"

    def writer(self, facts: MediaFacts) -> Writer:
        return write_binary

    def reader(self, facts: MediaFacts) -> Reader:
        return bytes


def write_binary(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return write_json(value)


def sample(essence: str) -> Callable[[random.Random], bytes]:
    """How a generated body of this media type is made from the request's randomness."""
    return _SAMPLES.get(essence, _random_bytes)


def png(rng: random.Random) -> bytes:
    """A valid 1x1 RGB PNG whose one pixel's colour comes from `rng`."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8 bits, RGB
    pixels = zlib.compress(b"\x00" + rng.randbytes(3))  # filter byte, then R G B
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def gif(rng: random.Random) -> bytes:
    """A valid 1x1 GIF89a whose one colour comes from `rng`."""
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00"  # 1x1, a global table of 2 colours
        + rng.randbytes(3)
        + b"\x00\x00\x00"
        + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00"  # the image descriptor
        + b"\x02\x02D\x01\x00"  # LZW: minimum code size 2, one pixel of colour 0
        + b";"
    )


def pdf(rng: random.Random) -> bytes:
    """A valid one-page PDF (a blank 72x72 pt page) with a correct cross-reference table."""
    ident = rng.randbytes(8).hex()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] /Resources << >> >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, text in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + text + b"\nendobj\n"
    start = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /ID [<%s> <%s>] >>\n" % (
        len(objects) + 1,
        ident.encode("ascii"),
        ident.encode("ascii"),
    )
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def _random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(SAMPLE_SIZE)


_SAMPLES: dict[str, Callable[[random.Random], bytes]] = {
    "image/png": png,
    "image/gif": gif,
    "application/pdf": pdf,
}
