"""Win-back on the demo's traffic, on real parts: customers who arrive lapsed (months-old
history, then a live session) get the win-back offer when they return, and the orders of
those who come back, sent on the demo clock, reach them after it."""

from __future__ import annotations

import time

import pytest

from actors.model.events import Event, Purchase
from tests.conftest import App
from tests.e2e.test_retrain_loop import send_and_wait
from training.live_traffic import LiveTraffic

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

# 90 days in about 130 s: every return order falls due within the test's past.
SCALE = 1 / 60_000


def fired_welcome_back(app: App, customer: str) -> bool:
    turns = app.get(f"/v1/customers/{customer}/timeline?limit=100").json()["turns"]
    verdicts = [t.get("rules", {}).get("welcome_back", "") for t in turns]
    return any(v.startswith("fired: welcome_back") for v in verdicts)


def test_lapsed_customers_get_the_win_back_offer_and_returns_convert_it(engage_app: App) -> None:
    traffic = LiveTraffic(
        customers=40, lapsed_share=1.0, outcome_delay_scale=SCALE, run_id=f"wb{time.time_ns()}"
    )
    # Customer ids of their own, so the shared app has never seen them.
    tag = f"wb{time.time_ns() % 10**8}-"
    for traits in traffic.population:
        traits.customer_id = tag + traits.customer_id
    start = time.time() - 300
    sent: list[Event] = []
    for n in range(120):
        sent += traffic.next_session(start + n)
    outcomes = traffic.due(float("inf"))  # return orders, and reports and offer feedback
    assert all(o.ts < time.time() for o in outcomes), "every outcome is in the past"
    orders = [o for o in outcomes if isinstance(o, Purchase)]

    send_and_wait(engage_app, sent + outcomes)

    lapsed = list(traffic.winback_truth)
    offered = [c for c in lapsed if fired_welcome_back(engage_app, c)]
    # A few may be held out or opted out of marketing; the rest were offered on return.
    assert len(offered) >= 0.6 * len(lapsed), (len(offered), len(lapsed))
    coming_back = {c for c, back in traffic.winback_truth.items() if back}
    assert coming_back, "some lapsed customers come back"
    assert {o.actor_id for o in orders} == coming_back
    # Every order reached its customer: the lapsed customers' order counts are those of
    # their sessions (past and live), plus the return order of those who came back.
    for customer in lapsed:
        expected = sum(
            1 for e in sent + outcomes if isinstance(e, Purchase) and e.actor_id == customer
        )
        context = engage_app.get(f"/v1/customers/{customer}/context").json()
        assert context["customer"]["orders"] == expected, customer
