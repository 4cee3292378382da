"""`engage send --to rabbitmq`: JSON lines to the events exchange, bad lines named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from actors.brokers.amqp import AmqpConsumer
from actors.model.events import event_to_json
from engage.rabbitmq_server import RabbitMQ
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.rabbitmq]


def test_valid_lines_go_to_the_events_exchange_and_bad_ones_are_named(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    exchange = f"send{uuid.uuid4().hex[:6]}"
    lines = [event_to_json(event("page_view", customer=f"c{n}")).decode() for n in range(5)]
    lines.insert(2, '{"type": "page_view"}')
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n")
    env = {
        **os.environ,
        "ENGAGE_RABBITMQ_URL": rabbitmq.url,
        "ENGAGE_RABBITMQ_EVENTS_EXCHANGE": exchange,
        "ENGAGE_RABBITMQ_EVENTS_DLQ": f"{exchange}.dlq",
    }
    done = subprocess.run(
        [sys.executable, "-m", "engage.cli", "send", str(source), "--to", "rabbitmq"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1  # one line refused
    assert "line 3: " in done.stderr
    assert "sent 5 events, 1 refused" in done.stderr

    consumer = AmqpConsumer(rabbitmq.url, exchange, queues=4, dlq=f"{exchange}.dlq")
    try:
        got: list[str] = []
        deadline = time.monotonic() + 20
        while len(got) < 5 and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500, max_records=100).values():
                got += [json.loads(r.value or b"{}")["customer_id"] for r in records]
        assert sorted(got) == [f"c{n}" for n in range(5)]
    finally:
        consumer.close()
