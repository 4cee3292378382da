"""The decision log on real parts: a next-best-offer answer and a rule's offer each land
once on `engage.decisions` with what was chosen among what; feedback naming an answer's
decision is credited to it in the outcome report."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from actors.model.events import Event
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


def offer_feedback(customer: str, outcome: str, offer: str, decision: str, at: float) -> Event:
    return event(
        "offer_feedback", customer, at=at, outcome=outcome, offer_id=offer, decision_id=decision
    )


def post(app: App, events: list[Event]) -> None:
    body = {"events": [json.loads(e.model_dump_json()) for e in events]}
    assert app.request("POST", "/v1/events", WRITE_KEY, json=body).status_code == 200


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

    now, decision = time.time(), answer["decision_id"]
    feedback = [
        offer_feedback(customer, "shown", shown, decision, now + 1),
        offer_feedback(customer, "converted", shown, decision, now + 2),
        # Naming the answer for an offer it did not show: credited to nothing.
        offer_feedback(customer, "clicked", "not_shown_offer", decision, now + 3),
    ]
    post(engage_app, feedback)

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


def test_the_champion_judged_off_policy_on_its_own_log_agrees_with_every_decision(
    engage_app: App,
    cli: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`engage models compare recommender --off-policy` reads the decision log and the
    feedback naming its decisions: the champion, which made every logged answer here
    (no exploration), would have shown what it did, so its estimate is the log's own
    value."""
    kafka = engage_app.settings.kafka
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", kafka.require_bootstrap())
    monkeypatch.setenv("ENGAGE_KAFKA_EVENTS_TOPIC", kafka.events_topic)
    monkeypatch.setenv("ENGAGE_KAFKA_DECISIONS_TOPIC", kafka.decisions_topic)
    customers = [f"dec-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    answers = [engage_app.get(f"/v1/customers/{c}/next-best-offer?k=1").json() for c in customers]
    now = time.time()
    converted = [
        offer_feedback(
            a["customer_id"], "converted", a["offers"][0]["offer_id"], a["decision_id"], now
        )
        for a in answers[:2]
    ]
    post(engage_app, converted)
    for customer in customers:
        decisions_of(engage_app, customer, 1)

    from engage.cli import main

    capsys.readouterr()
    assert main(["models", "compare", "recommender", "--off-policy", "--since", "10m"]) == 0
    report = json.loads(capsys.readouterr().out)
    champion = report["champion"]
    assert champion["decisions"] >= len(customers)
    assert champion["matched"] == champion["decisions"]
    assert champion["ips"] == pytest.approx(champion["logged_value"])
    assert champion["logged_value"] > 0  # the two conversions named their decisions
