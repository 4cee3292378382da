"""Redis memory per customer, measured on the real stack: how big a Redis 10 million
customers need.

A population of long-lived customers (months of history each: sessions, carts, payments,
offers, reminders) is sent through engage on the embedded stack, every event applied by
the shards as in production. Redis's `used_memory` before and after, divided by the
customers it now keeps, is what one customer costs: the state, its decision traces, its
guardrail counters, reminders, segment memberships and idempotency marks. `MEMORY USAGE`
of a sample of each kind of key says where it goes.

    .venv/bin/python bench/redis_memory.py [--customers 3000] [--history-days 90]

Prints one JSON line: bytes per customer in all and per kind of key, and the projection
for 10 million customers (the `used_memory` a primary needs, before the headroom for
forks, replication buffers and fragmentation that docs/deploy.md adds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from contextlib import ExitStack
from typing import Any

import _workloads as workloads
import redis
from throughput import caught_up, load_for, send_all, settled

from engage.runtime import running_engage
from engage.settings import load_settings

SAMPLE = 400  # keys of each kind whose MEMORY USAGE is read


def kind_of(key: str, prefix: str) -> str:
    """The kind of an engage key (actors.storage.keys): `s` state, `t` traces, ..."""
    rest = key[len(prefix) + 1 :]
    if rest.startswith("{"):
        parts = rest.split(":")
        return parts[1] if len(parts) > 2 else parts[-1]
    return rest.split(":")[0]


def measure(client: redis.Redis, prefix: str) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    samples: dict[str, list[str]] = {}
    for raw in client.scan_iter(match=f"{prefix}:*", count=5000):
        key = raw.decode()
        kind = kind_of(key, prefix)
        counts[kind] += 1
        sample = samples.setdefault(kind, [])
        if len(sample) < SAMPLE:
            sample.append(key)
    by_kind: dict[str, dict[str, float]] = {}
    for kind, keys in samples.items():
        sizes = [client.memory_usage(k, samples=0) or 0 for k in keys]
        mean = sum(sizes) / len(sizes)
        by_kind[kind] = {
            "keys": counts[kind],
            "mean_bytes": round(mean),
            "total": mean * counts[kind],
        }
    return by_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--history-days", type=float, default=90.0)
    args = parser.parse_args()
    with ExitStack() as stack:
        engage = stack.enter_context(running_engage(load_settings(), train_customers=400))
        settings = engage.settings
        client = redis.Redis.from_url(settings.redis.require_url())
        prefix = settings.redis.prefix
        people = workloads.population(args.customers, args.history_days)
        before = int(client.info("memory")["used_memory"])
        load = load_for(engage)
        print(f"sending {len(people.history):,} events of history", file=sys.stderr)
        base = settled(engage.url, engage.read_key)
        send_all(load, people.history)
        load.close()
        caught_up(engage, base, len(people.history))
        time.sleep(5.0)  # the outboxes drain and the marks land
        after = int(client.info("memory")["used_memory"])
        by_kind = measure(client, prefix)
        client.close()
    customers = by_kind.get("s", {}).get("keys", 0) or args.customers
    per_customer = (after - before) / customers
    figures = {
        "benchmark": "redis_memory",
        "customers": int(customers),
        "events": len(people.history),
        "history_days": args.history_days,
        "used_memory_before": before,
        "used_memory_after": after,
        "bytes_per_customer": round(per_customer),
        "bytes_per_customer_by_kind": {
            kind: round(v["total"] / customers) for kind, v in sorted(by_kind.items())
        },
        "mean_key_bytes_by_kind": {kind: v["mean_bytes"] for kind, v in sorted(by_kind.items())},
        "used_memory_for_10m_gib": round(per_customer * 10_000_000 / 2**30, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
