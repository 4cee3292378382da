"""Feature bins: every feature of every live model has them, and rows land where meant."""

from __future__ import annotations

from actors.model.feature_bins import EDGES, MODEL_FEATURES, FeatureCounter, counter_for
from actors.model.features import CUSTOMER_FEATURES, PAYMENT_FEATURES


def test_every_feature_a_live_model_is_asked_about_has_increasing_edges() -> None:
    assert MODEL_FEATURES == {"fraud": PAYMENT_FEATURES, "recommender": CUSTOMER_FEATURES}
    for names in MODEL_FEATURES.values():
        for name in names:
            edges = EDGES[name]
            assert list(edges) == sorted(set(edges)), name


def test_a_value_on_an_edge_counts_in_the_bin_above_it() -> None:
    counter = FeatureCounter(["payments_1h", "new_country"])
    counter.observe([[0.0, 0.0], [1.0, 1.0], [3.0, 1.0], [100.0, 0.0]])
    bins = counter.split(counter.to_list())
    assert bins["payments_1h"] == [1, 1, 0, 1, 0, 0, 0, 1]
    assert bins["new_country"] == [2, 2]
    assert counter.rows == 4


def test_rows_of_another_width_are_not_counted_and_nothing_breaks() -> None:
    counter = counter_for("fraud")
    assert counter is not None
    counter.observe([[1.0, 2.0]])
    counter.observe([])
    assert counter.rows == 0
    assert sum(counter.to_list()) == 0
    assert counter_for("winback") is None


def test_a_model_of_ones_own_is_counted_on_the_engine_row_the_missing_payment_not_at_all() -> None:
    from actors.model.feature_views import ENGINE_COLUMNS, engine_row
    from actors.model.features import CUSTOMER_FEATURES, PAYMENT_FEATURES

    counter = counter_for("churn")
    assert counter is not None
    assert counter.names == ENGINE_COLUMNS
    customer = [0.0] * len(CUSTOMER_FEATURES)
    counter.observe(
        [engine_row(customer, None), engine_row(customer, [0.0] * len(PAYMENT_FEATURES))]
    )
    per_feature = counter.split(counter.to_list())
    assert sum(per_feature["orders"]) == 2
    assert sum(per_feature["amount_log"]) == 1
    assert counter_for("offer_p") is None
