"""engage on RabbitMQ end to end (`ENGAGE_BROKER=rabbitmq`): events over HTTP to the
events exchange, through ingest to the customer actors, actions out on the actions
exchange; a shard or the ingest replica SIGKILLed mid-stream ends with the states and
actions of an undisturbed run; `engage dlq` browses the dead-letter queue in place and
replays an event once."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import pika
import pytest
import ray
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr
from ray import serve

from actors.brokers.amqp_broker import RabbitBroker
from actors.brokers.amqp_mqtt import topic_for
from actors.brokers.amqp_publish import AmqpDeadLetters, publish_events
from actors.config import RabbitMQConfig
from actors.hosting.router import ShardRouter
from actors.model.events import event_to_json
from engage.cli import main
from engage.rabbitmq_server import RabbitMQ
from serving.config import ApiConfig
from tests.conftest import READ_KEY, WRITE_KEY, App, deploy_test_app
from tests.eventually import eventually
from tests.serving.test_api import valid_event
from tests.support import event
from training.sources import from_broker

pytestmark = [pytest.mark.integration, pytest.mark.rabbitmq]


@pytest.fixture(scope="session")
def rabbitmq_app(ray_local: None, rabbitmq: RabbitMQ, redis_url: str, fast_rules: str) -> App:
    """engage on RabbitMQ, deployed once, without Kafka at all; stopped with the session's
    Ray."""
    prefix = f"rmq{uuid.uuid4().hex[:6]}"
    api = ApiConfig(
        write_keys=(SecretStr(WRITE_KEY),),
        read_keys=(SecretStr(READ_KEY),),
        rate_limit_per_s=2000,
        rate_limit_burst=4000,
    )
    return deploy_test_app(
        prefix,
        redis_url,
        fast_rules,
        api,
        broker="rabbitmq",
        rabbitmq=RabbitMQConfig(
            url=SecretStr(rabbitmq.url),
            events_exchange=f"{prefix}.events",
            events_dlq=f"{prefix}.events.dlq",
            events_log=f"{prefix}.events.log",
            actions_exchange=f"{prefix}.actions",
            actions_dlq=f"{prefix}.actions.dlq",
            decisions_exchange=f"{prefix}.decisions",
            decisions_log=f"{prefix}.decisions.log",
            catalog_feed=f"{prefix}.catalog",
            events_queues=3,
        ),
    )


def events_of(app: App, customer: str) -> int:
    answer = app.get(f"/v1/customers/{customer}/context")
    return int(answer.json()["session"]["events"]) if answer.status_code == 200 else -1


def wait_counts(app: App, expected: dict[str, int], timeout_s: float = 90) -> dict[str, int]:
    def probe() -> dict[str, int]:
        seen = {c: events_of(app, c) for c in expected}
        assert seen == expected, seen
        return seen

    return eventually(probe, timeout_s, "every customer's events applied", 0.5)


def channel(rabbitmq: RabbitMQ) -> Any:
    return pika.BlockingConnection(pika.URLParameters(rabbitmq.url)).channel()


def test_events_sent_over_http_reach_the_customers_through_rabbitmq(
    rabbitmq_app: App, rabbitmq: RabbitMQ
) -> None:
    customers = [f"r-{uuid.uuid4().hex[:6]}" for _ in range(8)]
    for n in range(4):
        body = {"events": [valid_event(c, event_id=f"{c}-{n}") for c in customers]}
        answer = rabbitmq_app.request("POST", "/v1/events", WRITE_KEY, json=body)
        assert answer.status_code == 200, answer.text
    assert wait_counts(rabbitmq_app, dict.fromkeys(customers, 4)) == dict.fromkeys(customers, 4)
    # Once applied, ingest reports every queue caught up (its figures refresh every 2 s).
    queues = {f"{rabbitmq_app.settings.rabbitmq.events_exchange}:{i}" for i in range(3)}
    deadline = time.monotonic() + 30
    while True:
        replicas = rabbitmq_app.get("/v1/ingest").json()["replicas"]
        lag = {name: n for r in replicas for name, n in r.get("lag", {}).items()}
        if (set(lag) == queues and not any(lag.values())) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert lag == dict.fromkeys(queues, 0)
    # The events log kept each of them too, for training (`--from rabbitmq`).
    kept = {e.event_id for e in from_broker(RabbitBroker(rabbitmq_app.settings.rabbitmq)).events}
    assert {f"{c}-{n}" for c in customers for n in range(4)} <= kept


def test_an_invalid_event_goes_to_the_dead_letter_queue_with_the_reason(
    rabbitmq_app: App, rabbitmq: RabbitMQ
) -> None:
    names = rabbitmq_app.settings.rabbitmq
    ch = channel(rabbitmq)
    ch.confirm_delivery()
    ch.basic_publish(names.events_exchange, "someone", b'{"type": "purchase"}')
    deadline = time.monotonic() + 30
    while True:
        method, properties, body = ch.basic_get(names.events_dlq, auto_ack=True)
        if method is not None or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert body == b'{"type": "purchase"}'
    assert "event_id" in properties.headers["error-reason"]
    ch.connection.close()


def test_actions_are_published_to_the_actions_exchange(
    rabbitmq_app: App, rabbitmq: RabbitMQ
) -> None:
    """A cart left for 3 seconds (the test rules' reminder for `rem-` customers): the
    reminder reaches a queue bound to the actions exchange by type."""
    names = rabbitmq_app.settings.rabbitmq
    ch = channel(rabbitmq)
    ch.exchange_declare(names.actions_exchange, exchange_type="topic", durable=True)
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(queue, names.actions_exchange, routing_key="cart_reminder.#")
    customer = f"rem-{uuid.uuid4().hex[:6]}"
    cart = event("cart_add", customer=customer, price=42.0, at=time.time())
    body = {"events": [cart.model_dump(mode="json")]}
    assert rabbitmq_app.request("POST", "/v1/events", WRITE_KEY, json=body).status_code == 200
    deadline = time.monotonic() + 60
    while True:
        method, properties, _ = ch.basic_get(queue, auto_ack=True)
        if method is not None or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert method is not None
    assert properties.headers["customer-id"] == customer
    assert properties.message_id  # the idempotency key
    ch.connection.close()


def test_a_next_best_offer_answer_is_logged_on_the_decisions_exchange(
    rabbitmq_app: App,
) -> None:
    customer = f"r-{uuid.uuid4().hex[:6]}"
    answer = rabbitmq_app.get(f"/v1/customers/{customer}/next-best-offer?k=2").json()
    assert answer["logged"] is True
    broker = RabbitBroker(rabbitmq_app.settings.rabbitmq)

    def logged() -> list[dict[str, object]] | None:
        records: list[dict[str, object]] = []
        broker.read_decisions(
            None, lambda _, raw: records.append(json.loads(raw)["decision"]), 30.0
        )
        mine = [r for r in records if r["customer_id"] == customer]
        return mine or None

    (record,) = eventually(logged, 60, "the answer's record in the decisions log", 1.0)
    assert record["decision_id"] == answer["decision_id"]
    assert record["chosen"] == [o["offer_id"] for o in answer["offers"]]


def test_a_feed_on_the_catalog_exchange_puts_and_retires_offers(
    rabbitmq_app: App, rabbitmq: RabbitMQ
) -> None:
    feed = rabbitmq_app.settings.rabbitmq.catalog_feed
    offer_id = f"feed-{uuid.uuid4().hex[:6]}"
    offer = {
        "offer_id": offer_id,
        "title": "Poetry month",
        "categories": ["poetry"],
        "domain": "bookshop",
        "value": 3.0,
    }
    ch = channel(rabbitmq)
    ch.confirm_delivery()
    ch.exchange_declare(feed, exchange_type="fanout", durable=True)

    def publish(body: bytes) -> None:
        ch.basic_publish(feed, "", body, pika.BasicProperties(message_id=offer_id))

    def served() -> set[str]:
        offers = rabbitmq_app.get("/v1/catalog/offers").json()["offers"]
        return {o["offer_id"] for o in offers}

    try:
        publish(json.dumps(offer).encode())
        eventually(lambda: offer_id in served(), 30, "the fed offer served")
        publish(b"")  # retired
        eventually(lambda: offer_id not in served(), 30, "the retired offer gone")
    finally:
        ch.connection.close()


# One stream, played once undisturbed and once per fault: 20 customers, each with nine
# product views and a cart left at the end (the test rules remind `rem-*` customers of it
# after 3 s), sent over HTTP in ten batches; the fault strikes after the fifth.
CUSTOMERS, EVENTS, FAULT_AFTER = 20, 10, 4


@dataclass(frozen=True)
class Outcome:
    """What a run leaves, by customer position (the ids differ between runs): events
    applied, and actions published to the actions exchange by type."""

    events: tuple[int, ...]
    actions: tuple[tuple[tuple[str, int], ...], ...]
    duplicate_messages: int


def play(app: App, rabbitmq: RabbitMQ, fault: Callable[[], None] | None = None) -> Outcome:
    names = app.settings.rabbitmq
    ch = channel(rabbitmq)
    ch.exchange_declare(names.actions_exchange, exchange_type="topic", durable=True)
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(queue, names.actions_exchange, routing_key="#")
    run = uuid.uuid4().hex[:6]
    customers = [f"rem-{run}-{i:02d}" for i in range(CUSTOMERS)]
    for n in range(EVENTS):
        kind = "cart_add" if n == EVENTS - 1 else "product_view"
        body = {
            "events": [
                event(kind, customer=c, at=time.time(), event_id=f"{c}-{n}").model_dump(mode="json")
                for c in customers
            ]
        }
        answer = app.request("POST", "/v1/events", WRITE_KEY, json=body)
        assert answer.status_code == 200, answer.text
        if n == FAULT_AFTER and fault is not None:
            fault()
    expected = dict.fromkeys(customers, EVENTS)
    counts = wait_counts(app, expected, timeout_s=180)
    # Actions settle: every cart reminded of, then nothing new for 5 s.
    actions: dict[str, Counter[str]] = {c: Counter() for c in customers}
    message_ids: Counter[str] = Counter()
    deadline, quiet_since = time.monotonic() + 120, time.monotonic()
    while time.monotonic() < deadline:
        method, properties, _ = ch.basic_get(queue, auto_ack=True)
        if method is None:
            reminded = all(a["cart_reminder"] for a in actions.values())
            if reminded and time.monotonic() - quiet_since > 5:
                break
            time.sleep(0.2)
            continue
        quiet_since = time.monotonic()
        message_ids[properties.message_id] += 1
        customer = properties.headers["customer-id"]
        if customer in actions:
            actions[customer][method.routing_key.split(".")[0]] += 1
    ch.connection.close()
    return Outcome(
        events=tuple(counts[c] for c in customers),
        actions=tuple(tuple(sorted(actions[c].items())) for c in customers),
        duplicate_messages=sum(n - 1 for n in message_ids.values()),
    )


@pytest.fixture(scope="module")
def undisturbed(rabbitmq_app: App, rabbitmq: RabbitMQ) -> Outcome:
    outcome = play(rabbitmq_app, rabbitmq)
    assert outcome.events == (EVENTS,) * CUSTOMERS
    # Each customer's offer for its views and the reminder of its cart, once.
    assert set(outcome.actions) == {(("cart_reminder", 1), ("offer", 1))}
    assert outcome.duplicate_messages == 0
    return outcome


def test_a_shard_killed_mid_stream_changes_nothing_an_undisturbed_run_ends_with(
    rabbitmq_app: App, rabbitmq: RabbitMQ, undisturbed: Outcome
) -> None:
    """A shard's process SIGKILLed mid-stream: redeliveries of what it had applied are
    no-ops, actions it had sent are not sent again."""
    settings = rabbitmq_app.settings
    router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
    try:
        pid = ray.get(router.handle(0).pid.remote())
        disturbed = play(rabbitmq_app, rabbitmq, lambda: os.kill(pid, signal.SIGKILL))
    finally:
        router.close()
    assert disturbed == undisturbed


def test_an_ingest_replica_killed_mid_stream_changes_nothing_an_undisturbed_run_ends_with(
    rabbitmq_app: App, rabbitmq: RabbitMQ, undisturbed: Outcome
) -> None:
    """The ingest replica's process SIGKILLed mid-stream: RabbitMQ requeues what it held
    unacked, Serve starts another replica, which consumes the queues from there."""
    ingest = serve.get_deployment_handle("Ingest", app_name=rabbitmq_app.settings.serve.app)
    pid = int(ingest.pid.remote().result(timeout_s=60))
    disturbed = play(rabbitmq_app, rabbitmq, lambda: os.kill(pid, signal.SIGKILL))
    assert int(ingest.pid.remote().result(timeout_s=120)) != pid  # a new replica took over
    assert disturbed == undisturbed


# ---- `engage dlq` on RabbitMQ: the dead-letter queue browsed in place, replays once ----


@pytest.fixture
def dlq_cli(rabbitmq_app: App, monkeypatch: pytest.MonkeyPatch) -> App:
    settings = rabbitmq_app.settings
    names = settings.rabbitmq
    for name, value in {
        "ENGAGE_BROKER": "rabbitmq",
        "ENGAGE_RABBITMQ_URL": names.require_url(),
        "ENGAGE_RABBITMQ_EVENTS_EXCHANGE": names.events_exchange,
        "ENGAGE_RABBITMQ_EVENTS_DLQ": names.events_dlq,
        "ENGAGE_RABBITMQ_ACTIONS_DLQ": names.actions_dlq,
        "ENGAGE_REDIS_URL": settings.redis.require_url(),
        "ENGAGE_REDIS_PREFIX": settings.redis.prefix,
        "ENGAGE_ACTORS_SLOTS": str(settings.actors.slots),
    }.items():
        monkeypatch.setenv(name, value)
    return rabbitmq_app


def dlq(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(["dlq", *argv]) == 0
    return capsys.readouterr().out


def dead_listed(capsys: pytest.CaptureFixture[str], customer: str) -> list[dict[str, Any]]:
    out = dlq(capsys, "list", "events", "--customer", customer, "--json")
    return [json.loads(line) for line in out.splitlines()]


def test_an_invalid_event_is_listed_in_place_and_its_replay_names_it(
    dlq_cli: App, rabbitmq: RabbitMQ, capsys: pytest.CaptureFixture[str]
) -> None:
    app = dlq_cli
    customer = f"dlq-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq.url))
    publish_events(
        connection.channel(), app.settings.rabbitmq.events_exchange, [(customer, b"{not json")]
    )
    connection.close()
    (letter,) = eventually(
        lambda: dead_listed(capsys, customer) or None, 60, "the dead letter", 0.5
    )
    assert dead_listed(capsys, customer) == [letter]  # browsing leaves it on the queue
    shown = json.loads(dlq(capsys, "show", "events", letter["id"]))
    assert shown["raw_value"] == "{not json"

    assert "replayed" in dlq(capsys, "replay", "events", "--id", letter["id"])

    def both() -> list[dict[str, Any]] | None:
        found = dead_listed(capsys, customer)
        return found if len(found) == 2 else None

    first, again = eventually(both, 60, "the replay's own dead letter", 0.5)
    assert first["status"] == "replayed"
    assert again["replay_of"] == f"{app.settings.rabbitmq.events_dlq}/{letter['id']}"


def test_a_replayed_event_is_applied_once(dlq_cli: App, capsys: pytest.CaptureFixture[str]) -> None:
    app = dlq_cli
    customer = f"dlq-{uuid.uuid4().hex[:8]}"
    names = app.settings.rabbitmq
    letters = AmqpDeadLetters(names.require_url(), names.events_dlq, names.timeout_s)
    lost = event("page_view", customer=customer, at=time.time(), event_id=f"{customer}-1")
    letters.event_failed(event_to_json(lost), customer.encode(), "turn failed: model down", None)
    letters.flush()

    assert "replayed" in dlq(capsys, "replay", "events", "--customer", customer)
    eventually(lambda: events_of(app, customer) == 1, 60, "the replayed event applied", 0.5)
    assert "skipped: replayed already" in dlq(capsys, "replay", "events", "--customer", customer)
    assert dead_listed(capsys, customer)[0]["status"] == "replayed"


# ---- devices over MQTT (actors.brokers.amqp_mqtt) -----------------------------------


def test_a_device_s_events_over_mqtt_are_applied_in_order_and_bad_ones_dead_lettered(
    dlq_cli: App, rabbitmq: RabbitMQ, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real MQTT client publishes with QoS 1 through RabbitMQ's MQTT plugin: the events
    reach the customer as HTTP's do, in order, and an invalid one is dead-lettered with
    its customer and reason."""
    app = dlq_cli
    customer = f"mqtt-{uuid.uuid4().hex[:8]}"
    topic = topic_for(app.settings.rabbitmq.events_exchange, customer)
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"device-{customer}")
    device.username_pw_set("guest", "guest")
    device.connect("127.0.0.1", rabbitmq.mqtt_port)
    device.loop_start()
    try:
        now = time.time()
        for n in range(3):
            sent = event(
                "product_view",
                customer=customer,
                at=now + n,
                event_id=f"{customer}-{n}",
                product_id=f"p{n}",
            )
            device.publish(topic, event_to_json(sent), qos=1).wait_for_publish(30)
        device.publish(topic, b'{"type": "page_view"', qos=1).wait_for_publish(30)
    finally:
        device.loop_stop()
        device.disconnect()
    wait_counts(app, {customer: 3})
    context = app.get(f"/v1/customers/{customer}/context").json()
    assert context["session"]["recent_products"] == ["p0", "p1", "p2"]  # in order
    (letter,) = eventually(
        lambda: dead_listed(capsys, customer) or None, 60, "the invalid event dead-lettered", 0.5
    )
    assert letter["customer"] == customer
    assert letter["reason"]
