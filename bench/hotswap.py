"""Next-best-offer latency while models are swapped, against steady state, same run.

Starts engage as `make demo` does (embedded broker and Redis, local Ray, Serve), registers
a second recommender version, then measures next-best-offer requests from a few clients:
first steady, then while the champion is promoted and rolled back every couple of seconds.

    .venv/bin/python bench/hotswap.py [--seconds 20] [--clients 4]

Targets: p99 during swaps within 1.5 times steady p99; zero failed requests. The read
key's rate limit is raised for the run (it guards a deployment, not what is measured
here); a request refused with 429 all the same is counted apart from failures. The last
line printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

import requests

from engage.runtime import running_engage
from engage.settings import load_settings
from training.pipeline import train
from training.registry import ModelRegistry
from training.sources import generated


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Clients:
    def __init__(self, url: str, clients: int, key: str | None) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.latencies: list[tuple[float, float, bool, str]] = []
        self.refused = 0
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(f"c{n:06d}",), daemon=True)
            for n in range(clients)
        ]

    def _run(self, customer: str) -> None:
        session = requests.Session()
        session.headers.update(self.headers)
        while not self.stop.is_set():
            started = time.perf_counter()
            version = ""
            try:
                answer = session.get(
                    f"{self.url}/v1/customers/{customer}/next-best-offer", timeout=10
                )
                ok = answer.status_code == 200
                if answer.status_code == 429:
                    self.refused += 1
                    continue
                if ok:
                    version = answer.json()["model"]["version"]
            except requests.RequestException:
                ok = False
            self.latencies.append(
                (time.monotonic(), (time.perf_counter() - started) * 1000, ok, version)
            )

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def window(self, start: float, end: float) -> list[tuple[float, float, bool, str]]:
        return [x for x in self.latencies if start <= x[0] < end]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between swaps")
    args = parser.parse_args()
    # Far above what the clients can send: the limit is not what this run measures.
    os.environ.setdefault("ENGAGE_API_RATE_LIMIT_PER_S", "1000000")
    os.environ.setdefault("ENGAGE_API_RATE_LIMIT_BURST", "1000000")
    with running_engage(load_settings(), train_customers=400) as engage:
        settings = engage.settings
        registry = ModelRegistry(settings.redis.require_url(), settings.redis.prefix)
        old = registry.alias("recommender", "champion") or 0
        new = train(
            "recommender", registry, generated(400, 30, 21), report_dir=None
        ).version.version
        clients = Clients(engage.url, args.clients, engage.read_key)
        clients.start()
        time.sleep(3.0)  # warm up
        steady_start = time.monotonic()
        time.sleep(args.seconds)
        swap_start = time.monotonic()
        swaps = 0
        while time.monotonic() - swap_start < args.seconds:
            registry.promote(
                "recommender", new, force=True
            ) if swaps % 2 == 0 else registry.rollback("recommender")
            swaps += 1
            time.sleep(args.every)
        swap_end = time.monotonic()
        clients.finish()
        registry.close()
    steady = clients.window(steady_start, swap_start)
    swapping = clients.window(swap_start, swap_end)
    p99_steady = percentile([ms for _, ms, ok, _ in steady if ok], 0.99)
    p99_swap = percentile([ms for _, ms, ok, _ in swapping if ok], 0.99)
    failed = sum(not ok for _, _, ok, _ in steady + swapping)
    versions = sorted({v for _, _, ok, v in swapping if ok})
    print(
        f"steady p99 {p99_steady:.1f} ms over {len(steady)} requests; during {swaps} swaps "
        f"p99 {p99_swap:.1f} ms over {len(swapping)}; failed {failed}; "
        f"refused (429) {clients.refused}; versions {versions}",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "benchmark": "hotswap",
                "swaps": swaps,
                "failed_requests": failed,
                "refused_requests": clients.refused,
                "requests_steady": len(steady),
                "requests_swapping": len(swapping),
                "p50_steady_ms": round(percentile([ms for _, ms, ok, _ in steady if ok], 0.5), 2),
                "p50_swap_ms": round(percentile([ms for _, ms, ok, _ in swapping if ok], 0.5), 2),
                "p99_steady_ms": round(p99_steady, 2),
                "p99_swap_ms": round(p99_swap, 2),
                "ratio": round(p99_swap / p99_steady, 3) if p99_steady else None,
                "versions_served_during_swaps": versions,
                "old_version": str(old),
                "new_version": str(new),
                "target_ratio": 1.5,
            }
        )
    )


if __name__ == "__main__":
    main()
