"""Rows joined to their labels on event time: features from before, labels from after."""

from __future__ import annotations

from actors.model.events import Event
from actors.model.labels import FRAUD, OFFER, WINBACK
from tests.support import T0, event
from training.dataset import by_customer, fraud_rows, offer_training_rows
from training.winback import rows_at

DAY = 86_400.0


def _history(customer: str = "c1") -> list[Event]:
    return [
        event("card_payment", customer, T0 + i * DAY, payment_id=f"{customer}-p{i}", amount=20.0)
        for i in range(5)
    ]


def test_a_payment_named_by_a_fraud_report_within_the_window_is_fraud() -> None:
    events = [
        *_history(),
        event("fraud_report", "c1", T0 + 3 * DAY + 3600, payment_id="c1-p3"),
        event("chargeback", "c1", T0 + 1 * DAY + 5 * DAY, payment_id="c1-p1", reason="fraud"),
        event("chargeback", "c1", T0 + 2 * DAY + DAY, payment_id="c1-p2", reason="duplicate"),
    ]
    rows = fraud_rows(events, FRAUD, as_of=T0 + 30 * DAY)
    labels = dict(zip(rows.payment_ids, rows.y, strict=True))
    assert labels == {"c1-p0": 0, "c1-p1": 1, "c1-p2": 0, "c1-p3": 1, "c1-p4": 0}


def test_a_report_after_the_window_leaves_the_payment_negative() -> None:
    late = event("fraud_report", "c1", T0 + FRAUD.window_s + 60, payment_id="c1-p0")
    rows = fraud_rows([*_history(), late], FRAUD, as_of=T0 + 60 * DAY)
    assert rows.y[0] == 0


def test_outcomes_never_change_the_features_of_the_payment_they_label() -> None:
    plain = fraud_rows(_history(), FRAUD, as_of=T0 + 30 * DAY)
    reported = fraud_rows(
        [*_history(), event("fraud_report", "c1", T0 + 3 * DAY + 10, payment_id="c1-p3")],
        FRAUD,
        as_of=T0 + 30 * DAY,
    )
    assert plain.X == reported.X
    assert plain.y != reported.y


def test_payments_whose_window_is_open_at_the_end_of_the_data_are_pending() -> None:
    rows = fraud_rows(_history(), FRAUD, as_of=T0 + 4 * DAY)
    assert rows.y == [None] * 5
    rows = fraud_rows(_history(), FRAUD, as_of=T0 + FRAUD.window_s + DAY)
    assert rows.y == [0, 0, None, None, None]


def test_an_offer_shown_is_taken_when_clicked_within_the_window_only() -> None:
    events = [
        event("offer_feedback", "c1", T0, outcome="shown", offer_id="electronics_10"),
        event("offer_feedback", "c1", T0 + 3600, outcome="clicked", offer_id="electronics_10"),
        event("offer_feedback", "c1", T0 + DAY, outcome="shown", offer_id="fashion_15"),
        event("offer_feedback", "c1", T0 + 2 * DAY, outcome="shown", offer_id="no_such_offer"),
        event(
            "offer_feedback",
            "c1",
            T0 + DAY + OFFER.window_s + 1,
            outcome="converted",
            offer_id="fashion_15",
        ),
    ]
    rows = offer_training_rows(events, OFFER, as_of=T0 + 30 * DAY)
    assert rows.offer_ids == ["electronics_10", "fashion_15"]
    assert rows.y == [1, 0]
    assert rows.unknown_offers == 1
    # Features before the offer was shown: the first row has seen no offer yet.
    assert rows.customer_vectors[0] != rows.customer_vectors[1]


def test_clicks_a_client_key_reported_are_counted_apart_and_can_be_left_out() -> None:
    """A browser's "Offer Clicked" comes with a key anyone can copy: a positive that rests
    on it alone is counted apart, and a server-labels-only training learns without it."""
    shown = [
        event("offer_feedback", "c1", T0, outcome="shown", offer_id="electronics_10"),
        event("offer_feedback", "c1", T0 + DAY, outcome="shown", offer_id="fashion_15"),
    ]
    client_click = event(
        "offer_feedback", "c1", T0 + 60, outcome="clicked", offer_id="electronics_10"
    ).model_copy(update={"source": "client"})
    server_click = event(
        "offer_feedback", "c1", T0 + DAY + 60, outcome="clicked", offer_id="fashion_15"
    )
    events = [*shown, client_click, server_click]
    rows = offer_training_rows(events, OFFER, as_of=T0 + 30 * DAY)
    assert rows.y == [1, 1]
    assert rows.client_positives == 1
    servers = offer_training_rows(events, OFFER.server_labels_only(), as_of=T0 + 30 * DAY)
    assert servers.y == [0, 1]
    assert servers.client_positives == 0


def test_winback_asks_only_about_past_buyers_quiet_for_a_week_at_the_cutoff() -> None:
    cutoff = T0 + 30 * DAY
    events = [
        event("purchase", "quiet", T0, order_id="o1"),
        event("purchase", "quiet", cutoff + 10 * DAY, order_id="o2"),
        event("purchase", "busy", T0, order_id="o3"),
        event("page_view", "busy", cutoff - DAY),
        event("page_view", "browser", T0),
    ]
    rows = rows_at(by_customer(events), cutoff, WINBACK)
    assert rows.customers == ["quiet"]
    assert rows.y == [1]
