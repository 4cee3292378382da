"""Run the seeded stream twice, undisturbed and under the fault schedule, and compare.

The schedule, each fault injected while a new part of the stream arrives:

1. every Redis client connection killed, three times in a row;
2. Redis paused (SIGSTOP) for longer than every client timeout, then resumed;
3. a shard process SIGKILLed (Ray restarts it);
4. an ingest replica SIGKILLed (Serve restarts it; the group hands its partitions over);
5. a slot move: one shard added live (`engage scale`), retired again at the end;
6. the broker stopped and restarted (only where a restart keeps the log: Apache Kafka).

Hostile records are mixed into every part. Expected: the same final state for every
customer, the same actions, none twice on the actions topic, every hostile record on the
dead-letter topic with its reason, and ingest moving again soon after each fault ends.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from kafka import KafkaProducer

from actors.model.events import Event, event_to_json
from engage import explain
from engage.chaos import observe
from engage.chaos.injectors import (
    FaultLog,
    kill_process,
    kill_redis_clients,
    pause_process,
)
from engage.chaos.stream import Hostile, StreamSpec, hostile_records, huge_cart, stream
from engage.settings import Settings


class Broker(Protocol):
    def stop_for(self, seconds: float, during: Callable[[], None]) -> None:
        """Stop the broker, run `during`, wait out `seconds`, start it with its log kept."""
        ...


@dataclass
class Target:
    """A running engage and the handles the faults need."""

    settings: Settings
    redis_pid: int
    shard_pid: Callable[[int], int]
    ingest_pid: Callable[[], int]
    scale: Callable[[int], Any]
    broker: Broker | None = None
    redis_pause_s: float = 12.0
    broker_down_s: float = 30.0


@dataclass
class Report:
    events: int = 0
    customers: int = 0
    faults_injected: int = 0
    faults: list[str] = field(default_factory=list)
    lost_events: int = 0
    double_applied: int = 0
    states_differing: int = 0
    expected_actions: int = 0
    missing_actions: int = 0
    unexpected_actions: int = 0
    duplicate_actions: int = 0
    hostile_sent: int = 0
    dlq_hostile: int = 0
    hostile_missing: list[str] = field(default_factory=list)
    max_cart_lines: int = 0
    max_stall_s: float = 0.0
    stalls_s: dict[str, float] = field(default_factory=dict)
    calm_s: float = 0.0
    faulty_s: float = 0.0
    first_difference: str = ""
    # A few of the actions that differ, to say which (customer, rule, trigger, type, offer).
    unexpected_examples: list[str] = field(default_factory=list)
    missing_examples: list[str] = field(default_factory=list)
    difference_traces: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def produce(settings: Settings, items: Sequence[Event | Hostile]) -> int:
    """Send records to the events topic, keyed like engage's producers; returns how many."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap,
        acks="all",
        linger_ms=5,
        max_request_size=2 * 1024 * 1024,
        retries=10,
    )
    try:
        for item in items:
            if isinstance(item, Hostile):
                producer.send(settings.kafka.events_topic, key=item.key, value=item.value)
            else:
                producer.send(
                    settings.kafka.events_topic,
                    key=item.actor_id.encode(),
                    value=event_to_json(item),
                )
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=5)
    return len(items)


