"""Loading specs: refused with a message naming the file and the place; compiled once."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from mockserver import schemas
from mockserver.engine import Engine
from mockserver.spec import SpecError, load_apis
from mockserver.spec import compile as spec_compile
from mockserver.validation import RequestRecord

ROOT = Path(__file__).resolve().parents[1]
MINI = Path(__file__).parent / "data" / "mini.yaml"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_specs_load() -> None:
    apis = load_apis([ROOT / "specs"])
    assert sorted(a.api_id for a in apis) == [
        "escapekit-events",
        "harness-iacm",
        "huawei-ces-events",
        "socotra-events",
    ]
    assert sum(len(a.operations) for a in apis) == 25


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "openapi: 3.1.0\ninfo: [unclosed\n")
    with pytest.raises(SpecError) as caught:
        load_apis([path])
    assert caught.value.source == str(path)
    assert caught.value.place.startswith("line ")


def test_invalid_openapi_names_the_place(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        "openapi: 3.1.0\ninfo: {title: x, version: '1'}\n"
        "paths:\n  /a:\n    get:\n      responses:\n        '200': {description: 5}\n",
    )
    with pytest.raises(SpecError) as caught:
        load_apis([path], strict=True)
    assert caught.value.place == "/paths/~1a/get/responses/200/description"
    assert "string" in caught.value.message


def test_an_unknown_version_is_refused_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "old.yaml", "swagger: '1.2'\n")
    with pytest.raises(SpecError, match=r"'1\.2' is not read") as caught:
        load_apis([path])
    assert caught.value.place == "/swagger"


def test_two_specs_claiming_one_route_are_refused(tmp_path: Path) -> None:
    text = (
        "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /things/{%s}:\n    get:\n"
        "      operationId: op\n      parameters: [{name: %s, in: path, required: true, "
        "schema: {type: string}}]\n      responses: {'200': {description: ok}}\n"
    )
    first = write(tmp_path, "first.yaml", text % ("a", "a"))
    second = write(tmp_path, "second.yaml", text % ("b", "b"))
    with pytest.raises(SpecError) as caught:
        load_apis([first, second])
    message = str(caught.value)
    assert "first.yaml" in message and "second.yaml" in message and "/things/{b}" in message


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_apis([tmp_path / "nope.yaml"])


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no spec files"):
        load_apis([tmp_path])


def test_nothing_is_compiled_per_request(engine: Engine) -> None:
    """Validators and generators are built at start-up; a request only uses them."""
    requests = [
        RequestRecord("GET", "/event/3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b/events/abc"),
        RequestRecord(
            "POST",
            "/iacm/api/modules/1/events",
            (),
            {"content-type": "application/json", "x-api-key": "k"},
            b"{}",
        ),
        RequestRecord("GET", "/api/v1/events/query/", (("page_size", "x"),)),
    ]
    with (
        mock.patch.object(schemas.SchemaContext, "validator") as make_validator,
        mock.patch.object(spec_compile, "compile_schema") as make_generator,
        mock.patch.object(schemas, "RequestValidator") as request_cls,
        mock.patch.object(schemas, "ResponseValidator") as response_cls,
    ):
        statuses = [engine.handle(r).reply.status for r in requests]
    assert statuses == [200, 400, 400]
    for patched in (make_validator, make_generator, request_cls, response_cls):
        patched.assert_not_called()


def test_operation_records_are_frozen(engine: Engine) -> None:
    op = engine.operations[0]
    with pytest.raises(AttributeError):
        op.path = "/elsewhere"  # type: ignore[misc]


def test_mini_spec_statuses() -> None:
    (api,) = load_apis([MINI])
    get = next(o for o in api.operations if o.operation_id == "getThing")
    assert get.statuses == (200, 401, 422)
    assert get.success_status == 200


RANGES = """openapi: 3.1.0
info: {title: ranges, version: '1'}
paths:
  /only-default:
    get:
      operationId: onlyDefault
      responses:
        default:
          description: anything
          content: {application/json: {schema: {type: object}}}
  /ranges:
    get:
      operationId: ranges
      responses:
        '201': {description: made}
        2XX: {description: other successes}
        4XX:
          description: client errors
          content: {application/json: {schema: {type: object}}}
        default: {description: the rest}
  /only-errors:
    get:
      operationId: onlyErrors
      responses:
        5XX: {description: server errors}
        4XX: {description: client errors}
"""


def test_default_and_range_responses_are_compiled(tmp_path: Path) -> None:
    (api,) = load_apis([write(tmp_path, "ranges.yaml", RANGES)])
    ops = {op.operation_id: op for op in api.operations}
    only_default = ops["onlyDefault"]
    assert only_default.responses == {}
    assert set(only_default.ranges) == {"default"}
    assert only_default.success_status == 200
    assert only_default.response_for(200) is only_default.ranges["default"]
    assert only_default.response_for(503) is only_default.ranges["default"]
    assert only_default.ranges["default"].media[0].name == "application/json"

    ranged = ops["ranges"]
    assert set(ranged.responses) == {201}
    assert set(ranged.ranges) == {"2XX", "4XX", "default"}
    assert ranged.success_status == 201
    assert ranged.response_for(201) is ranged.responses[201]
    assert ranged.response_for(204) is ranged.ranges["2XX"]
    assert ranged.response_for(404) is ranged.ranges["4XX"]
    assert ranged.response_for(500) is ranged.ranges["default"]
    assert ranged.ranges["4XX"].status == 400 and ranged.ranges["4XX"].key == "4XX"
    assert ranged.ranges["default"].status == 500  # a success is documented elsewhere

    only_errors = ops["onlyErrors"]
    assert only_errors.success_status == 400
    assert only_errors.response_for(200) is None
    assert only_errors.response_for(502) is only_errors.ranges["5XX"]


def test_an_operation_documenting_only_default_is_answered(tmp_path: Path) -> None:
    engine = Engine.from_paths([write(tmp_path, "ranges.yaml", RANGES)], tmp_path / "none")
    outcome = engine.handle(RequestRecord("GET", "/only-default"))
    assert outcome.reply.status == 200
    assert outcome.reply.media_type == "application/json"
    assert isinstance(outcome.reply.body, dict)
