"""The cart journey on a running engage: cart left, wait, e-mail; wait, push an offer; a
purchase at any point ends it. Pushed with the rules while engage runs, it runs to each of
its exits, across a SIGKILL of the customer's shard between two steps, and every step's
action reaches the actions topic once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml

from actors.hosting.router import ShardRouter
from engage.cli import main
from tests.conftest import ADMIN_TOKEN, App
from tests.e2e.test_rules import in_force_everywhere
from tests.eventually import eventually
from tests.kafka_support import TopicReader, produce
from tests.support import event, metric

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

RUN = uuid.uuid4().hex[:6]
JOURNEY = {
    "id": "jr_cart",
    "description": "Cart left: an e-mail after a while, an offer later; a purchase ends it.",
    "entry": {"events": ["cart_add"], "when": f"'jr-{RUN}-' in customer.customer_id"},
    "exit_on": ["purchase"],
    "steps": [
        {"id": "settle", "wait": "2s"},
        {
            "id": "email",
            "send": {
                "type": "cart_reminder",
                "channel": "email",
                "template": "Your cart of {cart.items} is waiting",
            },
        },
        {"id": "a_day", "wait": "8s"},
        {
            "id": "push_offer",
            "send": {"type": "offer", "channel": "push", "template": "10% off {offer.title}"},
        },
    ],
}


def journey_actions(app: App, customers: list[str]) -> list[dict[str, Any]]:
    reader = TopicReader(app.kafka.bootstrap or "", app.kafka.actions_topic)
    try:
        with contextlib.suppress(TimeoutError):
            reader.read_until_quiet(quiet_s=0.5)
        return [
            v
            for v in reader.values()
            if v["customer_id"] in customers and v["rule_id"].startswith("jr_cart.")
        ]
    finally:
        reader.close()


def steps_of(app: App, customer: str) -> list[str]:
    return [a["rule_id"] for a in journey_actions(app, [customer])]


def start(app: App, customer: str) -> None:
    now = time.time()
    produce(
        app.kafka,
        [
            event("identify", customer, now - 1, email=f"{customer}@example.com"),
            event("cart_add", customer, now, product_id="p1", price=30.0),
        ],
    )


def buy(app: App, customer: str) -> None:
    produce(app.kafka, [event("purchase", customer, time.time(), order_id=f"o-{customer}")])


def test_the_cart_journey_runs_to_each_exit_and_through_a_shard_kill(
    engage_app: App, cli: None, tmp_path: Path
) -> None:
    seed = Path(engage_app.settings.actors.rules_file or "")
    assert main(["rules", "push", str(seed), "-m", "the file the suite started with"]) == 0
    rules = yaml.safe_load(seed.read_text())
    rules["journeys"] = [JOURNEY]
    candidate = tmp_path / "journey.yaml"
    candidate.write_text(yaml.safe_dump(rules))
    assert main(["rules", "push", str(candidate), "-m", "cart journey"]) == 0
    version = int(engage_app.request("GET", "/v1/rules", key=ADMIN_TOKEN).json()["version"])
    in_force_everywhere(engage_app, version)
    router = ShardRouter(
        engage_app.settings.ray.namespace, engage_app.settings.actors, engage_app.settings.redis
    )
    full, early, mid, killed = (f"jr-{RUN}-{name}" for name in ("full", "early", "mid", "kill"))
    try:
        for customer in (full, early, mid, killed):
            start(engage_app, customer)
        buy(engage_app, early)  # before the first wait is over: nothing is ever sent
        email = "jr_cart.email"
        eventually(
            lambda: all(steps_of(engage_app, c) == [email] for c in (mid, killed)),
            30,
            "the e-mail step for the customers still on the journey",
        )
        buy(engage_app, mid)  # between the e-mail and the offer
        # The shard holding `killed` dies between its two steps; the run lives in Redis.
        shard = router.handle(router.shard_for(killed))
        os.kill(ray.get(shard.pid.remote()), signal.SIGKILL)
        done = [email, "jr_cart.push_offer"]
        eventually(
            lambda: steps_of(engage_app, full) == done and steps_of(engage_app, killed) == done,
            60,
            "the offer step after the second wait, on the restarted shard too",
        )
        # Past the offer's time, the customers who bought got nothing more.
        actions = journey_actions(engage_app, [full, early, mid, killed])
        sent = Counter((a["customer_id"], a["rule_id"]) for a in actions)
        assert sent == Counter(
            {(full, email): 1, (full, done[1]): 1, (mid, email): 1, (killed, email): 1,
             (killed, done[1]): 1}
        )  # fmt: skip
        emailed = [a for a in actions if a["rule_id"] == email]
        assert {a["message"] for a in emailed} == {"Your cart of 1 is waiting"}
        assert all(a["campaign"] == "jr_cart" for a in actions)
        metrics = engage_app.get("/metrics").text
        runs = "engage_journey_runs_total"
        assert metric(metrics, runs, journey="jr_cart", outcome="exit_event") is not None
        for customer in (full, early, mid, killed):
            context = engage_app.get(f"/v1/customers/{customer}/context").json()
            assert context["known"]
    finally:
        router.close()
        assert engage_app.request("POST", "/v1/rules/rollback", key=ADMIN_TOKEN).ok
