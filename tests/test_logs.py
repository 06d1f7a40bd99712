"""The server's own lines: text as it is, JSON as one object a line."""

from __future__ import annotations

import json
import logging
import warnings

import pytest

from mockserver import logs


def test_a_line_is_the_message_as_text_or_one_json_object() -> None:
    assert logs.line("text", "info", "mockserver: serving", url="http://x") == "mockserver: serving"
    record = json.loads(logs.line("json", "info", "mockserver: serving", url="http://x"))
    assert record["level"] == "info" and record["message"] == "mockserver: serving"
    assert record["url"] == "http://x" and record["time"].endswith("Z")


def test_configured_for_json_logging_and_warnings_are_json_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("json")
        logging.getLogger("mockserver").warning("reload refused: %s", "api.yaml")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("gunicorn.error").exception("worker failed")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("old thing", DeprecationWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert [r["level"] for r in records] == ["warning", "error", "warning"]
    assert records[0]["message"] == "reload refused: api.yaml"
    assert "ValueError: boom" in records[1]["exception"]
    assert "old thing" in records[2]["message"] and records[2]["logger"] == "py.warnings"
