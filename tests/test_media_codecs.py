"""Every codec: what it writes and what it reads, and which codec a media type gets."""

from __future__ import annotations

import random
import struct
import xml.etree.ElementTree as ET
import zlib
from typing import Any

import pytest

from mockserver.media import BodyError, MediaFacts, family, reader_for, serialise, writer_for
from mockserver.media.binary import gif, pdf, png, sample
from mockserver.media.jsontext import parse_json
from mockserver.responder import Reply

COMPONENTS: dict[str, Any] = {
    "Pet": {
        "type": "object",
        "xml": {"name": "pet", "prefix": "p", "namespace": "https://example.com/pets"},
        "properties": {
            "id": {"type": "integer", "xml": {"attribute": True}},
            "name": {"type": "string"},
            "tags": {
                "type": "array",
                "xml": {"wrapped": True},
                "items": {"type": "string", "xml": {"name": "tag"}},
            },
            "photos": {"type": "array", "items": {"type": "string"}},
            "healthy": {"type": "boolean"},
            "owner": {"$ref": "#/components/schemas/Owner"},
        },
    },
    "Owner": {"type": "object", "properties": {"nick": {"type": "string"}}},
}


def resolve(node: Any) -> Any:
    return COMPONENTS[node["$ref"].rsplit("/", 1)[-1]]


PET = MediaFacts("application/xml", {"$ref": "#/components/schemas/Pet"}, resolve)


@pytest.mark.parametrize(
    ("name", "schema", "expected"),
    [
        ("application/json", None, "json"),
        ("application/problem+json; charset=utf-8", None, "json"),
        ("application/vnd.goa.error", None, "json"),
        ("APPLICATION/XML", None, "xml"),
        ("text/xml", None, "xml"),
        ("application/atom+xml", None, "xml"),
        ("text/plain", None, "text"),
        ("text/csv", None, "text"),
        ("application/x-www-form-urlencoded", None, "form"),
        ("multipart/form-data", None, "multipart"),
        ("application/octet-stream", None, "binary"),
        ("image/png", None, "binary"),
        ("application/pdf", None, "binary"),
        ("application/x-custom", {"type": "string", "format": "binary"}, "binary"),
        ("text/plain", {"type": "string", "format": "binary"}, "binary"),
        ("*/*", None, "json"),
    ],
)
def test_each_media_type_has_its_family(name: str, schema: Any, expected: str) -> None:
    assert family(name, schema) == expected


def test_json_is_written_compactly_in_utf8_and_read_strictly() -> None:
    write = writer_for(MediaFacts("application/json"))
    assert write({"a": [1, "é"]}) == '{"a": [1, "é"]}'.encode()
    read = reader_for(MediaFacts("application/json"))
    assert read(b'{"a": 1}') == {"a": 1}
    for bad, rule in ((b'{"a": 1, "a": 2}', "syntax"), (b"\xff", "encoding"), (b"NaN", "syntax")):
        with pytest.raises(BodyError) as caught:
            read(bad)
        assert caught.value.rule == rule
    with pytest.raises(BodyError):
        parse_json(b"\xef\xbb\xbf{}")


def test_serialise_uses_the_replys_writer_else_its_media_type() -> None:
    assert serialise(Reply(200, "application/json", {"x": "é"}, "example")) == '{"x": "é"}'.encode()
    assert serialise(Reply(200, "text/plain", 42, "example")) == b"42"
    assert serialise(Reply(200, "text/plain", "as is", "example")) == b"as is"
    assert serialise(Reply(200, None, {"x": 1}, "none")) == b""
    assert serialise(Reply(200, "image/png", b"\x89PNG", "fixture")) == b"\x89PNG"
    custom = Reply(200, "application/json", 1, "example", write=lambda v: b"custom")
    assert serialise(custom) == b"custom"


def test_text_writes_strings_as_they_are_and_scalars_as_text() -> None:
    write = writer_for(MediaFacts("text/plain; charset=latin-1"))
    assert write("café") == "café".encode("latin-1")
    assert write(True) == b"true"
    assert write(2.5) == b"2.5"
    assert write(None) == b""
    assert write({"a": 1}) == b'{"a": 1}'
    read = reader_for(MediaFacts("text/plain"))
    assert read("ü".encode()) == "ü"
    with pytest.raises(BodyError):
        read(b"\xff")


def test_xml_follows_the_xml_object() -> None:
    value = {
        "id": 7,
        "name": "Rex & co",
        "tags": ["a", "b"],
        "photos": ["x.png", "y.png"],
        "healthy": True,
        "owner": {"nick": "jo"},
    }
    body = writer_for(PET)(value)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<p:pet ')
    root = ET.fromstring(body)
    assert root.tag == "{https://example.com/pets}pet"
    assert root.get("id") == "7"
    children = [(c.tag, c.text) for c in root]
    assert children[0] == ("name", "Rex & co")
    wrapper = root.find("tags")
    assert wrapper is not None and [(t.tag, t.text) for t in wrapper] == [
        ("tag", "a"),
        ("tag", "b"),
    ]
    assert [p.text for p in root.findall("photos")] == ["x.png", "y.png"]  # not wrapped
    assert root.findtext("healthy") == "true"
    assert root.findtext("owner/nick") == "jo"
    assert reader_for(PET)(body) == value


