"""A model of one's own reads a view of engage's features: named once, resolved by name,
taken from the one engine row every turn sends."""

from __future__ import annotations

import math

import pytest

from actors.model.feature_views import (
    ENGINE_COLUMNS,
    FeatureViewError,
    engine_row,
    positions,
    resolve,
)
from actors.model.features import CUSTOMER_FEATURES, PAYMENT_FEATURES
from actors.model.model_names import is_own_model


def test_a_view_is_named_by_views_and_features_in_the_order_given() -> None:
    assert resolve("customer") == CUSTOMER_FEATURES
    assert resolve("payment") == PAYMENT_FEATURES
    assert resolve("customer,payment") == ENGINE_COLUMNS
    assert resolve(" orders , amount_log,spend_log") == ("orders", "amount_log", "spend_log")


@pytest.mark.parametrize(
    ("view", "named"),
    [
        ("orders,lifetime_value", "'lifetime_value'"),
        ("orders,,spend_log", "empty name"),
        ("customer,orders", "orders named twice"),
    ],
)
def test_a_view_naming_what_engage_does_not_compute_is_refused(view: str, named: str) -> None:
    with pytest.raises(FeatureViewError, match=named):
        resolve(view)


def test_the_engine_row_holds_both_vectors_the_payment_missing_on_other_events() -> None:
    customer = [float(i) for i in range(len(CUSTOMER_FEATURES))]
    payment = [100.0 + i for i in range(len(PAYMENT_FEATURES))]
    row = engine_row(customer, payment)
    assert [row[i] for i in positions(("orders", "amount_log"))] == [
        customer[CUSTOMER_FEATURES.index("orders")],
        payment[PAYMENT_FEATURES.index("amount_log")],
    ]
    quiet = engine_row(customer, None)
    assert len(quiet) == len(ENGINE_COLUMNS)
    assert all(math.isnan(v) for v in quiet[len(CUSTOMER_FEATURES) :])


@pytest.mark.parametrize("name", ["churn", "premium_upgrade", "ltv90"])
def test_a_team_names_its_model_as_a_rule_reads_it(name: str) -> None:
    assert is_own_model(name)


@pytest.mark.parametrize("name", ["fraud", "recommender", "winback", "offer_p", "Churn", "9x", ""])
def test_engages_own_names_and_malformed_ones_are_no_model_of_ones_own(name: str) -> None:
    assert not is_own_model(name)
