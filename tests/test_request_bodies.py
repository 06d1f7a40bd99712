"""Request bodies read by their media type's codec and checked by schema: form,
multipart, text, binary (media/form.py, media/multipart.py, through `check`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.media.codec import BodyError, MediaFacts
from mockserver.media.form import FormCodec
from mockserver.media.multipart import BOUNDARY, MultipartCodec, parse_parts
from mockserver.spec import Api, Operation, load_api
from mockserver.validation import Checked, RequestRecord, check

SPEC = Path(__file__).parent / "data" / "requests.yaml"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00"


@pytest.fixture(scope="module")
def api() -> Api:
    return load_api(SPEC)


def op(api: Api, operation_id: str) -> Operation:
    return next(o for o in api.operations if o.operation_id == operation_id)


def post(api: Api, operation_id: str, content_type: str, body: bytes) -> Checked:
    record = RequestRecord("POST", "/", (), {"content-type": content_type}, body)
    return check(op(api, operation_id), record, {})


def found(checked: Checked) -> list[tuple[str, str]]:
    return [(v.name, v.rule) for v in checked.violations]


FORM = "application/x-www-form-urlencoded"


def test_a_form_body_is_typed_by_its_schema_and_encoding(api: Api) -> None:
    body = b"name=Ann&age=31&tags=a&tags=b&codes=1|2&meta=%7B%22k%22%3A%22v%22%7D&opts[a]=4"
    checked = post(api, "postForm", FORM, body)
    assert checked.valid, checked.violations
    assert checked.body == {
        "name": "Ann",
        "age": 31,
        "tags": ["a", "b"],
        "codes": [1, 2],
        "meta": {"k": "v"},
        "opts": {"a": 4},
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"name=Ann", [("age", "required")]),
        (b"name=A&age=1", [("name", "minLength")]),
        (b"name=Ann&age=%EF%BC%95", [("age", "type")]),
        (b"name=Ann&age=3&codes=1|x", [("codes[1]", "type")]),
        (b"name=Ann&age=3&meta=%7B", [("meta", "syntax")]),
    ],
)
def test_form_bodies_that_break_a_rule(api: Api, body: bytes, expected: list) -> None:
    assert found(post(api, "postForm", FORM, body)) == expected


def multipart(*parts: tuple[str, str | None, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, content_type, content in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def test_a_multipart_upload_is_read_part_by_part(api: Api) -> None:
    body = multipart(
        ("title", None, None, "Café".encode()),
        ("count", None, None, b"2"),
        ("file", "a.png", "image/png", PNG),
        ("meta", None, "application/json", b'{"k": "v"}'),
    )
    checked = post(api, "upload", MULTIPART, body)
    assert checked.valid, checked.violations
    assert checked.body["title"] == "Café"
    assert checked.body["count"] == 2
    assert checked.body["file"] == PNG.decode("latin-1")
    assert checked.body["meta"] == {"k": "v"}


def test_multipart_required_files_part_types_and_sizes(api: Api) -> None:
    no_file = multipart(("title", None, None, b"t"))
    assert found(post(api, "upload", MULTIPART, no_file)) == [("file", "required")]
    gif = multipart(("title", None, None, b"t"), ("file", "a.gif", "image/gif", b"GIF89a"))
    wrong_type = post(api, "upload", MULTIPART, gif)
    assert found(wrong_type) == [("file", "content-type")]
    assert "image/png, image/jpeg" in wrong_type.violations[0].message
    big = multipart(("title", None, None, b"t"), ("file", "a.png", "image/png", PNG * 20))
    assert found(post(api, "upload", MULTIPART, big)) == [("file", "maxLength")]
    meta = multipart(
        ("title", None, None, b"t"),
        ("file", "a.png", "image/png", PNG),
        ("meta", None, None, b"{}"),
    )
    assert found(post(api, "upload", MULTIPART, meta)) == [("meta.k", "required")]


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary here",
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n".encode(),
        f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nv\r\n--{BOUNDARY}--".encode(),
        f"--{BOUNDARY}\r\nContent-Disposition: attachment\r\n\r\nv\r\n--{BOUNDARY}--".encode(),
    ],
)
def test_malformed_multipart_is_one_syntax_finding(api: Api, body: bytes) -> None:
    assert [v.rule for v in post(api, "upload", MULTIPART, body).violations] == ["syntax"]


def test_text_and_binary_bodies(api: Api) -> None:
    assert post(api, "postNote", "text/plain", b"hi").body == "hi"
    assert found(post(api, "postNote", "text/plain", b"too long")) == [("", "maxLength")]
    assert found(post(api, "postNote", "text/plain; charset=utf-8", b"\xff")) == [("", "encoding")]
    raw = post(api, "postNote", "application/octet-stream", b"\x00\xff")
    assert raw.valid and raw.body == b"\x00\xff"


def test_form_and_multipart_writers_round_trip() -> None:
    facts = MediaFacts(FORM, {"type": "object"})
    value = {"a": "x y", "n": [1, 2], "o": {"k": True}}
    written = FormCodec().writer(facts)(value)
    assert written == b"a=x+y&n=1&n=2&o%5Bk%5D=true"
    assert FormCodec().reader(facts)(written) == {"a": "x y", "n": ["1", "2"], "o[k]": "true"}
    body = MultipartCodec().writer(MediaFacts("multipart/form-data"))(
        {"t": "v", "f": b"\x00", "j": {"k": 1}}
    )
    parts = parse_parts(body)
    assert [(p.name, p.content_type, p.content) for p in parts] == [
        ("t", "text/plain", b"v"),
        ("f", "application/octet-stream", b"\x00"),
        ("j", "application/json", b'{"k": 1}'),
    ]


def test_a_form_with_no_field_is_the_close_delimiter_alone() -> None:
    """Schemathesis sends `--B--` for a multipart form whose fields are all optional:
    no part, not a syntax error (required fields are then checked as missing)."""
    assert parse_parts(b"--abc--\r\n") == []
    # A boundary that itself ends in "--" still delimits parts.
    body = b'--ab--\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--ab----\r\n'
    assert [(p.name, p.content) for p in parse_parts(body)] == [("a", b"x")]
    with pytest.raises(BodyError):
        parse_parts(b'--abc\r\nContent-Disposition: form-data; name="a"\r\n\r\nx')


def test_a_part_with_headers_and_no_content_is_an_empty_value() -> None:
    """RFC 2046: `body-part := MIME-part-headers [CRLF *OCTET]`; the blank line and the
    content are optional together (Werkzeug's client writes an empty field so)."""
    body = (
        b'--abc\r\nContent-Disposition: form-data; name="e"\r\n'
        b'\r\n--abc\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--abc--\r\n'
    )
    assert [(p.name, p.content) for p in parse_parts(body)] == [("e", b""), ("a", b"x")]
    with pytest.raises(BodyError, match="no blank line"):
        parse_parts(b'--abc\r\nContent-Disposition: form-data; name="e"\r\n--abc--\r\n')


def test_a_preamble_before_the_first_boundary_is_skipped(api: Api) -> None:
    body = b"\r\n" + multipart(("title", None, None, b"t"), ("file", "a.png", "image/png", PNG))
    assert post(api, "upload", MULTIPART, body).valid
