"""The whole loop on real parts: Kafka → ingest → customer actor → scorer → actions,
and a next-best-offer over HTTP from the customer's live context."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from actors.model.events import event_to_json
from actors.storage.keys import Keys
from actors.storage.slots import slot_of
from tests.conftest import App
from tests.kafka_support import TopicReader, produce
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def browse_then_pay(customer: str) -> list[Any]:
    now = time.time() - 600
    history = [
        event(
            "card_payment",
            customer=customer,
            amount=35.0 + i,
            country="US",
            device_id="d1",
            merchant_category="grocery",
            at=now - 86_400 * (10 - i),
        )
        for i in range(5)
    ]
    browse = [
        event(
            "product_view",
            customer=customer,
            category="electronics",
            product_id=f"el-{i}",
            price=199.0,
            at=now + i * 20,
        )
        for i in range(4)
    ]
    fraud = event(
        "card_payment",
        customer=customer,
        amount=1450.0,
        country="RO",
        device_id="dX",
        merchant="GiftHub",
        merchant_category="gift_cards",
        at=now + 300,
    )
    return [*history, *browse, fraud]


def test_events_in_actions_out_and_a_next_best_offer_that_reflects_browsing(
    engage_app: App,
) -> None:
    customer = f"e2e-{uuid.uuid4().hex[:8]}"
    *browsing, fraud = browse_then_pay(customer)
    reader = TopicReader(engage_app.kafka.bootstrap or "", engage_app.kafka.actions_topic)

    def seen(action_type: str) -> Callable[[list[Any]], bool]:
        def check(records: list[Any]) -> bool:
            return any(
                r.key == customer.encode()
                and dict(r.headers)["action-type"] == action_type.encode()
                for r in records
            )

        return check

    try:
        # In real time the offer goes out while the customer browses; the payment comes
        # later. (Sent together, the offer would still be undelivered when the fraud alert
        # is known, and the fraud guardrail would rightly hold it back.)
        produce(engage_app.kafka, browsing)
        reader.read_until(seen("offer"), timeout_s=90)
        produce(engage_app.kafka, [fraud])
        reader.read_until(seen("fraud_alert"), timeout_s=90)
        mine = [v for v in reader.values() if v["customer_id"] == customer]
    finally:
        reader.close()
    offer = next(a for a in mine if a["type"] == "offer")
    alert = next(a for a in mine if a["type"] == "fraud_alert")
    assert offer["rule_id"] == "browse_offer"
    assert offer["offer_id"] == "electronics_10"
    assert offer["model_versions"]["recommender"] == "1"
    assert offer["idempotency_key"]
    assert offer["scores"]["offer_p"] > 0
    assert alert["amount"] == 1450.0
    assert alert["scores"]["fraud"] >= 0.5
    assert alert["model_versions"]["fraud"] == "1"
    assert "new country" in alert["reasons"]

    answer = engage_app.get(f"/v1/customers/{customer}/next-best-offer?k=3")
    assert answer.status_code == 200
    body = answer.json()
    assert body["known"] is True
    assert body["model"] == {"name": "recommender", "version": "1"}
    assert body["offers"][0]["category"] == "electronics"
    assert len(body["offers"]) == 3
    assert any("electronics" in reason for reason in body["offers"][0]["reasons"])


def test_once_an_events_offset_is_committed_its_customers_state_is_in_redis(
    engage_app: App,
) -> None:
    """The checkpoint order seen from outside: sampled as fast as the broker answers, the
    committed offset never covers the event while its customer's state is missing (the
    state is read after the commit, so a commit made before the save would show as a
    covered offset with no state)."""
    settings = engage_app.settings
    customer = f"e2e-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
    client = redis.Redis.from_url(settings.redis.url or "")
    key = Keys(settings.redis.prefix).state(slot_of(customer, settings.actors.slots), customer)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap,
        group_id=settings.kafka.group_id,
        enable_auto_commit=False,
    )
    try:
        raw = event_to_json(event("cart_add", customer=customer, at=time.time()))
        sent = producer.send(settings.kafka.events_topic, key=customer.encode(), value=raw)
        where = sent.get(timeout=30)
        tp = TopicPartition(settings.kafka.events_topic, where.partition)
        samples, covered = 0, False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not covered:
            covered = (consumer.committed(tp) or 0) > where.offset
            saved = bool(client.exists(key))
            samples += 1
            assert saved or not covered, "offset committed before the state was saved"
        assert covered, "the event's offset was committed"
        assert samples > 1  # the commit was watched arriving, not found already made
    finally:
        consumer.close()
        producer.close(timeout=5)
        client.close()


def test_an_unknown_customer_gets_cold_start_offers(engage_app: App) -> None:
    answer = engage_app.get(f"/v1/customers/nobody-{uuid.uuid4().hex}/next-best-offer")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["known"], body["cold_start"]) == (False, True)
    assert len(body["offers"]) == 3
    assert "new customer" in body["offers"][0]["reasons"][0]


@pytest.mark.parametrize("bad", ["has%20space", "-dash-first", "x" * 200, "a%2Fb"])
def test_a_malformed_customer_id_gets_a_4xx_naming_the_field(engage_app: App, bad: str) -> None:
    answer = engage_app.get(f"/v1/customers/{bad}/next-best-offer")
    assert 400 <= answer.status_code < 500
    if answer.status_code == 422:
        assert answer.json()["fields"][0]["field"] == "path.customer_id"


def test_invalid_events_go_to_the_dead_letter_topic_with_payload_and_reason(
    engage_app: App,
) -> None:
    marker = uuid.uuid4().hex
    bad = f'{{"type": "card_payment", "event_id": "{marker}", "customer_id": "c1"}}'.encode()
    produce(engage_app.kafka, [bad, b"not json " + marker.encode()], key="c1")
    reader = TopicReader(engage_app.kafka.bootstrap or "", engage_app.kafka.events_dlq_topic)
    try:
        records = reader.read_until(
            lambda rs: sum(marker.encode() in r.value for r in rs) >= 2, timeout_s=60
        )
    finally:
        reader.close()
    mine = [r for r in records if marker.encode() in r.value]
    assert mine[0].value == bad  # the raw payload, byte for byte
    reasons = [dict(r.headers)["error-reason"].decode() for r in mine]
    assert "timestamp: Field required" in reasons[0]
    assert "Invalid JSON" in reasons[1]
    assert dict(mine[0].headers)["source-topic"].decode() == engage_app.kafka.events_topic
