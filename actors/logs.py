"""Structured logs: one JSON object per line, carrying customer and event ids.

Shards, ingest replicas and API replicas call `configure()`; a log call passes ids with
`extra={"customer_id": ..., "event_id": ...}` and they become fields a log pipeline can
index, instead of text to grep.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

FIELDS = (
    "customer_id",
    "event_id",
    "action_id",
    "rule_id",
    "shard",
    "offset",
    "partition",
    "reason",
)
PACKAGES = ("actors", "serving", "engage", "training")
# kafka-python's own loggers: a request that timed out, a group rebalance, a coordinator
# lost are logged there and nowhere else. Without a handler they reached only Python's
# last-resort stderr printer, unstructured and easy to miss.
KAFKA_LOGGER = "kafka"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        action = record.__dict__.get("action")
        if action is not None:
            entry["action"] = action
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "INFO", kafka_level: str = "WARNING") -> None:
    """JSON lines on stderr for engage's own loggers and kafka-python's (idempotent).

    kafka-python logs at `kafka_level` (`ENGAGE_KAFKA_LOG_LEVEL`): its INFO lines (every
    group join) are noise in normal operation, but DEBUG shows each fetch when a stall
    needs explaining."""
    levels = {package: level for package in PACKAGES} | {KAFKA_LOGGER: kafka_level}
    for package, package_level in levels.items():
        logger = logging.getLogger(package)
        logger.setLevel(package_level)
        if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
        logger.propagate = False
