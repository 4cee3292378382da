"""Next-best-offer over HTTP, against a no-op endpoint of the same Serve application.

Starts engage as `make demo` does, gives a few hundred customers some history, then, at
concurrency 1, 8 and 32, sends next-best-offer requests (real shard read, real scoring)
and requests to `/v1/noop` (same proxy, same replica, no work) from the same client for
the same time, and compares requests per second, p50 and p99.

    .venv/bin/python bench/nbo_latency.py [--seconds 8] [--offers 10000]

`--offers N` loads a catalogue of N offers before measuring: the demo's fifteen, and the
rest spread over the demo's categories and 200 more of a site's own, a fifth of them with
an eligibility condition and a twentieth expired, so that next-best-offer narrows the
catalogue to its candidates (actors/catalog/candidates.py) as it would a real shop's.

Targets at concurrency 8: p50 at most 2 times the no-op's, throughput at least half of
it. The last line printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import requests
from _catalogs import large_catalog

from actors.brokers.kafka import make_producer
from actors.catalog.store import CatalogStore
from actors.model.events import event_to_json
from engage.runtime import running_engage
from engage.settings import load_settings
from training.live_traffic import LiveTraffic


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def load(
    url: str, paths: list[str], key: str | None, concurrency: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(n: int) -> None:
        nonlocal failures
        session = requests.Session()
        if key:
            session.headers["Authorization"] = f"Bearer {key}"
        i = n
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                ok = session.get(url + paths[i % len(paths)], timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    failures += 1
            i += concurrency

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    span = time.monotonic() - started
    return {
        "qps": len(latencies) / span,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "failed": failures,
    }


def serve_catalog(url: str, key: str | None, redis_url: str, prefix: str, size: int) -> int:
    """Publish the large catalogue; return once the API serves it."""
    store = CatalogStore.connect(redis_url, prefix)
    version = store.publish(large_catalog(size), by="bench/nbo_latency.py").version
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        served = requests.get(f"{url}/v1/catalog", headers=headers, timeout=10).json()
        if served.get("version") == version:
            return version
        time.sleep(0.5)
    raise SystemExit(f"the API did not serve catalogue version {version} within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--offers", type=int, default=0, help="a catalogue of this many")
    args = parser.parse_args()
    figures: dict[str, object] = {"benchmark": "nbo_latency", "offers": args.offers or 15}
    with running_engage(load_settings(), train_customers=400) as engage:
        if args.offers:
            settings = engage.settings
            serve_catalog(
                engage.url,
                engage.read_key,
                settings.redis.require_url(),
                settings.redis.prefix,
                args.offers,
            )
        traffic = LiveTraffic(customers=args.customers, seed=5)
        producer = make_producer(engage.settings.kafka)
        for _ in range(args.customers * 3):
            for e in traffic.next_session(time.time()):
                producer.send(
                    engage.settings.kafka.events_topic,
                    key=e.actor_id.encode(),
                    value=event_to_json(e),
                )
        producer.flush(timeout=60)
        producer.close()
        time.sleep(5.0)
        customers = [t.customer_id for t in traffic.population]
        nbo = [f"/v1/customers/{c}/next-best-offer?k=3" for c in customers]
        load(engage.url, nbo, engage.read_key, 4, 2.0)  # warm up
        per_concurrency = {}
        for concurrency in (1, 8, 32):
            noop = load(engage.url, ["/v1/noop"], engage.read_key, concurrency, args.seconds)
            offer = load(engage.url, nbo, engage.read_key, concurrency, args.seconds)
            per_concurrency[str(concurrency)] = {
                "nbo": {k: round(v, 2) for k, v in offer.items()},
                "noop": {k: round(v, 2) for k, v in noop.items()},
                "p50_ratio": round(offer["p50_ms"] / noop["p50_ms"], 3),
                "qps_ratio": round(offer["qps"] / noop["qps"], 3),
            }
            for name, run in (("next-best-offer", offer), ("no-op", noop)):
                print(
                    f"concurrency {concurrency:>2} {name:>15}: {run['qps']:6.1f}/s "
                    f"p50 {run['p50_ms']:6.1f} ms p99 {run['p99_ms']:6.1f} ms",
                    file=sys.stderr,
                )
    at8 = per_concurrency["8"]
    figures.update(
        p50_ratio=at8["p50_ratio"],
        qps_ratio=at8["qps_ratio"],
        concurrency=per_concurrency,
        target_p50_ratio=2.0,
        target_qps_ratio=0.5,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
