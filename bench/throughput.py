"""End-to-end throughput and event-to-action latency, against a bare consume loop.

Starts engage as `make demo` does. Then, in one run:

1. backlog: produces N realistic events at once, made before the clock starts; engage's
   rate is the events it applies (Kafka → ingest → customer actor with state saved →
   scoring → actions) per second while it works through the backlog. `--workload
   sessions` (the default) is new customers with whole sessions; `--workload
   interleaved` is long-lived customers (months of history sent through engage first)
   whose events are interleaved a few per customer per batch, with identity merges
   (bench/_workloads.py);
2. bare: a plain kafka-python consumer reads the same N records from the same topic;
3. latency: traffic at a light load (300 events/s) and then at 70% of engage's rate,
   with probes (a finished title for a new viewer, which always triggers a content
   recommendation); latency is from producing the probe to its action arriving on
   engage.actions.

The load is produced with librdkafka (confluent-kafka): in production events come from
other machines, and on a two-core box kafka-python's producer took 40-60% of a core at
1,000-3,000 events/s, CPU the system under test then lacked. What is measured (engage,
the bare loop, the listener on engage.actions) is kafka-python, as engage is.

On RabbitMQ (`--broker rabbitmq`: a RabbitMQ node started for the run, engage with
`ENGAGE_BROKER=rabbitmq`) everything is pika: the load goes to the events exchange
without publisher confirms, the bare loop consumes the same records from queues of its
own with engage's prefetch and manual acks, and latency runs to the action's arrival on
the actions exchange (bench/_amqp.py).

    .venv/bin/python bench/throughput.py [--events 20000] [--seconds 20]
    .venv/bin/python bench/throughput.py --workload interleaved [--customers 2000]
    .venv/bin/python bench/throughput.py --broker apache   # the Kafka of `make test-kafka`
    .venv/bin/python bench/throughput.py --broker rabbitmq # RabbitMQ (docs/rabbitmq.md)
    ENGAGE_SERVE_SHARD_SCORING=embedded .venv/bin/python bench/throughput.py

CPU per event is the CPU time of the whole machine while engage works through the
backlog (engage's processes, Ray's, the broker's and Redis's), less this process's own
(the load generator), divided by the events applied.

Targets: at least 50% of the bare loop's rate; p99 under 100 ms at 70% load. The last line
printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import _amqp as amqp
import _process_cpu as process_cpu
import _workloads as workloads
import requests
from confluent_kafka import Producer
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from actors.model.events import ContentView, event_to_json
from engage.runtime import running_engage
from engage.settings import load_settings
from training.live_traffic import LiveTraffic


def machine_cpu_s() -> float:
    """CPU seconds spent by every process on the machine so far (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:]
    busy = [int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4)]  # not idle, iowait
    return sum(busy) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def api_get(url: str, key: str | None, path: str) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.get(f"{url}{path}", headers=headers, timeout=10).json()


def processed(url: str, key: str | None) -> int:
    shards = api_get(url, key, "/v1/shards")["shards"]
    return sum(int(s.get("events", 0)) + int(s.get("duplicates", 0)) for s in shards)


def shard_timings(url: str, key: str | None) -> dict[str, tuple[float, int]]:
    """(sum of ms, count) over every shard of its batches and of its calls to the scorer,
    and over every ingest replica of its poll cycles (poll handled to offsets committed)."""
    shards = api_get(url, key, "/v1/shards")["shards"]
    ingest = api_get(url, key, "/v1/ingest")["replicas"]
    out: dict[str, tuple[float, int]] = {}
    for name, parts in (("batch_ms", shards), ("scoring_ms", shards), ("poll_ms", ingest)):
        histograms = [p[name] for p in parts if isinstance(p.get(name), dict)]
        out[name] = (sum(h["sum"] for h in histograms), sum(h["count"] for h in histograms))
    return out


def mean_between(
    before: dict[str, tuple[float, int]], after: dict[str, tuple[float, int]], name: str
) -> float:
    total, count = (a - b for a, b in zip(after[name], before[name], strict=True))
    return total / count if count else 0.0


def load_producer(bootstrap: str, linger_ms: int = 5) -> Producer:
    # linger.ms 5 is librdkafka's default: fewer, larger produce requests for the backlog
    # and the loaded latency run. The light-load run sends each event at once (0): latency
    # counts from the send, and a producer at a few hundred events/s does not hold them
    # back. (At thousands of events/s, unbatched produce requests take the CPU of the
    # machine under test: p50 1.5 s at 6,100 events/s in one run.)
    # murmur2 is the partitioner of kafka-python and the Java client: keys land where
    # engage's own producers put them.
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": linger_ms,
            "acks": 1,
            "partitioner": "murmur2_random",
        }
    )


