"""Structured logs: JSON lines that carry the customer and event ids."""

from __future__ import annotations

import json
import logging

from actors.logs import JsonFormatter


def test_a_log_line_is_json_with_the_ids_as_fields() -> None:
    record = logging.LogRecord(
        "actors.host", logging.WARNING, __file__, 1, "turn failed", None, None
    )
    record.customer_id = "c42"
    record.event_id = "e7"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "turn failed"
    assert (line["customer_id"], line["event_id"], line["level"]) == ("c42", "e7", "WARNING")
    assert line["ts"].endswith("Z")


def test_exceptions_are_kept_in_one_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in line["exception"]