def _parts(items: list[Any], n: int) -> list[list[Any]]:
    size = -(-len(items) // n)
    return [items[i * size : (i + 1) * size] for i in range(n)]


def run(target: Target, spec: StreamSpec, say: Callable[[str], None] = print) -> Report:
    settings = target.settings
    report = Report(customers=spec.customers)
    now = time.time()
    per_customer = spec.events_per_customer

    # 1. the undisturbed run
    started = time.monotonic()
    produce(settings, stream("calm-", spec, now))
    calm_states = observe.wait_until_applied(
        settings, "calm-", spec.customers, per_customer, timeout_s=300
    )
    report.calm_s = time.monotonic() - started
    say(f"undisturbed run applied in {report.calm_s:.1f}s")
    calm_actions = observe.actions(settings, "calm-")
    expected = Counter(observe.comparable(a, "calm-") for a in calm_actions)
    report.expected_actions = sum(expected.values())

    # 2. the same stream for other customers, under the fault schedule
    events = stream("fault-", spec, now)
    report.events = len(events)
    hostile = hostile_records("fault-")
    report.hostile_sent = len(hostile)
    faults: list[tuple[str, Callable[[Callable[[], None]], None]]] = [
        ("redis clients killed", lambda during: _kill_clients(target, during)),
        (
            "redis paused",
            lambda during: pause_process(target.redis_pid, target.redis_pause_s, during),
        ),
        ("shard killed", _then(lambda: kill_process(target.shard_pid(0)))),
        ("ingest killed", _then(lambda: kill_process(target.ingest_pid()))),
        ("slot move", _then(lambda: target.scale(settings.actors.shards + 1))),
    ]
    if target.broker is not None:
        broker = target.broker
        faults.append(
            ("broker stopped", lambda during: broker.stop_for(target.broker_down_s, during))
        )
    parts = _parts(events, len(faults) + 2)
    bad_parts = _parts([*hostile, *huge_cart("fault-")], len(faults) + 2)
    progress = observe.Progress(settings.kafka).start()
    time.sleep(1.0)
    base = progress.samples[-1][1] if progress.samples else 0
    produced = base
    log = FaultLog()
    started = time.monotonic()
    try:
        produced += produce(settings, [*parts[0], *bad_parts[0]])
        for index, (name, fault) in enumerate(faults, start=1):
            sent: list[int] = []

            def during(index: int = index, sent: list[int] = sent) -> None:
                # Broker faults cannot produce while the broker is down: they call this
                # before stopping it.
                sent.append(produce(settings, [*parts[index], *bad_parts[index]]))

            began = time.monotonic()
            fault(during)
            ended = time.monotonic()
            produced += sum(sent)
            log.record(name, began, ended)
            say(f"fault: {name} ({ended - began:.1f}s)")
            time.sleep(2.0)
        produced += produce(settings, [*parts[-1], *bad_parts[-1]])
        faulty_states = observe.wait_until_applied(
            settings, "fault-", spec.customers, per_customer, timeout_s=420
        )
        report.faulty_s = time.monotonic() - started
        say(f"disturbed run applied in {report.faulty_s:.1f}s")
        _wait_committed(progress, produced, timeout_s=120)
    finally:
        progress.stop()
        try:
            target.scale(settings.actors.shards)
        except Exception as error:  # the comparison below still stands
            say(f"could not scale back: {error!r}")
    report.faults = log.names
    report.faults_injected = len(log.faults)
    for name, _, ended in log.faults:
        report.stalls_s[name] = round(progress.stall_after(ended, produced), 2)
    report.max_stall_s = max(report.stalls_s.values(), default=0.0)

    # 3. compare states
    for key, calm in calm_states.items():
        faulty = faulty_states[key]
        calm_n, faulty_n = calm.get("events_total", 0), faulty.get("events_total", 0)
        report.lost_events += max(0, calm_n - faulty_n)
        report.double_applied += max(0, faulty_n - calm_n)
        if calm != faulty:
            report.states_differing += 1
            if not report.first_difference:
                diff = {
                    k: (calm.get(k), faulty.get(k))
                    for k in set(calm) | set(faulty)
                    if calm.get(k) != faulty.get(k)
                }
                report.first_difference = f"{key}: {diff}"[:2000]
    report.max_cart_lines = _cart_lines(settings)

    # 4. compare actions, by what they are and by idempotency key. The undisturbed run's
    # actions are read again first: one that reached the topic after its first read went
    # quiet (a slow moment of a loaded machine) is late, not missing, and would otherwise
    # count as unexpected here. An action the undisturbed run never took still does.
    calm_actions = observe.actions(settings, "calm-", at_least=report.expected_actions)
    expected = Counter(observe.comparable(a, "calm-") for a in calm_actions)
    if sum(expected.values()) != report.expected_actions:
        say(f"{sum(expected.values()) - report.expected_actions} undisturbed actions came late")
        report.expected_actions = sum(expected.values())
    faulty_actions = observe.actions(settings, "fault-", at_least=report.expected_actions)
    faulty_actions = [a for a in faulty_actions if not a["customer_id"].endswith("bigcart")]
    got = Counter(observe.comparable(a, "fault-") for a in faulty_actions)
    report.missing_actions = sum((expected - got).values())
    report.unexpected_actions = sum((got - expected).values())
    missing = list((expected - got).elements())[:3]
    unexpected = list((got - expected).elements())[:3]
    report.missing_examples = [repr(a) for a in missing]
    report.unexpected_examples = [repr(a) for a in unexpected]
    # How each run decided the first differing trigger: the customers' decision traces.
    for customer, _, trigger, *_ in [*missing, *unexpected][:1]:
        for run in ("calm-", "fault-"):
            turns = explain.read(settings, run + customer, 200)
            report.difference_traces[run] = [t for t in turns if t.get("trigger_id") == trigger]
    keys = Counter(a["idempotency_key"] for a in faulty_actions)
    report.duplicate_actions = sum(n - 1 for n in keys.values() if n > 1)

    # 5. every hostile record on the dead-letter topic, with a reason
    reasons = observe.dead_letters(settings, {h.key for h in hostile})
    report.dlq_hostile = sum(1 for h in hostile if reasons.get(h.key))
    report.hostile_missing = [h.name for h in hostile if not reasons.get(h.key)]
    return report


def _then(action: Callable[[], object]) -> Callable[[Callable[[], None]], None]:
    """A fault that happens at once; the next part of the stream arrives right after."""

    def fault(during: Callable[[], None]) -> None:
        action()
        during()

    return fault


def _kill_clients(target: Target, during: Callable[[], None]) -> None:
    url = target.settings.redis.url or ""
    kill_redis_clients(url)
    during()
    for _ in range(2):
        time.sleep(0.5)
        kill_redis_clients(url)


def _wait_committed(progress: observe.Progress, produced: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if progress.samples and progress.samples[-1][1] >= produced:
            return
        time.sleep(0.5)


def _cart_lines(settings: Settings) -> int:
    state = observe.customer_state(settings, "fault-bigcart")
    return len(state.get("cart") or {})
