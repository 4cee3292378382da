"""Audiences on a running engage: segments pushed with the rules, memberships kept by the
customers' own commits, live counts equal to a recount of the saved states, members
exported while the deployment runs, and a forgotten customer gone from every count."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from actors.campaigns.audiences import AudienceStore
from actors.model.state_format import state_from_json
from engage.cli import main
from tests.conftest import ADMIN_TOKEN, App
from tests.e2e.test_rules import in_force_everywhere
from tests.eventually import eventually
from tests.kafka_support import produce
from tests.support import event, metric

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

SEGMENTS = {"sg_buyers": "customer.orders >= 1", "sg_carts": "cart.items > 0"}
PREFIX = f"sg-{int(time.time())}-"


def traffic(at: float) -> tuple[list[Any], dict[str, set[str]]]:
    """30 customers: some only browse, some leave a cart, some buy (which empties the
    cart); what each segment must hold once all of it is applied."""
    events: list[Any] = []
    expected: dict[str, set[str]] = {name: set() for name in SEGMENTS}
    for n in range(30):
        customer = f"{PREFIX}{n:02d}"
        t = at + n
        events.append(event("product_view", customer, t))
        if n % 2 == 0:
            events.append(event("cart_add", customer, t + 1, product_id=f"p{n}"))
            expected["sg_carts"].add(customer)
        if n % 3 == 0:
            events.append(event("purchase", customer, t + 2, order_id=f"o{n}"))
            expected["sg_buyers"].add(customer)
            expected["sg_carts"].discard(customer)
    return events, expected


def recount(app: App) -> dict[str, set[str]]:
    """Every saved state's memberships, read key by key: what the live counts must equal."""
    settings = app.settings
    client = redis.Redis.from_url(settings.redis.require_url())
    found: dict[str, set[str]] = {name: set() for name in SEGMENTS}
    try:
        for key in client.scan_iter(match=f"{settings.redis.prefix}:{{*}}:s:*", count=1000):
            data = client.hget(key, "d")
            if not data:
                continue
            customer = key.decode().split(":s:", 1)[1]
            for name in state_from_json(data).segments or ():
                if name in found:
                    found[name].add(customer)
    finally:
        client.close()
    return found


def live_counts(app: App) -> dict[str, int]:
    settings = app.settings
    store = AudienceStore.connect(
        settings.redis.require_url(), settings.redis.prefix, settings.actors.slots
    )
    try:
        return store.counts(SEGMENTS)
    finally:
        store.close()


def counts_match_a_recount(app: App) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {}

    def same() -> bool:
        held.update(recount(app))
        return live_counts(app) == {name: len(ids) for name, ids in held.items()}

    eventually(same, 30, "live segment counts equal to a recount of the saved states")
    return held


def test_segment_counts_follow_the_customers_turns_and_match_a_recount(
    engage_app: App, cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = Path(engage_app.settings.actors.rules_file or "")
    assert main(["rules", "push", str(seed), "-m", "the file the suite started with"]) == 0
    rules = yaml.safe_load(seed.read_text())
    rules["segments"] = SEGMENTS
    candidate = tmp_path / "segments.yaml"
    candidate.write_text(yaml.safe_dump(rules))
    assert main(["rules", "push", str(candidate), "-m", "audiences"]) == 0
    version = int(engage_app.request("GET", "/v1/rules", key=ADMIN_TOKEN).json()["version"])
    in_force_everywhere(engage_app, version)
    try:
        events, expected = traffic(time.time())
        produce(engage_app.kafka, events)
        ours = sorted({e.customer_id for e in events})

        def segments_of(customer: str) -> set[str]:
            body = engage_app.get(f"/v1/customers/{customer}/context").json()
            return set(body.get("segments", ()))

        def applied() -> bool:
            return all(
                (customer in expected["sg_buyers"]) == ("sg_buyers" in segments_of(customer))
                and (customer in expected["sg_carts"]) == ("sg_carts" in segments_of(customer))
                for customer in ours
            )

        eventually(applied, 60, "every customer's turns applied, memberships saved")
        held = counts_match_a_recount(engage_app)
        for name, members in expected.items():
            assert {c for c in held[name] if c.startswith(PREFIX)} == members

        # The metrics, the CLI's list and its export say the same.
        metrics = engage_app.get("/metrics").text
        for name, ids in held.items():
            assert metric(metrics, "engage_segment_members", segment=name) == len(ids)
        capsys.readouterr()
        assert main(["segments", "list"]) == 0
        listing = capsys.readouterr().out
        assert f"sg_buyers{' ' * 20}{len(held['sg_buyers']):>9}" in listing
        out = tmp_path / "buyers.txt"
        assert main(["segments", "export", "sg_buyers", "--out", str(out)]) == 0
        assert set(out.read_text().split()) == held["sg_buyers"]

        # A customer who buys leaves the carts segment in the same commit; one forgotten
        # leaves every segment.
        leaver = min(expected["sg_carts"])
        produce(engage_app.kafka, [event("purchase", leaver, time.time(), order_id="late")])
        eventually(lambda: segments_of(leaver) == {"sg_buyers"}, 30, "the purchase applied")
        forgotten = min(expected["sg_buyers"])
        answer = engage_app.request("DELETE", f"/v1/customers/{forgotten}", key=ADMIN_TOKEN)
        assert answer.status_code == 200
        held = counts_match_a_recount(engage_app)
        assert leaver in held["sg_buyers"]
        assert leaver not in held["sg_carts"]
        assert forgotten not in held["sg_buyers"]
    finally:
        assert engage_app.request("POST", "/v1/rules/rollback", key=ADMIN_TOKEN).ok
