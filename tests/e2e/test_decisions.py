"""The decision log on real parts: a next-best-offer answer and a rule's offer each land
once on `engage.decisions` with what was chosen among what; feedback naming an answer's
decision is credited to it in the outcome report."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.conftest import WRITE_KEY, App
from tests.eventually import eventually
from tests.kafka_support import TopicReader, produce
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def decisions_of(app: App, customer: str, count: int) -> list[dict[str, Any]]:
    """The decision records of `customer`, once `count` are there (and any more that came
    with them: a record logged twice would show)."""
    reader = TopicReader(app.kafka.bootstrap or "", app.kafka.decisions_topic)
    try:

        def mine(records: list[Any]) -> list[dict[str, Any]]:
            values = [json.loads(r.value) for r in records if r.key == customer.encode()]
            return [v["decision"] for v in values]

        reader.read_until(lambda records: len(mine(records)) >= count, timeout_s=60)
        reader.read_until_quiet(quiet_s=2.0)
        return mine(reader.records)
    finally:
        reader.consumer.close()


def test_an_answer_is_logged_once_and_feedback_naming_it_is_credited(engage_app: App) -> None:
    customer, campaign = f"dec-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:6]}"
    answer = engage_app.get(
        f"/v1/customers/{customer}/next-best-offer?k=2&channel=in_app&campaign={campaign}"
    ).json()
    assert answer["logged"] is True
    shown = answer["offers"][0]["offer_id"]
    (record,) = decisions_of(engage_app, customer, 1)
    assert record["decision_id"] == answer["decision_id"]
    assert record["chosen"] == [o["offer_id"] for o in answer["offers"]]
    assert (record["source"], record["campaign"], record["channel"]) == (
        "next_best_offer",
        campaign,
        "in_app",
    )
    assert record["propensity"] == 1.0
    assert {c["offer_id"] for c in record["candidates"]} >= set(record["chosen"])

    now = time.time()
    feedback = [
        event(
            "offer_feedback",
            customer,
            at=now + 1,
            outcome="shown",
            offer_id=shown,
            decision_id=answer["decision_id"],
        ),
        event(
            "offer_feedback",
            customer,
            at=now + 2,
            outcome="converted",
            offer_id=shown,
            decision_id=answer["decision_id"],
        ),
        # Naming the answer for an offer it did not show: credited to nothing.
        event(
            "offer_feedback",
            customer,
            at=now + 3,
            outcome="clicked",
            offer_id="not_shown_offer",
            decision_id=answer["decision_id"],
        ),
    ]
    body = {"events": [json.loads(e.model_dump_json()) for e in feedback]}
    assert engage_app.request("POST", "/v1/events", WRITE_KEY, json=body).status_code == 200

    def credited() -> dict[str, Any] | None:
        rows = engage_app.get("/v1/reports/outcomes?by=campaign").json()["rows"]
        row = next((r for r in rows if r["key"] == campaign), None)
        return row if row is not None and row["treated"]["converted"] else None

    row = eventually(credited, 60, "the conversion credited to the answer's campaign", 0.5)
    assert row["treated"] == {"sent": 2, "shown": 1, "clicked": 0, "converted": 1}


def test_a_rule_s_offer_is_logged_under_its_action_id(engage_app: App) -> None:
    customer = f"dec-{uuid.uuid4().hex[:8]}"
    now = time.time()
    produce(
        engage_app.kafka,
        [event("product_view", customer, at=now + i, category="books") for i in range(3)],
    )
    (record,) = decisions_of(engage_app, customer, 1)
    assert record["source"] == "rule"
    assert record["rule_id"] == "browse_offer"
    assert record["decision_id"].startswith("act_")
    assert len(record["chosen"]) == 1
    assert record["features"]
