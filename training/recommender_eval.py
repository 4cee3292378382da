"""What a recommender trained on offer attributes must show beyond its test window:
that it scores offers it was never trained on, and how it ranks catalogues of each size.

* **New offers.** A second model is fitted on the training window without a fifth of the
  offers (chosen by a hash of their ids), and judged on the test window's rows of exactly
  those offers: the offers added after training, as it would meet them the morning after.
  Popularity knows nothing of them (every one gets the same prior: ROC AUC 0.5).
* **Per catalogue size.** With generated data's counterfactuals (which offers each test
  customer would take), precision at 1 of the model and of popularity over sub-catalogues
  of a few sizes, drawn once with a fixed seed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from actors.catalog.offer import CatalogOffer
from actors.model.offer_features import pair_rows
from training.dataset import OfferRows
from training.metrics import precision_at_1, roc_auc
from training.split import TimeSplit

NEW_OFFER_SHARE = 5  # one offer in five is held out as "new"
CATALOG_SIZES = (5, 10, 50, 200)


def held_out(offer_id: str) -> bool:
    return int(hashlib.sha256(offer_id.encode()).hexdigest(), 16) % NEW_OFFER_SHARE == 0


def new_offer_metrics(
    rows: OfferRows, split: TimeSplit, fit: Callable[[np.ndarray, np.ndarray], Any]
) -> dict[str, float]:
    """ROC AUC on the test rows of offers the model was fitted without (empty when the
    data has none of them, or only one class)."""
    X = np.asarray(rows.X, dtype=float)
    y = np.asarray([label or 0 for label in rows.y], dtype=int)
    new = {o for o in set(rows.offer_ids) if held_out(o)}
    train = [i for i in split.train if rows.offer_ids[i] not in new]
    test = [i for i in split.test if rows.offer_ids[i] in new]
    if not new or not test or len(set(y[train])) < 2 or len(set(y[test])) < 2:
        return {}
    model = fit(X[train], y[train])
    scores = model.predict_proba(X[test])[:, 1].tolist()
    return {
        "new_offers": float(len(new)),
        "new_offer_test_rows": float(len(test)),
        "new_offer_roc_auc": roc_auc(y[test].tolist(), scores),
    }


def by_catalog_size(
    model: Any,
    rate: Mapping[str, float],
    offers: Sequence[CatalogOffer],
    points: Sequence[tuple[list[float], dict[str, float], set[str]]],
    sizes: Sequence[int] = CATALOG_SIZES,
) -> dict[str, float]:
    """Precision at 1 of the model and of popularity over a sub-catalogue of each size no
    larger than the catalogue, and over the whole, for the test points (vector,
    affinities, offers taken)."""
    out: dict[str, float] = {}
    shuffled = list(offers)
    random.Random(11).shuffle(shuffled)
    for size in sorted({*sizes, len(shuffled)}):
        if size > len(shuffled):
            continue
        subset = shuffled[:size]
        ids = {o.offer_id for o in subset}
        popular = sorted(ids, key=lambda o: (-rate.get(o, 0.0), o))
        ranked, baseline, relevant = [], [], []
        for vector, drawn, taken in points:
            good = taken & ids
            if not good:
                continue
            p = model.predict_proba(pair_rows(vector, drawn, subset))[:, 1]
            ranked.append([subset[i].offer_id for i in np.argsort(-p, kind="stable")])
            baseline.append(popular)
            relevant.append(good)
        if ranked:
            out[f"precision_at_1_{size}_offers"] = precision_at_1(ranked, relevant)
            out[f"baseline_precision_at_1_{size}_offers"] = precision_at_1(baseline, relevant)
    return out
