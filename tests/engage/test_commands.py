"""The operator's commands against a running engage: `engage simulate` sends traffic that
engage applies, `engage report` prints what the outcomes endpoint answers."""

from __future__ import annotations

import json
import re
import time

import pytest

from engage.cli import main
from tests.conftest import App
from tests.kafka_support import produce
from tests.support import event

pytestmark = pytest.mark.integration


def processed(app: App) -> int:
    shards = app.get("/v1/shards").json()["shards"]
    return sum(int(s.get("events", 0)) + int(s.get("duplicates", 0)) for s in shards)


def use(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """This shell's settings are the running engage's (as `engage cluster-env` writes)."""
    settings = app.settings
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", settings.kafka.bootstrap or "")
    monkeypatch.setenv("ENGAGE_KAFKA_EVENTS_TOPIC", settings.kafka.events_topic)
    monkeypatch.setenv("ENGAGE_REDIS_URL", settings.redis.url or "")
    monkeypatch.setenv("ENGAGE_REDIS_PREFIX", settings.redis.prefix)
    monkeypatch.setenv("ENGAGE_ACTORS_SLOTS", str(settings.actors.slots))


def test_simulate_sends_sessions_that_engage_applies(
    engage_app: App, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(engage_app, monkeypatch)
    before = processed(engage_app)
    assert main(["simulate", "--rate", "100", "--customers", "40", "--duration", "2"]) == 0
    printed = capsys.readouterr().err.strip().split("\r")[-1]
    said = re.match(r"sent ([\d,]+) events", printed)
    assert said is not None, printed
    sent = int(said.group(1).replace(",", ""))
    assert 100 <= sent <= 300  # about 2 s at 100 events/s, whole sessions
    deadline = time.monotonic() + 60
    while processed(engage_app) - before < sent and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processed(engage_app) - before >= sent


def test_report_prints_what_the_outcomes_endpoint_answers(
    engage_app: App, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    customer = f"report-{time.time_ns()}"
    now = time.time()
    produce(
        engage_app.kafka,
        [event("product_view", customer=customer, at=now + i) for i in range(3)],
    )

    def answered() -> list[dict[str, object]]:
        rows: list[dict[str, object]] = engage_app.get("/v1/reports/outcomes?by=offer").json()[
            "rows"
        ]
        return rows

    deadline = time.monotonic() + 30
    while not answered() and time.monotonic() < deadline:  # the browse offer counts as sent
        time.sleep(0.3)
    use(engage_app, monkeypatch)
    # Counters keep moving while actions are delivered: compare with the endpoint's answer
    # when it is the same just before and just after the command.
    for _ in range(20):
        before = answered()
        assert main(["report", "--by", "offer", "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        if answered() == before:
            break
        time.sleep(0.5)
    assert before
    assert printed == before
    rows = before
    assert main(["report", "--by", "offer"]) == 0
    table = capsys.readouterr().out
    assert "offer" in table.splitlines()[0]
    assert str(rows[0]["key"]) in table
