"""One identity per person on real parts: a visitor signing in on another shard is merged
into the customer once, though the customer's shard is killed as the link arrives."""

from __future__ import annotations

import os
import signal
import time
import uuid
from typing import Any

import pytest
import ray

from actors.hosting.router import ShardRouter
from tests.conftest import ADMIN_TOKEN, App
from tests.e2e.test_customers import actions_for, wait_known
from tests.eventually import eventually
from tests.kafka_support import produce
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def ids_on_two_shards(router: ShardRouter) -> tuple[str, str]:
    """A visitor id and a customer id that live on different shards (`rem-`: the test
    rules set a 3-second cart reminder for them)."""
    tag = uuid.uuid4().hex[:6]
    visitor = f"rem-v-{tag}"
    shard = router.shard_for(f"anon:{visitor}")
    customer = next(
        f"rem-c-{tag}-{n}" for n in range(100) if router.shard_for(f"rem-c-{tag}-{n}") != shard
    )
    return visitor, customer


def wait_events(app: App, actor: str, events: int, timeout_s: float) -> dict[str, Any]:
    """The actor's context once it counts `events` session events; a shard restarting
    meanwhile answers 503, which is waited out too."""

    def probe() -> dict[str, Any]:
        answer = app.get(f"/v1/customers/{actor}/context")
        assert answer.status_code == 200, f"{answer.status_code} {answer.text}"
        assert answer.json()["session"]["events"] >= events, answer.text
        return dict(answer.json())

    return eventually(probe, timeout_s, f"{actor} counting {events} events", 0.2)


def suppressed(app: App) -> int:
    """Events of forgotten customers that ingest's replicas saw refused, in all."""
    replicas = app.get("/v1/ingest").json()["replicas"]
    return sum(int(r.get("suppressed", 0)) for r in replicas)


def visit(kind: str, visitor: str, at: float, **fields: Any) -> Any:
    return event(kind, customer=None, anonymous_id=visitor, at=at, **fields)


def test_a_visitor_is_merged_once_across_shards_though_the_customers_shard_dies(
    engage_app: App,
) -> None:
    router = ShardRouter(
        engage_app.settings.ray.namespace, engage_app.settings.actors, engage_app.settings.redis
    )
    try:
        visitor, customer = ids_on_two_shards(router)
        now = time.time()
        produce(
            engage_app.kafka,
            [
                visit("product_view", visitor, now, product_id="p1"),
                visit("cart_add", visitor, now + 1, product_id="p2", price=25.0),
            ],
        )
        wait_known(engage_app, f"anon:{visitor}", 2)
        produce(engage_app.kafka, [event("page_view", customer=customer, at=now + 2)])
        wait_known(engage_app, customer, 1)

        shard = router.handle(router.shard_for(customer))
        os.kill(ray.get(shard.pid.remote()), signal.SIGKILL)
        produce(
            engage_app.kafka,
            [event("identify", customer=customer, anonymous_id=visitor, at=now + 3)],
        )
        # After the link: an event naming only the visitor, and the same sign-in again.
        produce(engage_app.kafka, [visit("page_view", visitor, now + 4)])
        context = wait_events(engage_app, customer, 5, timeout_s=90)

        assert context["session"]["events"] == 5  # 2 visits, page, identify, page
        assert context["cart"]["items"] == 1  # the visitor's cart, taken over once
        assert context["cart"]["value"] == 25.0
        as_visitor = engage_app.get(f"/v1/customers/anon:{visitor}/context").json()
        assert as_visitor["customer_id"] == customer
        assert as_visitor["session"]["events"] == 5
        offer = engage_app.get(f"/v1/customers/anon:{visitor}/next-best-offer").json()
        assert (offer["known"], offer["customer_id"]) == (True, customer)

        # The cart is reminded of once: to the visitor if its reminder came due before the
        # link (3 s here), else to the customer it moved to; never to both.
        reminded = [
            a
            for actor in (customer, f"anon:{visitor}")
            for a in actions_for(engage_app, actor, "cart_reminder", timeout_s=10)
            if a["type"] == "cart_reminder"
        ]
        assert len(reminded) == 1

        # Forgetting by the visitor's id forgets the customer and every linked id.
        gone = engage_app.request("DELETE", f"/v1/customers/anon:{visitor}", key=ADMIN_TOKEN)
        assert gone.json() == {"forgotten": customer}
        for actor in (customer, f"anon:{visitor}"):
            after = engage_app.get(f"/v1/customers/{actor}/context").json()
            assert (after["known"], after["customer_id"]) == (False, actor)
    finally:
        router.close()


def test_a_forgotten_customer_stays_forgotten_when_their_visitor_comes_back(
    engage_app: App,
) -> None:
    router = ShardRouter(
        engage_app.settings.ray.namespace, engage_app.settings.actors, engage_app.settings.redis
    )
    try:
        visitor, customer = ids_on_two_shards(router)
        now = time.time()
        produce(engage_app.kafka, [visit("product_view", visitor, now, product_id="p1")])
        wait_known(engage_app, f"anon:{visitor}", 1)
        produce(
            engage_app.kafka,
            [event("identify", customer=customer, anonymous_id=visitor, at=now + 1)],
        )
        wait_events(engage_app, customer, 2, timeout_s=60)
        # The visitor's shard has it live, linked to the customer; the customer is forgotten.
        gone = engage_app.request("DELETE", f"/v1/customers/{customer}", key=ADMIN_TOKEN)
        assert gone.json() == {"forgotten": customer}
        before = suppressed(engage_app)
        # One more anonymous page view from the same browser, and the same sign-in again
        produce(
            engage_app.kafka,
            [
                visit("page_view", visitor, now + 2),
                event("identify", customer=customer, anonymous_id=visitor, at=now + 3),
            ],
        )
        # then both are refused as a forgotten customer's, and neither id came back
        deadline = time.monotonic() + 30
        while suppressed(engage_app) < before + 2:
            assert time.monotonic() < deadline, "the forgotten customer's events never came"
            time.sleep(0.5)
        for actor in (customer, f"anon:{visitor}"):
            after = engage_app.get(f"/v1/customers/{actor}/context").json()
            assert after["known"] is False, actor
        store = engage_app.get(f"/v1/customers/{customer}/timeline").json()
        assert store["turns"] == []
    finally:
        router.close()
