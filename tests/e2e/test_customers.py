"""Customer actors on real parts: durable reminders, forgetting, introspection."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from typing import Any

import pytest
import ray

from actors.hosting.router import ShardRouter
from tests.conftest import ADMIN_TOKEN, App
from tests.eventually import eventually
from tests.kafka_support import TopicReader, produce
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def actions_for(app: App, customer: str, wanted: str, timeout_s: float) -> list[dict[str, Any]]:
    reader = TopicReader(app.kafka.bootstrap or "", app.kafka.actions_topic)
    try:

        def seen(records: list[Any]) -> bool:
            return any(
                r.key == customer.encode() and dict(r.headers)["action-type"] == wanted.encode()
                for r in records
            )

        with contextlib.suppress(TimeoutError):
            reader.read_until(seen, timeout_s)
        return [v for v in reader.values() if v["customer_id"] == customer]
    finally:
        reader.close()


def wait_known(app: App, customer: str, events: int, timeout_s: float = 30) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        context: dict[str, Any] = app.get(f"/v1/customers/{customer}/context").json()
        return context if context["session"]["events"] >= events else None

    return eventually(probe, timeout_s, f"{customer} counting {events} events", 0.2)


def test_a_cart_reminder_fires_on_time_even_after_its_shard_was_killed(engage_app: App) -> None:
    customer = f"rem-{uuid.uuid4().hex[:8]}"
    produce(engage_app.kafka, [event("cart_add", customer=customer, price=42.0, at=time.time())])
    wait_known(engage_app, customer, 1)
    router = ShardRouter(
        engage_app.settings.ray.namespace, engage_app.settings.actors, engage_app.settings.redis
    )
    shard = router.handle(router.shard_for(customer))
    os.kill(ray.get(shard.pid.remote()), signal.SIGKILL)  # the reminder lives in Redis only now
    actions = actions_for(engage_app, customer, "cart_reminder", timeout_s=60)
    reminders = [a for a in actions if a["type"] == "cart_reminder"]
    assert len(reminders) == 1
    assert reminders[0]["cart_value"] == 42.0
    assert reminders[0]["trigger"] == "reminder:cart_abandonment"
    router.close()


def test_a_purchase_cancels_the_cart_reminder(engage_app: App) -> None:
    customer = f"rem-{uuid.uuid4().hex[:8]}"
    now = time.time()
    produce(
        engage_app.kafka,
        [
            event("cart_add", customer=customer, product_id="p1", at=now),
            event(
                "purchase",
                customer=customer,
                total=10.0,
                at=now + 1,
                items=[{"product_id": "p1", "category": "electronics", "price": 10.0}],
            ),
        ],
    )
    wait_known(engage_app, customer, 2)
    actions = actions_for(engage_app, customer, "cart_reminder", timeout_s=8)
    assert [a for a in actions if a["type"] == "cart_reminder"] == []


def test_forgetting_a_customer_deletes_everything_and_its_tombstone_holds_later_events(
    engage_app: App,
) -> None:
    customer = f"gdpr-{uuid.uuid4().hex[:8]}"
    now = time.time()
    produce(
        engage_app.kafka,
        [
            event("cart_add", customer=customer, at=now),
            event("identify", customer=customer, email="x@y.z", at=now),
        ],
    )
    assert wait_known(engage_app, customer, 2)["customer"]["email"] == "x@y.z"
    answer = engage_app.request("DELETE", f"/v1/customers/{customer}", key=ADMIN_TOKEN)
    assert answer.status_code == 200
    context = engage_app.get(f"/v1/customers/{customer}/context").json()
    assert context["known"] is False
    assert context["customer"]["email"] is None
    router = ShardRouter(
        engage_app.settings.ray.namespace, engage_app.settings.actors, engage_app.settings.redis
    )
    assert ray.get(router.handle(router.shard_for(customer)).reminders_of.remote(customer)) == {}
    router.close()
    # A replay (or a late event) of the forgotten customer must not bring them back while
    # the tombstone lasts: the event is read, counted as suppressed, and not applied.
    before = suppressed(engage_app)
    produce(engage_app.kafka, [event("page_view", customer=customer, at=now + 5)])
    eventually(lambda: suppressed(engage_app) > before, 30, "the event suppressed")
    context = engage_app.get(f"/v1/customers/{customer}/context").json()
    assert context["known"] is False
    assert context["session"]["events"] == 0


def suppressed(app: App) -> int:
    shards = app.get("/v1/shards").json()["shards"]
    return sum(int(s.get("suppressed_forgotten", 0)) for s in shards)


def test_shards_report_live_customers_activations_and_latency(engage_app: App) -> None:
    produce(
        engage_app.kafka,
        [event("page_view", customer=f"intro-{i}", at=time.time()) for i in range(20)],
    )
    wait_known(engage_app, "intro-19", 1)
    body = engage_app.get("/v1/shards").json()
    assert len(body["shards"]) == 2
    for shard in body["shards"]:
        for field in (
            "live_customers",
            "activations",
            "mailbox_depth",
            "turn_ms_p50",
            "turn_ms_p99",
            "pid",
        ):
            assert field in shard
        for histogram in ("batch_ms", "scoring_ms"):
            assert {"buckets", "counts", "sum", "count"} <= set(shard[histogram])
    assert sum(s["live_customers"] for s in body["shards"]) >= 20