class Load(Protocol):
    """The load generator: events into the broker engage consumes."""

    def send(self, key: bytes, value: bytes) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class KafkaLoad:
    def __init__(self, bootstrap: str, topic: str, linger_ms: int = 5) -> None:
        self._producer, self._topic = load_producer(bootstrap, linger_ms), topic

    def send(self, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(self._topic, key=key, value=value)
                break
            except BufferError:  # local queue full: let deliveries drain
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self) -> None:
        if self._producer.flush(120) > 0:
            raise RuntimeError("the load could not be produced")

    def close(self) -> None:
        self.flush()


def load_for(engage: Any, linger_ms: int = 5) -> Load:
    settings = engage.settings
    if settings.broker == "rabbitmq":
        rabbitmq = settings.rabbitmq
        return amqp.AmqpLoad(
            rabbitmq.require_url(),
            rabbitmq.events_exchange,
            rabbitmq.events_queues,
            rabbitmq.events_dlq,
        )
    return KafkaLoad(settings.kafka.bootstrap or "", settings.kafka.events_topic, linger_ms)


def send_all(load: Load, records: list[workloads.Record]) -> None:
    for record in records:
        load.send(*record)
    load.flush()


def settled(url: str, key: str | None) -> int:
    """Records ingest has finished with: applied by their shards, or dead-lettered."""
    replicas = api_get(url, key, "/v1/ingest")["replicas"]
    return sum(int(r.get("processed", 0)) + int(r.get("dead_lettered", 0)) for r in replicas)


def caught_up(engage: Any, base: int, count: int, timeout_s: float = 1800.0) -> None:
    """Wait until ingest has settled `count` records more than `base` (`settled`): for
    the history, some of whose records are refused (a chargeback not due yet)."""
    deadline = time.monotonic() + timeout_s
    while settled(engage.url, engage.read_key) - base < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"engage did not apply {count:,} events in {timeout_s:g} s")
        time.sleep(0.2)


