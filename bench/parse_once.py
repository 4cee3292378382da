"""Whether ingest should hand shards parsed events instead of the records' bytes.

Ingest parses every record (to route it by customer and check its event time) and the
shard parses it again. Parsing once would mean sending the parsed `Event` objects over
the Ray call, which pickles them in ingest and unpickles them in the shard. This measures,
in one process on the same realistic events, the three costs per event: a parse, a
pickle round trip of parsed events, and a pickle round trip of the bytes.

    .venv/bin/python bench/parse_once.py [--events 20000]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from collections.abc import Callable

from actors.model.events import event_to_json, parse_event
from training.live_traffic import LiveTraffic


def per_event_us(job: Callable[[], object], count: int, rounds: int = 5) -> float:
    """The fastest of `rounds` runs, in µs per event (the least disturbed by the machine)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        job()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    traffic = LiveTraffic(customers=2000, seed=7)
    raws: list[bytes] = []
    now = time.time() - 86_400
    while len(raws) < args.events:
        raws += [event_to_json(e) for e in traffic.next_session(now)]
        now += 30
    raws = raws[: args.events]
    events = [parse_event(raw) for raw in raws]
    batches = [events[i : i + 1000] for i in range(0, len(events), 1000)]
    raw_batches = [raws[i : i + 1000] for i in range(0, len(raws), 1000)]
    parse = per_event_us(lambda: [parse_event(raw) for raw in raws], len(raws))
    objects = per_event_us(
        lambda: [pickle.loads(pickle.dumps(batch)) for batch in batches], len(events)
    )
    plain = per_event_us(
        lambda: [pickle.loads(pickle.dumps(batch)) for batch in raw_batches], len(raws)
    )
    print(f"parse {parse:.2f} µs/event")
    print(f"send parsed events (pickle round trip) {objects:.2f} µs/event")
    print(f"send bytes (pickle round trip) {plain:.2f} µs/event")
    print(
        json.dumps(
            {
                "benchmark": "parse_once",
                "events": len(raws),
                "parse_us": round(parse, 2),
                "send_parsed_us": round(objects, 2),
                "send_bytes_us": round(plain, 2),
                "parse_again_saves_us": round(objects - (parse + plain), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
