"""`engage dlq` on the real stack (Kafka, Redis, Ray): dead letters engage wrote are
listed, shown and replayed into the main stream; a record is put back at most once, a
replay cut short is finished without doubling anything, and a replayed action is
delivered once, with every guardrail judged again."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
import redis
from kafka import KafkaProducer

from actors.brokers.dead_letters import KafkaDeadLetters
from actors.brokers.kafka_reader import read_records
from actors.model.actions import action_to_json
from actors.model.events import event_to_json
from actors.storage.keys import Keys
from actors.storage.slots import slot_of
from engage.cli import main
from engage.dlq.marks import Mark
from engage.dlq.outbox import replay_key
from tests.actors.delivery.test_outbox import make_action
from tests.conftest import App
from tests.e2e.test_customers import wait_known
from tests.engage.test_commands import use
from tests.eventually import eventually
from tests.kafka_support import produce
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


@pytest.fixture
def dlq_cli(engage_app: App, monkeypatch: pytest.MonkeyPatch) -> App:
    """This shell's settings are the running engage's, its dead-letter topics included."""
    use(engage_app, monkeypatch)
    kafka = engage_app.kafka
    monkeypatch.setenv("ENGAGE_KAFKA_EVENTS_DLQ_TOPIC", kafka.events_dlq_topic)
    monkeypatch.setenv("ENGAGE_KAFKA_ACTIONS_DLQ_TOPIC", kafka.actions_dlq_topic)
    monkeypatch.setenv("ENGAGE_KAFKA_ACTIONS_TOPIC", kafka.actions_topic)
    return engage_app


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(["dlq", *argv]) == 0
    return capsys.readouterr().out


def listed(capsys: pytest.CaptureFixture[str], kind: str, customer: str) -> list[dict[str, Any]]:
    out = cli(capsys, "list", kind, "--customer", customer, "--json")
    return [json.loads(line) for line in out.splitlines()]


def dead_letters(app: App) -> KafkaDeadLetters:
    producer = KafkaProducer(bootstrap_servers=app.kafka.bootstrap, acks="all")
    return KafkaDeadLetters(producer, app.kafka.events_dlq_topic, app.kafka.actions_dlq_topic)


def mark_cut_short(app: App, where: str, letter_id: str) -> None:
    """What a replay killed between putting a record back and marking it leaves."""
    client = redis.Redis.from_url(app.settings.redis.url or "")
    key = f"{app.settings.redis.prefix}:dlq:replays"
    client.hset(key, f"{where}/{letter_id}", Mark("replaying", time.time()).to_json())
    client.close()


def test_an_invalid_event_is_listed_shown_and_replayed_once(
    dlq_cli: App, capsys: pytest.CaptureFixture[str]
) -> None:
    app = dlq_cli
    customer = f"dlq-{uuid.uuid4().hex[:8]}"
    produce(app.kafka, [b'{"type": "page_view", "customer_id": '], key=customer)
    (letter,) = eventually(
        lambda: listed(capsys, "events", customer) or None, 60, "the dead letter", 0.5
    )
    assert letter["status"] == "dead"
    assert letter["reason"]

    shown = json.loads(cli(capsys, "show", "events", letter["id"]))
    assert shown["raw_value"] == '{"type": "page_view", "customer_id": '
    assert shown["headers"]["source-topic"] == app.kafka.events_topic

    dry = cli(capsys, "replay", "events", "--customer", customer, "--dry-run")
    assert "would replay" in dry
    assert listed(capsys, "events", customer)[0]["status"] == "dead"

    assert "replayed: into the events stream" in cli(
        capsys, "replay", "events", "--customer", customer
    )

    # Still invalid: ingest dead-letters the copy again, saying which record it replays.
    def both() -> list[dict[str, Any]] | None:
        found = listed(capsys, "events", customer)
        return found if len(found) == 2 else None

    first, again = eventually(both, 60, "the replay's own dead letter", 0.5)
    assert first["status"] == "replayed"
    assert again["replay_of"] == f"{app.kafka.events_dlq_topic}/{letter['id']}"
    assert again["status"] == "dead"

    assert "skipped: replayed already" in cli(capsys, "replay", "events", "--id", letter["id"])


def test_a_replayed_event_is_applied_once_even_when_a_replay_was_cut_short(
    dlq_cli: App, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event dead-lettered for a cause since gone (a turn that raised) is applied by
    its replay; replayed again after a replay was killed mid-way, the customer actor
    recognises the copy by its id."""
    app = dlq_cli
    customer = f"dlq-{uuid.uuid4().hex[:8]}"
    lost = event("page_view", customer=customer, at=time.time(), event_id=f"{customer}-1")
    letters = dead_letters(app)
    letters.event_failed(
        event_to_json(lost), customer.encode(), "turn failed: RuntimeError: model down", None
    )
    letters.flush()
    (letter,) = listed(capsys, "events", customer)

    cli(capsys, "replay", "events", "--customer", customer)
    wait_known(app, customer, 1)

    mark_cut_short(app, app.kafka.events_dlq_topic, letter["id"])
    assert "cut short" in cli(capsys, "replay", "events", "--customer", customer)
    # A later event of the same customer: on the same partition, so read after the copy.
    later = event("product_view", customer=customer, at=time.time() + 1, product_id="p-later")

    def after_the_later_event() -> dict[str, Any] | None:
        context: dict[str, Any] = app.get(f"/v1/customers/{customer}/context").json()
        return context if "p-later" in context["session"]["recent_products"] else None

    produce(app.kafka, [later])
    context = eventually(after_the_later_event, 60, "the later event applied", 0.2)
    assert context["session"]["events"] == 2  # the copy was not applied again
    assert listed(capsys, "events", customer)[0]["status"] == "replayed"


def test_a_replayed_action_is_delivered_once(
    dlq_cli: App, capsys: pytest.CaptureFixture[str]
) -> None:
    """An action dead-lettered after its sink failed goes back into its customer's outbox
    under a key of its own; its shard delivers it once, however often it is replayed."""
    app = dlq_cli
    customer = f"dlq-{uuid.uuid4().hex[:8]}"
    produce(app.kafka, [event("page_view", customer=customer, at=time.time())])
    wait_known(app, customer, 1)
    action = make_action(f"k-{customer}").model_copy(update={"customer_id": customer})
    asyncio.run(dead_letters(app).action_failed(action_to_json(action), "webhook: 503", "webhook"))
    (letter,) = listed(capsys, "actions", customer)

    cli(capsys, "replay", "actions", "--customer", customer)
    key = replay_key(action.idempotency_key)

    def delivered() -> list[Any]:
        records = read_records(app.kafka, app.kafka.actions_topic, None, None, None, 30.0, {})
        return [r for r in records if json.loads(r.value).get("idempotency_key") == key]

    eventually(lambda: delivered() or None, 60, "the replayed action delivered", 0.5)

    # Replayed again after a replay cut short: back in the outbox, never sent again.
    mark_cut_short(app, app.kafka.actions_dlq_topic, letter["id"])
    assert "cut short" in cli(capsys, "replay", "actions", "--customer", customer)
    outbox = Keys(app.settings.redis.prefix).outbox(slot_of(customer, app.settings.actors.slots))
    client = redis.Redis.from_url(app.settings.redis.url or "")
    eventually(lambda: not client.hexists(outbox, key), 60, "the outbox cleared", 0.5)
    client.close()
    assert len(delivered()) == 1
    assert "skipped: replayed already" in cli(capsys, "replay", "actions", "--id", letter["id"])