def bare_kafka_rate(bootstrap: str, topic: str, count: int) -> float:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=2000
    )
    partitions = [
        TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    read = 0
    started = None
    while read < count:
        for records in consumer.poll(timeout_ms=500).values():
            if started is None:
                started = time.perf_counter()
            read += len(records)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return read / elapsed


def latency_run(engage: Any, rate: float, seconds: float) -> dict[str, float]:
    kafka = engage.settings.kafka
    sent_at: dict[str, float] = {}
    sent_wall: dict[str, float] = {}
    arrived: dict[str, float] = {}
    # Per probe: when its action was decided (the shard's clock) and when the action's
    # record reached the broker (its timestamp), for the latency of each hop.
    decided: dict[str, float] = {}
    on_topic: dict[str, float] = {}
    stop = threading.Event()

    def seen(action: dict[str, Any], broker_ts: float | None) -> None:
        trigger = action.get("trigger_event_id", "")
        if trigger.startswith("probe-"):
            arrived[trigger] = time.perf_counter()
            decided[trigger] = datetime.fromisoformat(action["created_at"]).timestamp()
            if broker_ts is not None:
                on_topic[trigger] = broker_ts

    def listen_kafka() -> None:
        # A downstream consumer tuned as engage's own (see docs/kafka.md: the embedded
        # broker holds a fetch for the whole wait).
        consumer = KafkaConsumer(
            bootstrap_servers=kafka.bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        )
        parts = [
            TopicPartition(kafka.actions_topic, p)
            for p in sorted(consumer.partitions_for_topic(kafka.actions_topic) or {0})
        ]
        consumer.assign(parts)
        consumer.seek_to_end(*parts)
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=100).values():
                for record in records:
                    seen(json.loads(record.value), record.timestamp / 1000)
        consumer.close()

    if engage.settings.broker == "rabbitmq":
        # RabbitMQ stamps no arrival time of its own: the decision → topic hop is not
        # measured there, only the whole way to the listener.
        rabbitmq = engage.settings.rabbitmq
        listener = amqp.listen_actions(
            rabbitmq.require_url(),
            rabbitmq.actions_exchange,
            stop,
            lambda action: seen(action, None),
        )
    else:
        listener = threading.Thread(target=listen_kafka, daemon=True)
        listener.start()
    time.sleep(2.0)
    # Whole sessions, made before the clock starts so the load generator does not take
    # CPU from engage on a small machine; every 50th event is a probe made at send time
    # (a new customer each: rarer probes keep the mix close to the backlog's).
    traffic = LiveTraffic(customers=2000, seed=23)
    planned: list[tuple[bytes, bytes]] = []
    while len(planned) < rate * seconds:
        planned += [
            (e.actor_id.encode(), event_to_json(e)) for e in traffic.next_session(time.time())
        ]
    load = load_for(engage, linger_ms=0 if rate <= 1000 else 5)
    timings_before = shard_timings(engage.url, engage.read_key)
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < seconds:
        behind = rate * (time.monotonic() - started) - sent
        if behind < 1:
            time.sleep(0.001)
            continue
        if sent % 50 == 0:
            probe_id = f"probe-{uuid.uuid4().hex}"
            probe = ContentView(
                event_id=probe_id,
                customer_id=f"viewer-{uuid.uuid4().hex[:10]}",
                timestamp=datetime.now(UTC),
                content_id="doc-001",
                genre="documentary",
                completion=1.0,
            )
            sent_at[probe_id] = time.perf_counter()
            sent_wall[probe_id] = time.time()
            load.send(probe.actor_id.encode(), event_to_json(probe))
        else:
            load.send(*planned[sent % len(planned)])
        sent += 1
    load.close()
    time.sleep(5.0)  # also lets ingest publish its figures (every 2 s)
    timings = shard_timings(engage.url, engage.read_key)
    stop.set()
    listener.join(timeout=10)
    # Inside engage, on average over the run: a shard's batch (parse to dispatch); one
    # call to the model server through its Serve handle.
    # call to the model server through its Serve handle; an ingest cycle (a poll's
    # records sent to their shards, acknowledged, offsets committed).
    shard_batch_ms = mean_between(timings_before, timings, "batch_ms")
    scoring_trip_ms = mean_between(timings_before, timings, "scoring_ms")
    ingest_cycle_ms = mean_between(timings_before, timings, "poll_ms")
    print(
        f"  means: ingest cycle {ingest_cycle_ms:.1f} ms, shard batch {shard_batch_ms:.1f} ms,"
        f" scoring round trip {scoring_trip_ms:.1f} ms",
        file=sys.stderr,
    )
    latencies = sorted((arrived[k] - sent_at[k]) * 1000 for k in sent_at if k in arrived)
    hops = {
        "to_decision": sorted((decided[k] - sent_wall[k]) * 1000 for k in decided),
        "decision_to_topic": sorted((on_topic[k] - decided[k]) * 1000 for k in on_topic),
    }
    for name, values in hops.items():
        if values:
            print(
                f"  {name}: p50 {values[len(values) // 2]:.1f} ms, "
                f"p99 {values[min(len(values) - 1, int(0.99 * len(values)))]:.1f} ms",
                file=sys.stderr,
            )
    common = {
        "probes": len(sent_at),
        "sent_per_s": sent / seconds,
        "shard_batch_ms": shard_batch_ms,
        "scoring_trip_ms": scoring_trip_ms,
        "ingest_cycle_ms": ingest_cycle_ms,
    }
    if not latencies:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "arrived": 0, **common}
    return {
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "arrived": len(latencies),
        **common,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--light-rate", type=float, default=300.0, help="events/s of the light-load latency run"
    )
    parser.add_argument("--broker", choices=("embedded", "apache", "rabbitmq"), default="embedded")
    parser.add_argument(
        "--workload",
        choices=("sessions", "interleaved"),
        default="sessions",
        help="new customers with whole sessions, or long-lived customers' events "
        "interleaved (bench/_workloads.py)",
    )
    parser.add_argument(
        "--customers", type=int, default=2000, help="interleaved: the population's size"
    )
    parser.add_argument(
        "--history-days", type=float, default=90.0, help="interleaved: their history's length"
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        overrides: dict[str, Any] = {}
        if args.broker == "apache":
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests import apache_kafka

            kafka_server = apache_kafka.start()
            stack.callback(kafka_server.stop)
            overrides["kafka"] = {"bootstrap": kafka_server.bootstrap}
        if args.broker == "rabbitmq":
            overrides["broker"] = "rabbitmq"  # running_engage starts a node of its own
        settings = load_settings(**overrides)
        figures = measure(stack.enter_context(running_engage(settings, train_customers=400)), args)
    figures["broker"] = args.broker
    print(json.dumps(figures))


def measure(engage: Any, args: argparse.Namespace) -> dict[str, Any]:
    settings = engage.settings
    kafka = engage.settings.kafka
    load = load_for(engage)
    # The workload is made before the clock starts: the load generator's Python must not
    # take the CPU engage is measured on.
    if args.workload == "interleaved":
        people = workloads.population(args.customers, args.history_days)
        print(f"sending {len(people.history):,} events of history first", file=sys.stderr)
        base = settled(engage.url, engage.read_key)
        send_all(load, people.history)
        caught_up(engage, base, len(people.history))
        records = workloads.interleaved(people, args.events)
    else:
        traffic = LiveTraffic(customers=5000, seed=19)
        send_all(load, workloads.sessions(traffic, 2000))  # warm up
        records = workloads.sessions(traffic, args.events)
    time.sleep(8.0)
    base = processed(engage.url, engage.read_key)
    started = time.perf_counter()
    machine, own, processes = machine_cpu_s(), own_cpu_s(), process_cpu.snapshot()
    send_all(load, records)
    load.close()
    count = len(records)
    # The shards' own count, read live (ingest publishes its figures every 2 s): every
    # record of the workload is valid.
    while processed(engage.url, engage.read_key) - base < count:
        time.sleep(0.2)
    engage_rate = count / (time.perf_counter() - started)
    cpu_us = ((machine_cpu_s() - machine) - (own_cpu_s() - own)) / count * 1e6
    parts = process_cpu.by_part(processes, process_cpu.snapshot())
    parts.pop(process_cpu.OTHER, None)  # the load generator (this process) and the rest
    cpu_by_part = {part: round(s / count * 1e6, 1) for part, s in sorted(parts.items())}
    print(f"CPU µs per event by part: {cpu_by_part}", file=sys.stderr)
    if settings.broker == "rabbitmq":
        rabbitmq = settings.rabbitmq
        bare = amqp.bare_rate(
            rabbitmq.require_url(), records, rabbitmq.events_queues, rabbitmq.prefetch
        )
    else:
        bare = bare_kafka_rate(kafka.bootstrap or "", kafka.events_topic, count)
    print(
        f"engage {engage_rate:,.0f} events/s; bare consume {bare:,.0f} records/s",
        file=sys.stderr,
    )
    light = latency_run(engage, args.light_rate, args.seconds)
    print(
        f"at {light['sent_per_s']:,.0f} events/s: p50 {light['p50_ms']:.1f} ms, "
        f"p99 {light['p99_ms']:.1f} ms",
        file=sys.stderr,
    )
    latency = latency_run(engage, 0.7 * engage_rate, args.seconds)
    print(
        f"at {latency['sent_per_s']:,.0f} events/s (70%): p50 {latency['p50_ms']:.1f} ms, "
        f"p99 {latency['p99_ms']:.1f} ms ({latency['arrived']} of {latency['probes']} probes)",
        file=sys.stderr,
    )
    return {
        "benchmark": "throughput",
        "workload": args.workload,
        "max_poll_records": settings.kafka.max_poll_records,
        "shard_scoring": settings.serve.shard_scoring,
        "fetch_max_wait_ms": settings.kafka.fetch_max_wait_ms,
        "events": count,
        "events_per_s": round(engage_rate, 1),
        "bare_consume_per_s": round(bare, 1),
        "ratio": round(engage_rate / bare, 3),
        "cpu_us_per_event": round(cpu_us, 1),
        "cpu_us_per_event_by_part": cpu_by_part,
        "load_events_per_s": round(latency["sent_per_s"], 1),
        "p50_ms": round(latency["p50_ms"], 2),
        "p99_ms": round(latency["p99_ms"], 2),
        "light_load_events_per_s": round(light["sent_per_s"], 1),
        "p50_light_ms": round(light["p50_ms"], 2),
        "p99_light_ms": round(light["p99_ms"], 2),
        "shard_batch_light_ms": round(light["shard_batch_ms"], 2),
        "scoring_trip_light_ms": round(light["scoring_trip_ms"], 2),
        "ingest_cycle_light_ms": round(light["ingest_cycle_ms"], 2),
        "probes": latency["probes"],
        "probes_answered": latency["arrived"],
        "target_events_per_s": 20_000,
        "target_p50_ms": 25,
        "target_p99_ms": 100,
        "target_p50_light_ms": 10,
    }


if __name__ == "__main__":
    main()
