"""Ranking a large catalogue: narrowed to candidates against ranked in full, in-process.

Builds the catalogue `bench/nbo_latency.py --offers` loads (the demo's offers and the
rest over the demo's categories and 200 of a site's own), then ranks it for a few hundred
customers of differing interests twice in the same process: in full (every offer scored)
and narrowed (actors/catalog/candidates.py), and reports the milliseconds per ranking of
each, their ratio, and how often the narrowed ranking's best offer is the full one's.

    .venv/bin/python bench/candidates.py [--offers 10000] [--customers 300]

The last line printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
from _catalogs import SHELVES, large_catalog

from actors.catalog.catalog import Catalog
from actors.model.features import CUSTOMER_FEATURES
from actors.model.offer_features import RECOMMENDER_FEATURES, expand
from actors.turn.offers import Audience, Ranking, eligible, rank, recommender_row


def audiences(count: int, seed: int = 3) -> list[Audience]:
    """Customers drawn to one to four categories, a third of them buyers."""
    rng = random.Random(seed)
    return [
        Audience(
            customer={"orders": rng.choice((0, 0, 1, 3)), "country": "DE"},
            affinities={c: rng.uniform(0.5, 5.0) for c in rng.sample(SHELVES, rng.randint(1, 4))},
        )
        for _ in range(count)
    ]


_AFFINITY = RECOMMENDER_FEATURES.index("offer_affinity_share")
_VALUE = RECOMMENDER_FEATURES.index("offer_value_log")


def model(row: list[float]) -> np.ndarray:
    """A stand-in recommender over the request's rows: drawn to the categories the customer
    is, a little to value (the bench measures the steps around the model, not a model)."""
    matrix, _ = expand([row])
    return np.asarray(1 / (1 + np.exp(3 - 2 * matrix[:, _AFFINITY] - 0.1 * matrix[:, _VALUE])))


def timed(catalog: Catalog, people: list[Audience], limit: int) -> tuple[float, list[Ranking]]:
    """Milliseconds per next-best-offer's ranking steps: eligible offers (narrowed past
    `limit`), the request, the model's answer, the ranking."""
    vector = [0.0] * len(CUSTOMER_FEATURES)
    at = time.time()
    started = time.perf_counter()
    rankings = []
    for audience in people:
        drawn = audience.affinities or {}
        offers = eligible(catalog, at=at, audience=audience, candidate_limit=limit)
        p = model(recommender_row(vector, drawn, offers))
        rankings.append(rank(vector, drawn, offers, p.tolist()))
    return (time.perf_counter() - started) * 1000 / len(people), rankings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=300)
    args = parser.parse_args()
    catalog = Catalog.of(1, large_catalog(args.offers))
    people = audiences(args.customers)
    catalog.candidates  # noqa: B018 - the index is built once per version, not per call
    full_ms, full = timed(catalog, people, limit=len(catalog.offers))
    narrowed_ms, narrowed = timed(catalog, people, limit=300)
    same_best = sum(
        bool(len(a)) and bool(len(b)) and a.scored[0][0].offer_id == b.scored[0][0].offer_id
        for a, b in zip(full, narrowed, strict=True)
    )
    figures = {
        "benchmark": "candidates",
        "offers": args.offers,
        "customers": args.customers,
        "full_ms_per_ranking": round(full_ms, 3),
        "narrowed_ms_per_ranking": round(narrowed_ms, 3),
        "speedup": round(full_ms / narrowed_ms, 2),
        "same_best_offer_share": round(same_best / len(people), 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
