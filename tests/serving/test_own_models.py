"""A model of a team's own is served from the engine row: its view's columns taken, a
row without them left unanswered, and its faults kept to its own requests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from actors.errors import ModelError
from actors.model.feature_views import ENGINE_COLUMNS, engine_row, positions, resolve
from actors.model.features import CUSTOMER_FEATURES, FEATURE_SPEC_VERSION, PAYMENT_FEATURES
from serving.model_set import ModelSet, score_batch
from serving.models import ServedModel
from training.registry import OWN, ModelVersion

VIEW = ("orders", "spend_log", "amount_log")


def _own(name: str, version: int, columns: tuple[str, ...] = VIEW) -> ServedModel:
    rng = np.random.default_rng(version)
    x = rng.normal(size=(200, len(columns)))
    y = (x[:, 0] + rng.normal(size=200) > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    meta = ModelVersion(name, version, OWN, FEATURE_SPEC_VERSION, 0.0, features=list(columns))
    return ServedModel(meta, model, columns=tuple(positions(columns)))


def _row(seed: int, payment: bool = True) -> list[float]:
    rng = np.random.default_rng(seed)
    customer = rng.normal(size=len(CUSTOMER_FEATURES)).tolist()
    paid = rng.normal(size=len(PAYMENT_FEATURES)).tolist() if payment else None
    return engine_row(customer, paid)


def test_the_view_is_taken_from_the_engine_row_in_the_order_it_was_fitted_on() -> None:
    served = _own("churn", 1)
    rows = [_row(1), _row(2)]
    taken = np.asarray(rows)[:, [ENGINE_COLUMNS.index(c) for c in VIEW]]
    expected = served.estimator.predict_proba(taken)[:, 1]
    np.testing.assert_allclose([p for (p,) in served.predict(rows)], expected, atol=1e-12)


def test_a_row_without_the_views_payment_columns_gets_no_answer_and_others_do() -> None:
    served = _own("churn", 1)
    answers = served.predict([_row(1, payment=False), _row(2)])
    assert answers[0] == ()
    assert len(answers[1]) == 1
    assert 0.0 < answers[1][0] < 1.0
    customer_only = _own("ltv", 1, resolve("orders,spend_log"))
    assert all(len(a) == 1 for a in customer_only.predict([_row(1, payment=False)]))


def test_rows_of_another_width_are_the_model_servers_fault_not_a_guess() -> None:
    with pytest.raises(ModelError, match="the engine row has"):
        _own("churn", 1).predict([[0.0] * 10])


def test_a_failing_model_fails_its_own_requests_and_no_other() -> None:
    class Broken:
        def predict_proba(self, X: object) -> np.ndarray:
            raise ValueError("Input contains infinity")

    good = _own("churn", 1)
    meta = ModelVersion("upgrade", 1, OWN, FEATURE_SPEC_VERSION, 0.0, features=list(VIEW))
    broken = ServedModel(meta, Broken(), columns=tuple(positions(VIEW)))
    answers, _ = score_batch(
        ModelSet({"churn": good, "upgrade": broken}),
        [("upgrade", [_row(1)]), ("churn", [_row(1)])],
    )
    assert isinstance(answers[0], ModelError)
    assert "infinity" in answers[0].reason
    assert isinstance(answers[1], list)
    assert len(answers[1][0].values) == 1


def test_a_failing_challenger_costs_the_comparison_never_the_champions_answer() -> None:
    class Broken:
        def predict_proba(self, X: object) -> np.ndarray:
            raise ValueError("boom")

    meta = ModelVersion("churn", 2, OWN, FEATURE_SPEC_VERSION, 0.0, features=list(VIEW))
    challenger = ServedModel(meta, Broken(), columns=tuple(positions(VIEW)))
    answers, shadow = score_batch(
        ModelSet({"churn": _own("churn", 1)}, {"churn": challenger}), [("churn", [_row(3)])]
    )
    assert isinstance(answers[0], list)
    assert not math.isnan(answers[0][0].values[0])
    assert shadow == []


def test_versions_reading_other_views_are_shadowed_on_the_same_rows() -> None:
    models = ModelSet({"churn": _own("churn", 1)}, {"churn": _own("churn", 2, ("orders",))})
    _, shadow = score_batch(models, [("churn", [_row(4), _row(5, payment=False)])])
    # The champion reads the payment: the second row has no answer to compare.
    assert [(c, ch) for _, c, ch, _, _ in shadow] == [("1", "2")]
