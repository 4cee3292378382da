"""p(class 1) of a fitted Pipeline(StandardScaler, binary LogisticRegression), as plain numpy.

The recommender is such a pipeline. scikit-learn spends about 0.5 ms of input checks per
call, which dominates when a request scores one customer; the arithmetic here is the same
(tests/serving/test_models.py checks it to 1e-12) and costs about 13 µs. Any other
estimator keeps scikit-learn's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class LinearProbability:
    """The pipeline's scaling and linear model, applied with plain numpy."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def of(cls, estimator: Any) -> LinearProbability | None:
        steps = getattr(estimator, "steps", None)
        if not steps or len(steps) != 2:
            return None
        scaler, linear = steps[0][1], steps[1][1]
        if not (isinstance(scaler, StandardScaler) and isinstance(linear, LogisticRegression)):
            return None
        if not (scaler.with_mean and scaler.with_std) or linear.coef_.shape[0] != 1:
            return None
        return cls(scaler.mean_, scaler.scale_, linear.coef_[0], float(linear.intercept_[0]))

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        z = ((matrix - self.mean) / self.scale) @ self.coef + self.intercept
        return np.asarray(expit(z))
