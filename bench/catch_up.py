"""How fast a consumer that fell behind reads its way back, with short and with paced fetches.

The embedded broker keeps every record batch in memory and fills a fetch one batch at a
time until the fetch's wait runs out; each batch costs more the more it holds. Events
arrive as many small batches (one per HTTP request, spread over the partitions), so after
a few hundred thousand of them a 20 ms fetch brings a batch or two. This writes `--records`
events as such small batches over 4 partitions, then reads them from the start three
ways, each for at most `--seconds`:

* `short`: every fetch with the latency wait (`fetch_max_wait_ms`, 20 ms);
* `long`: every fetch with the catch-up wait (`fetch_catch_up_wait_ms`, 500 ms);
* `paced`: as ingest reads (`KafkaEventsConsumer`: long waits while behind, short at the end).

    .venv/bin/python bench/catch_up.py [--records 300000] [--seconds 20]

The figure is each reader's records per second; `paced_over_short` is the speed-up the
pacing gives a consumer that fell behind. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402

from actors.brokers.kafka import KafkaEventsConsumer, make_producer  # noqa: E402
from actors.config import KafkaConfig  # noqa: E402
from engage.stack import start_broker  # noqa: E402

PARTITIONS = 4
RECORDS_PER_REQUEST = 8  # what one small HTTP batch of events becomes


def write(config: KafkaConfig, records: int) -> float:
    started = time.monotonic()
    producer = make_producer(config)
    body = b"x" * 300
    for i in range(records):
        producer.send(config.events_topic, key=f"c{i % 2000}".encode(), value=body)
        if i % RECORDS_PER_REQUEST == RECORDS_PER_REQUEST - 1:
            producer.flush()
    producer.flush()
    producer.close()
    return time.monotonic() - started


def read_fixed(config: KafkaConfig, wait_ms: int, seconds: float) -> float:
    """Records per second from the start with one fetch wait for every fetch."""
    consumer = KafkaConsumer(
        **config.client_options(), enable_auto_commit=False, fetch_max_wait_ms=wait_ms
    )
    partitions = [TopicPartition(config.events_topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    read, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            polled = consumer.poll(timeout_ms=500, max_records=2000)
            read += sum(len(records) for records in polled.values())
    finally:
        consumer.close()
    return read / (time.monotonic() - started)


def read_paced(config: KafkaConfig, seconds: float) -> float:
    """Records per second from the start as ingest reads (a group member, paced)."""
    consumer = KafkaEventsConsumer(config.model_copy(update={"group_id": uuid.uuid4().hex}))
    read, started = 0, 0.0
    try:
        while time.monotonic() - started < seconds or not started:
            polled = consumer.poll(timeout_ms=500, max_records=2000)
            if polled and not started:
                started = time.monotonic()  # the group join is not reading
            read += sum(len(records) for records in polled.values())
    finally:
        consumer.close()
    return read / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    broker = start_broker()
    try:
        config = KafkaConfig(
            bootstrap=f"127.0.0.1:{broker.port}", events_topic="catch-up", partitions=PARTITIONS
        )
        admin = KafkaAdminClient(**config.client_options())
        admin.create_topics([NewTopic(config.events_topic, PARTITIONS, 1)])
        admin.close()
        write_s = write(config, args.records)
        short = read_fixed(config, config.fetch_max_wait_ms, args.seconds)
        long = read_fixed(config, config.fetch_catch_up_wait_ms, args.seconds)
        paced = read_paced(config, args.seconds)
    finally:
        broker.stop()
    print(
        f"{args.records:,} records written in {write_s:.0f} s; read from the start: "
        f"short waits {short:,.0f}/s, long waits {long:,.0f}/s, paced {paced:,.0f}/s"
    )
    print(
        json.dumps(
            {
                "benchmark": "catch_up",
                "records": args.records,
                "short_wait_ms": config.fetch_max_wait_ms,
                "long_wait_ms": config.fetch_catch_up_wait_ms,
                "short_records_per_s": round(short),
                "long_records_per_s": round(long),
                "paced_records_per_s": round(paced),
                "paced_over_short": round(paced / max(short, 1e-9), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
