"""`engage send`: JSON lines to the running engage, over HTTP and through Kafka."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from engage.cli import main
from tests.conftest import WRITE_KEY, App
from tests.serving.test_api import wait_context
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def lines(customer: str, n: int) -> str:
    good = [
        event("page_view", customer=customer, at=time.time()).model_dump_json() for _ in range(n)
    ]
    return "\n".join([*good, '{"type": "page_view", "customer_id": "x"}', ""])


@pytest.mark.parametrize("to", ["http", "kafka"])
def test_send_delivers_good_lines_and_names_the_bad_one(
    engage_app: App,
    to: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    customer = f"send-{to}-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "events.jsonl"
    path.write_text(lines(customer, 3))
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", engage_app.kafka.bootstrap or "")
    monkeypatch.setenv("ENGAGE_KAFKA_EVENTS_TOPIC", engage_app.kafka.events_topic)
    args = ["send", str(path), "--to", to, "--url", engage_app.url, "--key", WRITE_KEY]
    assert main(args) == 1  # one line refused
    err = capsys.readouterr().err
    assert "line 4:" in err
    assert "event_id" in err
    assert "sent 3 events, 1 refused" in err
    context = wait_context(engage_app, customer, lambda c: c["session"]["events"] >= 3)
    assert context["session"]["page_views"] == 3
