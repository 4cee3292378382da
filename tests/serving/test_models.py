"""Served models score exactly as their estimators do, whatever path they take."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from serving.models import LinearProbability


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
