"""Guardrails: caps, quiet hours, consent, holdouts and fraud suppression before delivery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from actors.delivery.guardrails import Guardrails, MemoryGuardrailStore, quiet_until
from actors.delivery.mail.suppressions import MemorySuppressions, suppression
from actors.model.actions import FraudAlertAction, OfferAction
from actors.model.consent import guard_facts
from actors.rules.ruleset import PolicySpec
from actors.storage.memory_store import MemoryStateStore
from actors.storage.slots import slot_of

NOON_UTC = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
POLICY = PolicySpec.model_validate(
    {
        "channel_caps": {"push": {"day": 2, "week": 3}},
        "campaign_caps": {"browse": {"day": 1}},
        "quiet_hours": {"start": "21:00", "end": "08:00"},
        "suppress_marketing_after_fraud": "24h",
    }
)


def offer(
    n: int = 1, customer: str = "c1", campaign: str | None = "other", **extra: Any
) -> OfferAction:
    at = datetime.fromtimestamp(NOON_UTC, UTC)
    fields: dict[str, Any] = {
        "action_id": f"a{n}",
        "idempotency_key": f"k{n}",
        "customer_id": customer,
        "rule_id": "r",
        "kind": "marketing",
        "channel": "push",
        "campaign": campaign,
        "trigger_event_id": f"e{n}",
        "trigger": "product_view",
        "event_time": at,
        "created_at": at,
        "offer_id": "electronics_10",
        "offer_title": "10% off",
        "expected_value": 3.0,
    }
    fields.update(extra)
    return OfferAction(**fields)


def alert(customer: str = "c1") -> FraudAlertAction:
    at = datetime.fromtimestamp(NOON_UTC, UTC)
    return FraudAlertAction(
        action_id="f",
        idempotency_key="f",
        customer_id=customer,
        rule_id="fraud_alert",
        kind="fraud",
        channel="alert",
        trigger_event_id="e",
        trigger="card_payment",
        event_time=at,
        created_at=at,
        payment_id="p",
        amount=900.0,
        merchant="m",
        country="BR",
        severity="high",
    )


def guardrails(
    now: float = NOON_UTC, policy: PolicySpec = POLICY
) -> tuple[Guardrails, MemoryStateStore]:
    store = MemoryStateStore()
    return Guardrails(MemoryGuardrailStore(store), lambda: policy, 16, lambda: now), store


def verdicts(g: Guardrails, actions: list[Any]) -> list[str]:
    return [d.verdict for d in asyncio.run(g.decide(actions))]


def test_caps_per_channel_per_day_count_delivered_actions() -> None:
    g, _ = guardrails()
    first = [offer(1), offer(2)]
    assert verdicts(g, first) == ["deliver", "deliver"]
    asyncio.run(g.delivered(first))
    decisions = asyncio.run(g.decide([offer(3)]))
    assert decisions[0].verdict == "suppress"
    assert decisions[0].reason == "frequency cap: channel push 2/day"


def test_actions_in_one_batch_count_against_the_cap_together() -> None:
    g, _ = guardrails()
    assert verdicts(g, [offer(1), offer(2), offer(3)]) == ["deliver", "deliver", "suppress"]


def test_the_most_restrictive_cap_wins() -> None:
    g, _ = guardrails()
    first = [offer(1, campaign="browse")]
    asyncio.run(g.delivered(first))
    decision = asyncio.run(g.decide([offer(2, campaign="browse")]))[0]
    assert (decision.verdict, decision.reason) == (
        "suppress",
        "frequency cap: campaign browse 1/day",
    )
    assert verdicts(g, [offer(3, campaign="other")]) == ["deliver"]


def test_a_weekly_cap_holds_across_days() -> None:
    g, store = guardrails()
    for day in range(3):
        g.clock = lambda day=day: NOON_UTC + day * 86_400  # type: ignore[misc]
        actions = [offer(10 + day)]
        assert verdicts(g, actions) == ["deliver"]
        asyncio.run(g.delivered(actions))
    g.clock = lambda: NOON_UTC + 3 * 86_400  # same ISO week
    assert verdicts(g, [offer(20)]) == ["suppress"]
    assert any(k.startswith("cap|channel|push|w|") for k in store.guards[(slot_of("c1", 16), "c1")])


def test_marketing_waits_out_quiet_hours_in_the_customers_time_zone() -> None:
    late_in_tokyo = datetime(2026, 6, 1, 14, 0, tzinfo=UTC).timestamp()  # 23:00 in Tokyo
    g, _ = guardrails(now=late_in_tokyo)
    decision = asyncio.run(g.decide([offer(1, timezone="Asia/Tokyo")]))[0]
    assert decision.verdict == "defer"
    assert decision.until == datetime(2026, 6, 1, 23, 0, tzinfo=UTC).timestamp()  # 08:00 JST
    assert verdicts(g, [offer(2, timezone="Europe/London")]) == ["deliver"]  # 15:00 there


def test_fraud_alerts_never_wait_and_are_never_capped() -> None:
    midnight = datetime(2026, 6, 1, 23, 30, tzinfo=UTC).timestamp()
    g, store = guardrails(now=midnight)
    store.guards[(slot_of("c1", 16), "c1")] = {"optout": "1"}
    assert verdicts(g, [alert(), alert()]) == ["deliver", "deliver"]


def test_an_opted_out_customer_gets_no_marketing() -> None:
    # The single opt-out engage kept before consent per channel still holds everywhere.
    g, store = guardrails()
    store.guards[(slot_of("c1", 16), "c1")] = {"optout": "1"}
    decision = asyncio.run(g.decide([offer()]))[0]
    assert (decision.verdict, decision.reason) == (
        "suppress",
        "customer opted out of marketing on push",
    )


def test_consent_is_judged_per_channel_and_purpose_of_each_action() -> None:
    g, store = guardrails()
    store.guards[(slot_of("c1", 16), "c1")] = guard_facts(
        {"push.marketing": False, "email.service": False}
    )
    push, email = offer(1), offer(2, channel="email")
    service_push, service_email = (
        offer(3, kind="service"),
        offer(4, kind="service", channel="email"),
    )
    decisions = asyncio.run(g.decide([push, email, service_push, service_email]))
    assert [(d.verdict, d.reason) for d in decisions] == [
        ("suppress", "customer opted out of marketing on push"),
        ("deliver", ""),
        ("deliver", ""),
        ("suppress", "customer opted out of service on email"),
    ]


def test_an_opt_in_channel_delivers_only_after_a_grant() -> None:
    policy = POLICY.model_copy(update={"opt_in": frozenset({"email.marketing"})})
    g, store = guardrails(policy=policy)
    assert verdicts(g, [offer(1, channel="email")]) == ["suppress"]
    store.guards[(slot_of("c1", 16), "c1")] = guard_facts({"email.marketing": True})
    assert verdicts(g, [offer(2, channel="email")]) == ["deliver"]


def test_an_address_that_bounced_gets_no_email_and_one_that_complained_no_marketing() -> None:
    g, _ = guardrails()
    suppressions = MemorySuppressions()
    g.suppressions = suppressions
    asyncio.run(
        suppressions.add(
            [
                suppression("gone@example.com", "bounce", "ses", "5.1.1"),
                suppression("angry@example.com", "complaint", "postmark", "spam"),
            ]
        )
    )
    mail = {"channel": "email"}
    decisions = asyncio.run(
        g.decide(
            [
                offer(1, contact="Gone@example.com", **mail),
                offer(2, contact="gone@example.com", kind="service", **mail),
                offer(3, contact="angry@example.com", **mail),
                offer(4, contact="angry@example.com", kind="service", **mail),
                offer(5, contact="fine@example.com", **mail),
                offer(6, contact="gone@example.com"),  # a push: the address is not asked
            ]
        )
    )
    assert [(d.verdict, d.reason) for d in decisions] == [
        ("suppress", "address suppressed: hard bounce (ses: 5.1.1)"),
        ("suppress", "address suppressed: hard bounce (ses: 5.1.1)"),
        ("suppress", "address suppressed: complaint (postmark)"),
        ("deliver", ""),
        ("deliver", ""),
        ("deliver", ""),
    ]


def test_service_messages_wait_for_no_quiet_hours_and_no_cap() -> None:
    midnight = datetime(2026, 6, 1, 23, 30, tzinfo=UTC).timestamp()
    g, _ = guardrails(now=midnight)
    assert verdicts(g, [offer(n, kind="service") for n in range(5)]) == ["deliver"] * 5


def test_marketing_close_to_a_fraud_alert_is_suppressed() -> None:
    g, store = guardrails()
    store.guards[(slot_of("c1", 16), "c1")] = {"fraud_at": repr(NOON_UTC + 600)}
    assert verdicts(g, [offer()]) == ["suppress"]
    store.guards[(slot_of("c1", 16), "c1")] = {"fraud_at": repr(NOON_UTC - 3 * 86_400)}
    assert verdicts(g, [offer()]) == ["deliver"]


def test_held_out_actions_are_never_delivered() -> None:
    g, _ = guardrails()
    decision = asyncio.run(g.decide([offer(held_out=True)]))[0]
    assert decision.verdict == "holdout"


def test_an_unknown_time_zone_falls_back_to_the_default() -> None:
    g, _ = guardrails()
    assert verdicts(g, [offer(timezone="Mars/Olympus_Mons")]) == ["deliver"]


def test_quiet_hours_across_midnight() -> None:
    at = datetime(2026, 6, 1, 22, 15, tzinfo=UTC)
    assert quiet_until(at, "21:00", "08:00") == datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
    assert quiet_until(at.replace(hour=7), "21:00", "08:00") == datetime(
        2026, 6, 1, 8, 0, tzinfo=UTC
    )
    assert quiet_until(at.replace(hour=12), "21:00", "08:00") is None
    assert quiet_until(at.replace(hour=13), "12:00", "14:00") == datetime(
        2026, 6, 1, 14, 0, tzinfo=UTC
    )


def test_a_time_zone_the_zone_database_cannot_load_falls_back_instead_of_raising() -> None:
    # "America" is a directory of the zone database: ZoneInfo raises IsADirectoryError.
    g, _ = guardrails()
    assert verdicts(g, [offer(1, timezone="America"), offer(2, customer="c2")]) == [
        "deliver",
        "deliver",
    ]
    asyncio.run(g.delivered([offer(1, timezone="America")]))


def test_an_action_the_guardrails_cannot_judge_is_rejected_alone() -> None:
    g, _ = guardrails()
    assert POLICY.quiet_hours is not None
    broken = POLICY.quiet_hours.model_copy(update={"start": "noon"})  # not validated
    policy = POLICY.model_copy(update={"quiet_hours": broken})
    g.policy = lambda: policy
    decisions = asyncio.run(g.decide([offer(1), alert()]))
    assert decisions[0].verdict == "reject"
    assert decisions[0].reason.startswith("guardrails failed: ")
    assert decisions[1].verdict == "deliver"
