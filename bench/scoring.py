"""Rows scored per second through the Scorer deployment: batched against unbatched.

The same deployment, the same models and the same clients, each a Ray actor with many
customer turns in flight that each want one row scored, as a customer shard has:

* batched (what engage does): the turns' rows are coalesced into one request per
  event-loop tick (actors.turn.scoring.CoalescingScorer), and the deployment's `score` merges
  concurrent requests with `@serve.batch` into one `predict_proba`;
* unbatched: every row is its own request to `score_unbatched`, scored on its own.

On this class of machine a Serve handle call costs about 3 ms of round trip and tops out
near 400 calls/s, so crossing the process boundary once per row caps throughput no matter
how fast the model is; batching amortises that crossing.

    .venv/bin/python bench/scoring.py [--seconds 8] [--clients 4] [--in-flight 64]

Target: batched at least 10 times unbatched. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

import ray
from ray import serve

from actors.catalog.catalog import built_in
from actors.model.features import CUSTOMER_FEATURES, PAYMENT_FEATURES
from actors.turn.offers import recommender_row
from actors.turn.scoring import CoalescingScorer
from engage.processes import free_port
from engage.stack import start_redis
from serving.scorer import Scorer
from serving.scorer_client import HandleScorer
from training.pipeline import bootstrap_models
from training.registry import ModelRegistry

APP = "bench-scoring"


@ray.remote(num_cpus=0)
class Client:
    """Keeps `in_flight` one-row requests outstanding for `seconds`."""

    def __init__(self, method: str, model: str, in_flight: int) -> None:
        self.handle = serve.get_deployment_handle("Scorer", app_name=APP)
        self.coalescing = CoalescingScorer(HandleScorer(APP))
        self.method = method
        self.model = model
        self.in_flight = in_flight
        # A recommender request asks about the demo's fifteen offers, as a turn does.
        self.row = (
            [0.5] * len(PAYMENT_FEATURES)
            if model == "fraud"
            else recommender_row([0.5] * len(CUSTOMER_FEATURES), {"books": 1.0}, built_in().offers)
        )

    async def run(self, seconds: float) -> dict[str, float]:
        deadline = time.monotonic() + seconds
        done = 0
        failed = 0

        async def worker() -> None:
            nonlocal done, failed
            while time.monotonic() < deadline:
                try:
                    if self.method == "batched":
                        await self.coalescing.score(self.model, [self.row])
                    else:
                        await self.handle.score_unbatched.remote(self.model, [self.row])
                    done += 1
                except Exception:
                    failed += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(self.in_flight)))
        return {"rows": done, "failed": failed, "seconds": time.monotonic() - started}


def measure(
    method: str, model: str, clients: int, in_flight: int, seconds: float
) -> dict[str, float]:
    actors = [Client.remote(method, model, in_flight) for _ in range(clients)]  # type: ignore[attr-defined]
    ray.get([a.run.remote(1.0) for a in actors])  # warm up
    results = ray.get([a.run.remote(seconds) for a in actors])
    for actor in actors:
        ray.kill(actor)
    rows = sum(r["rows"] for r in results)
    span = max(r["seconds"] for r in results)
    return {"rows_per_s": rows / span, "failed": sum(r["failed"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=256)
    args = parser.parse_args()
    server = start_redis()
    figures: dict[str, Any] = {"benchmark": "scoring"}
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        bootstrap_models(ModelRegistry(url, "bench"), customers=500, days=45)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        serve.start(http_options={"host": "127.0.0.1", "port": free_port()})
        serve.run(Scorer.bind(url, "bench"), name=APP, route_prefix=None)  # type: ignore[attr-defined]
        for model in ("fraud", "recommender"):
            batched = measure("batched", model, args.clients, args.in_flight, args.seconds)
            unbatched = measure("unbatched", model, args.clients, args.in_flight, args.seconds)
            ratio = batched["rows_per_s"] / unbatched["rows_per_s"]
            print(
                f"{model}: batched {batched['rows_per_s']:,.0f} rows/s, "
                f"unbatched {unbatched['rows_per_s']:,.0f} rows/s, x{ratio:.1f}",
                file=sys.stderr,
            )
            figures[model] = {
                "batched_rows_per_s": round(batched["rows_per_s"], 1),
                "unbatched_rows_per_s": round(unbatched["rows_per_s"], 1),
                "ratio": round(ratio, 2),
                "failed": batched["failed"] + unbatched["failed"],
            }
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()
    finally:
        server.stop()
    headline = figures["fraud"]
    figures.update(
        batched_rows_per_s=headline["batched_rows_per_s"],
        unbatched_rows_per_s=headline["unbatched_rows_per_s"],
        ratio=headline["ratio"],
        target_ratio=10,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
