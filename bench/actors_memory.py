"""Memory per live customer actor in one shard process.

Builds N customers the way a shard does (raw JSON events parsed, applied to a
CustomerState, kept in the shard's LiveSet) with a typical state of five events (a page
view, two product views, a cart add, a card payment), and reports the growth of the
process's resident memory per customer. Each size runs in a fresh process.

    .venv/bin/python bench/actors_memory.py            # 100,000 and 1,000,000 customers
    .venv/bin/python bench/actors_memory.py --sizes 100000

Targets: at most 2 KB per live customer; 1,000,000 live customers within 4 GB.
The last line printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from datetime import UTC, datetime


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def typical_events(i: int, t0: float) -> list[bytes]:
    """Five events of customer i; products and devices vary across customers."""
    import orjson

    cid = f"c{i:07d}"

    def make(n: int, type_: str, offset: float, **fields: object) -> bytes:
        at = datetime.fromtimestamp(t0 + offset, UTC).isoformat()
        base = {"type": type_, "event_id": f"{cid}-{n}", "customer_id": cid, "timestamp": at}
        return orjson.dumps({**base, **fields})

    electronics = {"category": "electronics"}
    return [
        make(1, "page_view", 0, url="/c/electronics", **electronics),
        make(2, "product_view", 20, product_id=f"el-{i % 5000}", price=199.0, **electronics),
        make(3, "product_view", 40, product_id=f"el-{i * 7 % 5000}", price=249.0, **electronics),
        make(4, "cart_add", 60, product_id=f"el-{i % 5000}", price=199.0, **electronics),
        make(
            5,
            "card_payment",
            90,
            payment_id=f"p{i}",
            amount=20 + i % 200,
            merchant="VoltStore",
            merchant_category="electronics",
            country="US",
            device_id=f"dev-{i:08x}",
        ),
    ]


def measure(customers: int) -> dict[str, float]:
    from actors.hosting.residency import LiveSet
    from actors.model.events import parse_event
    from actors.model.state import CustomerState

    t0 = 1_780_000_000.0
    live = LiveSet(idle_s=1e9, max_live=customers, clock=time.time)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    for i in range(customers):
        state = CustomerState()
        for raw in typical_events(i, t0):
            state.apply(parse_event(raw))
        state.version = 1
        live.put(f"c{i:07d}", state)
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    assert len(live) == customers
    return {
        "customers": customers,
        "bytes_per_customer": round((after - before) / customers, 1),
        "rss_bytes": after,
        "rss_growth_bytes": after - before,
        "build_s": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    runs = []
    for size in args.sizes:
        out = (
            subprocess.run(
                [sys.executable, __file__, "--one", str(size)],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        run = json.loads(out)
        runs.append(run)
        print(
            f"{size:>9,} customers: {run['bytes_per_customer']:,.0f} B each, "
            f"RSS {run['rss_bytes'] / 2**30:.2f} GiB",
            file=sys.stderr,
        )
    largest = runs[-1]
    print(
        json.dumps(
            {
                "benchmark": "actors_memory",
                "customers": largest["customers"],
                "bytes_per_customer": largest["bytes_per_customer"],
                "rss_bytes": largest["rss_bytes"],
                "runs": runs,
                "target_bytes_per_customer": 2048,
                "target_rss_bytes_at_1m": 4 * 2**30,
            }
        )
    )


if __name__ == "__main__":
    main()
