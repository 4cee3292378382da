"""What actions say beyond the rule's template: the offer picked, a fraud alert's
severity and its reasons in words a fraud analyst reads."""

from __future__ import annotations

from typing import Any

from actors.rules.context import LazyContext
from actors.turn.offers import RankedOffer


def offer_view(best: RankedOffer | None) -> dict[str, Any] | None:
    if best is None:
        return None
    return {
        "offer_id": best.offer_id,
        "title": best.title,
        "p": best.probability,
        "expected_value": best.expected_value,
        "category": best.category,
    }


def severity(score: float) -> str:
    return "high" if score >= 0.9 else "medium" if score >= 0.7 else "low"


def fraud_reasons(context: LazyContext) -> tuple[str, ...]:
    if "payment" not in context:
        return ()
    p = context["payment"]
    reasons = []
    if p["new_country"]:
        reasons.append("new country")
    if p["new_device"]:
        reasons.append("new device")
    if p["payments_1h"] >= 3:
        reasons.append(f"{int(p['payments_1h'])} payments in the last hour")
    if p["amount_vs_usual"] >= 2.0:
        reasons.append("amount far above usual")
    if p["dormant_days_log"] >= 4.0:
        reasons.append("first payment after a long dormancy")
    if p["risky_merchant"]:
        reasons.append("high-risk merchant category")
    return tuple(reasons)
