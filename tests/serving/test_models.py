"""Served models score exactly as their estimators do, whatever path they take."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from actors.catalog.catalog import built_in
from actors.errors import ModelError
from actors.model.features import CUSTOMER_FEATURES, FEATURE_SPEC_VERSION
from actors.model.offer_features import RECOMMENDER_FEATURES, pair_rows
from actors.turn.offers import recommender_row
from serving.linear_probability import LinearProbability
from serving.model_set import ModelSet, score_batch
from serving.models import ServedModel
from serving.tree_probability import TreeEnsembleProbability
from training.registry import ModelVersion


def _data(seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 12)) * rng.uniform(0.1, 50, size=12)
    y = (x[:, 0] / 10 + x[:, 3] / 30 + rng.normal(size=400) > 0).astype(int)
    return x, y


def test_the_linear_fast_path_gives_sklearns_probabilities() -> None:
    x, y = _data()
    model = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(x, y)
    fast = LinearProbability.of(model)
    assert fast is not None
    np.testing.assert_allclose(fast(x), model.predict_proba(x)[:, 1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast(x[:1]), model.predict_proba(x[:1])[:, 1], atol=1e-12)


def test_other_estimators_keep_sklearns_own_path() -> None:
    x, y = _data()
    boosted = HistGradientBoostingClassifier(max_iter=5).fit(x, y)
    unscaled = Pipeline(
        [("scale", StandardScaler(with_mean=False)), ("lr", LogisticRegression())]
    ).fit(x, y)
    assert LinearProbability.of(boosted) is None
    assert LinearProbability.of(unscaled) is None
    assert LinearProbability.of(LogisticRegression().fit(x, y)) is None


def test_the_tree_fast_path_gives_sklearns_probabilities() -> None:
    x, y = _data()
    # Missing values in training teach some splits to send NaN left, others right.
    x[::9, 2] = np.nan
    x[::13, 5] = np.nan
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, random_state=0)
    model.fit(x, y)
    fast = TreeEnsembleProbability.of(model)
    assert fast is not None
    assert fast.missing_left.any()
    assert not fast.missing_left.all()
    probe = np.vstack([x, x[:50] * 3.0])
    probe[::4, 2] = np.nan
    np.testing.assert_allclose(fast(probe), model.predict_proba(probe)[:, 1], atol=1e-12)
    np.testing.assert_allclose(fast(probe[:1]), model.predict_proba(probe[:1])[:, 1], atol=1e-12)


def test_the_tree_fast_path_is_only_taken_for_what_it_can_walk() -> None:
    x, y = _data()
    three = np.where(x[:, 1] > 0, 2, y)
    categorical = np.column_stack([x, np.arange(len(x)) % 3])
    multiclass = HistGradientBoostingClassifier(max_iter=5).fit(x, three)
    assert TreeEnsembleProbability.of(multiclass) is None
    with_categories = HistGradientBoostingClassifier(max_iter=5, categorical_features=[12])
    assert TreeEnsembleProbability.of(with_categories.fit(categorical, y)) is None
    assert TreeEnsembleProbability.of(LogisticRegression().fit(x, y)) is None


def test_a_served_tree_model_leaves_large_batches_to_sklearn() -> None:
    x, y = _data()
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(x, y)
    fast = TreeEnsembleProbability.of(model)
    assert fast is not None
    walked: list[int] = []

    def counting(matrix: np.ndarray) -> np.ndarray:
        walked.append(len(matrix))
        return fast(matrix)

    meta = ModelVersion("fraud", 1, "fraud", FEATURE_SPEC_VERSION, created_at=0.0)
    served = ServedModel(meta, model, counting, fast_max_rows=8)
    small, large = served.predict(x[:8].tolist()), served.predict(x[:9].tolist())
    assert walked == [8]
    expected = model.predict_proba(x[:9])[:, 1]
    np.testing.assert_allclose([p for (p,) in small], expected[:8], atol=1e-12)
    np.testing.assert_allclose([p for (p,) in large], expected, atol=1e-12)


def _recommender(version: int) -> ServedModel:
    rng = np.random.default_rng(version)
    x = rng.normal(size=(200, len(RECOMMENDER_FEATURES)))
    y = (x[:, RECOMMENDER_FEATURES.index("offer_affinity")] > 0).astype(int)
    model = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(x, y)
    meta = ModelVersion("recommender", version, "recommender", FEATURE_SPEC_VERSION, 0.0)
    return ServedModel(meta, model, LinearProbability.of(model))


def test_a_served_recommender_answers_one_p_per_offer_asked_about() -> None:
    served = _recommender(1)
    offers = built_in().offers
    customer = [0.0] * len(CUSTOMER_FEATURES)
    three = recommender_row(customer, {"books": 2.0}, offers[:3])
    none = recommender_row(customer, {}, [])
    answers = served.predict([three, none, three])
    assert [len(a) for a in answers] == [3, 0, 3]
    expected = served.estimator.predict_proba(pair_rows(customer, {"books": 2.0}, offers[:3]))
    np.testing.assert_allclose(answers[0], expected[:, 1], atol=1e-12)
    with pytest.raises(ModelError, match="blocks of"):
        served.predict([[*three, 0.0]])


def test_shadow_scoring_compares_only_requests_that_asked_about_offers() -> None:
    models = ModelSet({"recommender": _recommender(1)}, {"recommender": _recommender(2)})
    customer = [0.0] * len(CUSTOMER_FEATURES)
    asked = recommender_row(customer, {}, built_in().offers[:2])
    answers, shadow = score_batch(models, [("recommender", [asked, customer])])
    assert [len(score.values) for score in answers[0]] == [2, 0]  # type: ignore[union-attr]
    assert [(champion, challenger) for _, champion, challenger, _, _ in shadow] == [("1", "2")]
