"""Structured logs: JSON lines that carry the customer and event ids."""

from __future__ import annotations

import json
import logging

import pytest

from actors.logs import JsonFormatter, configure


def test_a_log_line_is_json_with_the_ids_as_fields() -> None:
    record = logging.LogRecord(
        "actors.hosting.host", logging.WARNING, __file__, 1, "turn failed", None, None
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


def test_kafka_python_logs_are_json_lines_at_their_own_level(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A handler from an earlier configure() writes to the stderr of its time.
    monkeypatch.setattr(logging.getLogger("kafka"), "handlers", [])
    logger = logging.getLogger("kafka.consumer.fetcher")
    configure(kafka_level="DEBUG")
    logger.debug("Sending FetchRequest to node %s", 1)
    configure(kafka_level="WARNING")
    logger.info("joined group")  # below the level now: not written
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("kafka.consumer.fetcher", "Sending FetchRequest to node 1")
    ]