def test_xml_root_names_and_arrays() -> None:
    def facts(schema: Any) -> MediaFacts:
        return MediaFacts("application/xml", schema, resolve)

    listing = facts({"type": "array", "items": {"$ref": "#/components/schemas/Owner"}})
    root = ET.fromstring(writer_for(listing)([{"nick": "a"}, {"nick": "b"}]))
    assert root.tag == "root" and [c.tag for c in root] == ["Owner", "Owner"]
    assert reader_for(listing)(ET.tostring(root)) == [{"nick": "a"}, {"nick": "b"}]
    owner = ET.fromstring(writer_for(facts({"$ref": "#/components/schemas/Owner"}))({"nick": 1}))
    assert owner.tag == "Owner"
    odd = ET.fromstring(writer_for(facts({"type": "object"}))({"1 bad key": "\x01ok"}))
    assert [(c.tag, c.text) for c in odd] == [("_1_bad_key", "ok")]
    assert writer_for(facts({"type": "string"}))("<a>given</a>") == b"<a>given</a>"


def test_xml_reading_refuses_entities_and_broken_documents() -> None:
    read = reader_for(PET)
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><pet>&a;</pet>'
    for bad in (bomb, b"<pet><name>x</pet>", b""):
        with pytest.raises(BodyError) as caught:
            read(bad)
        assert caught.value.rule == "syntax"
    # Text that is not the declared type stays text, for validation to report.
    assert read(b'<pet id="seven"><healthy>maybe</healthy></pet>') == {
        "id": "seven",
        "healthy": "maybe",
    }


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def test_a_generated_png_is_a_valid_image() -> None:
    data = png(random.Random(1))
    chunks = _png_chunks(data)
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">II", chunks[0][1][:8]) == (1, 1)
    assert len(zlib.decompress(chunks[1][1])) == 4  # filter byte + RGB
    assert png(random.Random(1)) == data != png(random.Random(2))


def test_a_generated_pdf_has_a_correct_cross_reference_table() -> None:
    data = pdf(random.Random(3))
    assert data.startswith(b"%PDF-1.4\n") and data.endswith(b"%%EOF\n")
    start = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert data[start:].startswith(b"xref\n0 4\n")
    entries = data[start:].split(b"\n")[3:6]
    for number, entry in enumerate(entries, start=1):
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj" % number)


def test_other_binary_samples_are_deterministic_bytes() -> None:
    assert gif(random.Random(1)).startswith(b"GIF89a") and gif(random.Random(1)).endswith(b";")
    make = sample("application/octet-stream")
    assert make(random.Random(5)) == make(random.Random(5)) != make(random.Random(6))
    write = writer_for(MediaFacts("application/octet-stream"))
    assert write("given as text") == b"given as text"
    assert reader_for(MediaFacts("image/png"))(b"\x00\x01") == b"\x00\x01"


def test_the_form_placeholder_reads_and_writes_flat_objects() -> None:
    facts = MediaFacts("application/x-www-form-urlencoded")
    assert writer_for(facts)({"a": "1 2", "b": [1, 2]}) == b"a=1+2&b=1&b=2"
    assert reader_for(facts)(b"a=1+2&b=1&b=2") == {"a": "1 2", "b": ["1", "2"]}


def test_binary_types_are_sampled_and_structured_ones_are_not() -> None:
    from mockserver.generation import make_context
    from mockserver.media import sampler_for

    class _Faker:  # the sampler uses only the context's rng
        pass

    make = sampler_for(MediaFacts("image/png", {"type": "string", "format": "binary"}))
    assert make is not None
    first = make(make_context(7, _Faker()))
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert first == make(make_context(7, _Faker()))
    octets = sampler_for(MediaFacts("application/octet-stream"))
    assert octets is not None and isinstance(octets(make_context(1, _Faker())), bytes)
    assert sampler_for(MediaFacts("application/json", {"type": "string"})) is None
    assert sampler_for(MediaFacts("image/png", {"type": "object"})) is None
    assert sampler_for(MediaFacts("text/plain", {"type": "string", "format": "binary"})) is not None


def test_compiled_media_types_carry_their_codec_writer() -> None:
    from pathlib import Path

    from mockserver.engine import Engine

    engine = Engine.from_paths([Path(__file__).parent / "data" / "answers.yaml"], None)
    op = next(o for o in engine.operations if o.operation_id == "listPets")
    xml = op.responses[200].media_named("application/xml")
    assert xml is not None and xml.write is not None
    written = xml.write([{"id": 3, "name": "Rex", "tags": ["a"]}])
    root = ET.fromstring(written)
    assert root.tag == "pets"
    [pet] = root
    assert pet.tag == "pet" and pet.get("id") == "3" and pet.findtext("name") == "Rex"
    assert [t.text for t in pet.find("tags") or []] == ["a"]
