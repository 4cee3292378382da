"""Run the seeded stream twice, undisturbed and under the fault schedule, and compare.

Each run first has its visitors browse and the early ones sign in, applied before
anything else (so every merge takes the same history in both runs); then the rest of the
stream arrives, in the second run part by part, each part under a fault:

1. every Redis client connection killed, three times in a row;
2. Redis paused (SIGSTOP) for longer than every client timeout, then resumed;
3. a shard process SIGKILLed (Ray restarts it);
4. an ingest replica SIGKILLed (Serve restarts it; its partitions or queues go over);
5. a slot move: one shard added live (`engage scale`), retired again at the end;
6. the broker stopped and restarted (where a restart keeps the log: Apache Kafka).

The stream holds visitors merged into customers before and during the faults, customers
with months of history, and customers of every kind; the rules have quiet hours on and,
where the target has them, a slow sink and a failing one beside the actions topic.
Hostile records are mixed into every part. Expected: the same final state for every
customer, the same merges, the same actions (on the topic, at the slow sink, deferred in
the outbox, dead-lettered by the failing sink), none twice, every hostile record on the
dead-letter topic with its reason, and ingest moving again soon after each fault ends.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from engage import explain
from engage.chaos import observe
from engage.chaos.channels import Channels, KafkaChannels, Record
from engage.chaos.injectors import FaultLog, kill_process, kill_redis_clients, pause_process
from engage.chaos.report import Report
from engage.chaos.stream import Run, StreamSpec, hostile_records, huge_cart, run_stream
from engage.settings import Settings

# Actions whose latency from event to action is reported under faults: those no guardrail
# holds back (marketing waits for quiet hours and caps by design).
PROMPT_KINDS = ("fraud", "service")


class Broker(Protocol):
    def stop_for(self, seconds: float, during: Callable[[], None]) -> None:
        """Stop the broker, run `during`, wait out `seconds`, start it with its log kept."""
        ...


class SinkRecorder(Protocol):
    """A receiving end of the actions a sink delivers (a webhook server)."""

    def received(self, prefix: str) -> list[dict[str, Any]]: ...


@dataclass
class Target:
    """A running engage and the handles the faults need."""

    settings: Settings
    redis_pid: int
    shard_pid: Callable[[int], int]
    ingest_pid: Callable[[], int]
    scale: Callable[[int], Any]
    broker: Broker | None = None
    channels: Channels | None = None
    # The webhook behind the rules' `sink: webhook` (slow), if the target has one.
    webhook: SinkRecorder | None = None
    # The rules have a rule sending to a sink that always fails (e-mail).
    failing_sink: bool = False
    redis_pause_s: float = 12.0
    broker_down_s: float = 30.0

    def channel(self) -> Channels:
        return self.channels or KafkaChannels(self.settings.kafka)


def _parts(items: list[Any], n: int) -> list[list[Any]]:
    size = -(-len(items) // n)
    return [items[i * size : (i + 1) * size] for i in range(n)]


def _prepare(
    target: Target, channels: Channels, prefix: str, run: Run, say: Callable[[str], None]
) -> None:
    """Visitors browse, then the early ones sign in; each step applied before the next."""
    settings = target.settings
    channels.produce(run.visits)
    visited = Counter("anon:" + e.actor_id.removeprefix("anon:" + prefix) for e in run.visits)
    _wait_applied(settings, prefix, dict(visited), say)
    channels.produce(run.early_links)
    signed = {e.customer_id.removeprefix(prefix): 1 for e in run.early_links if e.customer_id}
    _wait_applied(settings, prefix, signed, say)


def _wait_applied(
    settings: Settings, prefix: str, expected: dict[str, int], say: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    found = observe.wait_until_applied(settings, prefix, expected, timeout_s=300)
    short = [a for a, n in expected.items() if found[a].get("events_total", 0) < n]
    if short:
        say(f"{len(short)} of {prefix}'s actors short of their events, e.g. {short[:3]}")
    return found


def run(target: Target, spec: StreamSpec, say: Callable[[str], None] = print) -> Report:
    settings = target.settings
    channels = target.channel()
    now = time.time()
    calm_run, faulty_run = run_stream("calm-", spec, now), run_stream("fault-", spec, now)
    report = Report(customers=len(calm_run.expected))

    # 1. the undisturbed run
    started = time.monotonic()
    _prepare(target, channels, "calm-", calm_run, say)
    channels.produce(calm_run.events)
    calm_states = _wait_applied(settings, "calm-", calm_run.expected, say)
    report.calm_s = time.monotonic() - started
    say(f"undisturbed run applied in {report.calm_s:.1f}s")
    calm_actions = channels.actions("calm-")
    report.expected_actions = len(calm_actions)

    # 2. the same stream for other customers, under the fault schedule
    _prepare(target, channels, "fault-", faulty_run, say)
    events = faulty_run.events
    report.events = len(events) + len(faulty_run.visits) + len(faulty_run.early_links)
    hostile = hostile_records("fault-")
    report.hostile_sent = len(hostile)
    faults: list[tuple[str, Callable[[Callable[[], None]], None]]] = [
        ("redis clients killed", lambda during: _kill_clients(target, during)),
        (
            "redis paused",
            lambda during: pause_process(
                target.redis_pid, target.redis_pause_s, _and_collect(target, report, during)
            ),
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
    # When each part was on the broker: the start of its actions' event-to-action time.
    sent_at: dict[str, float] = {}

    def send(items: Sequence[Record]) -> int:
        count = channels.produce(items)
        at = time.time()
        for item in items:
            event_id = getattr(item, "event_id", None)
            if event_id is not None:
                sent_at[event_id] = at
        return count

    progress = channels.progress()
    time.sleep(1.0)
    base = progress.samples[-1][1] if progress.samples else 0
    produced = base
    log = FaultLog()
    clock_offset = time.time() - time.monotonic()  # the fault log's clock to wall time
    started = time.monotonic()
    faults_began = faults_ended = time.time()
    try:
        produced += send([*parts[0], *bad_parts[0]])
        faults_began = time.time()
        for index, (name, fault) in enumerate(faults, start=1):
            sent: list[int] = []

            def during(index: int = index, sent: list[int] = sent) -> None:
                # Broker faults cannot produce while the broker is down: they call this
                # before stopping it.
                sent.append(send([*parts[index], *bad_parts[index]]))

            began = time.monotonic()
            fault(during)
            ended = time.monotonic()
            produced += sum(sent)
            log.record(name, began, ended)
            say(f"fault: {name} ({ended - began:.1f}s)")
            time.sleep(2.0)
        faults_ended = time.time()
        produced += send([*parts[-1], *bad_parts[-1]])
        faulty_states = _wait_applied(settings, "fault-", faulty_run.expected, say)
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

    # 3. compare states, merges and sizes
    _compare_states(report, calm_states, faulty_states)
    calm_links = observe.links(settings, "calm-", calm_run.links)
    fault_links = observe.links(settings, "fault-", faulty_run.links)
    report.merges = len(fault_links)
    report.merges_differing = sum(
        1 for v in faulty_run.links if calm_links.get(v) != fault_links.get(v)
    )
    sizes = observe.state_sizes(settings, "fault-", faulty_run.expected)
    report.max_state_bytes = max(sizes.values(), default=0)
    report.max_cart_lines = _cart_lines(settings)

    # 4. compare actions, by what they are and by idempotency key. The undisturbed run's
    # actions are read again first: one that reached the topic after its first read went
    # quiet (a slow moment of a loaded machine) is late, not missing, and would otherwise
    # count as unexpected here. An action the undisturbed run never took still does.
    calm_actions = channels.actions("calm-", at_least=report.expected_actions)
    expected = Counter(observe.comparable(a, "calm-") for a, _ in calm_actions)
    if sum(expected.values()) != report.expected_actions:
        say(f"{sum(expected.values()) - report.expected_actions} undisturbed actions came late")
        report.expected_actions = sum(expected.values())
    faulty_actions = channels.actions("fault-", at_least=report.expected_actions)
    faulty_actions = [(a, t) for a, t in faulty_actions if not a["customer_id"].endswith("bigcart")]
    got = Counter(observe.comparable(a, "fault-") for a, _ in faulty_actions)
    report.missing_actions = sum((expected - got).values())
    report.unexpected_actions = sum((got - expected).values())
    missing = list((expected - got).elements())[:3]
    unexpected = list((got - expected).elements())[:3]
    report.missing_examples = [repr(a) for a in missing]
    report.unexpected_examples = [repr(a) for a in unexpected]
    # How each run decided the first differing trigger: the customers' decision traces.
    for customer, _, trigger, *_ in [*missing, *unexpected][:1]:
        for prefix in ("calm-", "fault-"):
            turns = explain.read(settings, prefix + customer, 200)
            report.difference_traces[prefix] = [t for t in turns if t.get("trigger_id") == trigger]
    keys = Counter(a["idempotency_key"] for a, _ in faulty_actions)
    report.duplicate_actions = sum(n - 1 for n in keys.values() if n > 1)
    latencies = sorted(
        at - sent_at[a["trigger_event_id"]]
        for a, at in faulty_actions
        if a["kind"] in PROMPT_KINDS
        and faults_began <= sent_at.get(a["trigger_event_id"], 0.0) <= faults_ended
    )
    if latencies:
        report.max_action_latency_s_under_faults = round(latencies[-1], 3)
        report.p99_action_latency_s_under_faults = round(
            latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 3
        )

    # 5. marketing deferred by quiet hours: the same actions still saved in both runs
    deferred_calm = Counter(
        observe.comparable(a, "calm-")
        for a in observe.outboxes(settings, "calm-")
        if a.get("kind") == "marketing"
    )
    deferred_fault = Counter(
        observe.comparable(a, "fault-")
        for a in observe.outboxes(settings, "fault-")
        if a.get("kind") == "marketing"
    )
    report.deferred_expected = sum(deferred_calm.values())
    report.deferred_missing = sum((deferred_calm - deferred_fault).values())
    report.deferred_unexpected = sum((deferred_fault - deferred_calm).values())

    # 6. the slow sink and the failing one
    if target.webhook is not None:
        received = target.webhook.received
        # A webhook cannot be asked what it has: a delivery cut by a crash is sent again
        # (a receiver dedups on the idempotency key). Compared as a receiver sees them:
        # each action once, the copies counted apart.
        calm_received = _settled(lambda: received("calm-"), _waiting(settings, "calm-", "webhook"))
        calm_hook = Counter(observe.comparable(a, "calm-") for a in _distinct(calm_received))
        fault_received = _settled(
            lambda: received("fault-"), _waiting(settings, "fault-", "webhook")
        )
        fault_hook = Counter(observe.comparable(a, "fault-") for a in _distinct(fault_received))
        report.slow_sink_expected = sum(calm_hook.values())
        report.slow_sink_missing = sum((calm_hook - fault_hook).values())
        report.slow_sink_unexpected = sum((fault_hook - calm_hook).values())
        hooks = Counter(a["idempotency_key"] for a in fault_received)
        report.slow_sink_duplicates = sum(n - 1 for n in hooks.values() if n > 1)
    if target.failing_sink:
        letter_reasons: dict[str, list[str]] = {}

        def failed(prefix: str) -> list[dict[str, Any]]:
            letters = channels.action_dead_letters(prefix)
            letter_reasons.clear()
            for action, reason in letters:
                letter_reasons.setdefault(action["idempotency_key"], []).append(reason)
            return [a for a, _ in letters if a.get("sink") == "email"]

        # Retried with backoff before it is dead-lettered: the last ones come late.
        calm_failed = Counter(
            observe.comparable(a, "calm-")
            for a in _distinct(
                _settled(lambda: failed("calm-"), _waiting(settings, "calm-", "email"))
            )
        )
        fault_letters = _settled(lambda: failed("fault-"), _waiting(settings, "fault-", "email"))
        fault_failed = Counter(observe.comparable(a, "fault-") for a in _distinct(fault_letters))
        report.failing_sink_copies = len(fault_letters) - len(_distinct(fault_letters))
        copied = [r for r in letter_reasons.values() if len(r) > 1]
        report.failing_sink_copy_reasons = copied[:5]
        report.failing_sink_copies_after = _copies_after(fault_letters, log, clock_offset)
        report.failing_sink_expected = sum(calm_failed.values())
        report.failing_sink_missing = sum((calm_failed - fault_failed).values())
        report.failing_sink_unexpected = sum((fault_failed - calm_failed).values())

    # 7. every hostile record on the dead-letter topic, with a reason
    reasons = channels.dead_letters({h.key for h in hostile})
    report.dlq_hostile = sum(1 for h in hostile if reasons.get(h.key))
    report.hostile_missing = [h.name for h in hostile if not reasons.get(h.key)]
    return report


def _settled(
    read: Callable[[], list[dict[str, Any]]],
    waiting: Callable[[], int],
    quiet_s: float = 3.0,
    timeout_s: float = 300.0,
) -> list[dict[str, Any]]:
    """What `read()` holds once nothing is `waiting` in the outboxes any more and it has
    stopped growing for `quiet_s` (a slow sink works through its backlog after the events
    are applied; a failing one retries with backoff, after a slot move once the new owner's
    grace is over), or at the deadline."""
    deadline = time.monotonic() + timeout_s
    found = read()
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        again = read()
        if len(again) != len(found):
            still_since = time.monotonic()
        found = again
        if time.monotonic() - still_since >= quiet_s and waiting() == 0:
            break
    return found


def _waiting(settings: Settings, prefix: str, sink: str) -> Callable[[], int]:
    def count() -> int:
        return sum(1 for a in observe.outboxes(settings, prefix) if a.get("sink") == sink)

    return count


def _copies_after(letters: list[dict[str, Any]], log: FaultLog, offset: float) -> dict[str, int]:
    """For each dead letter written more than once, the fault last begun before its second
    writing ("before faults" if none had)."""
    written: dict[str, list[float]] = {}
    for letter in letters:
        if "_written_at" in letter:
            written.setdefault(letter["idempotency_key"], []).append(letter["_written_at"])
    after: Counter[str] = Counter()
    for times in written.values():
        for at in sorted(times)[1:]:
            begun = [name for name, start, _ in log.faults if start + offset <= at]
            after[begun[-1] if begun else "before faults"] += 1
    return dict(after)


def _distinct(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One of each action (by idempotency key), as a receiver that dedups keeps them."""
    return list({a["idempotency_key"]: a for a in actions}.values())


def _compare_states(
    report: Report, calm_states: dict[str, dict[str, Any]], faulty_states: dict[str, dict[str, Any]]
) -> None:
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


def _and_collect(target: Target, report: Report, during: Callable[[], None]) -> Callable[[], None]:
    """`during`, then one event sent over HTTP, timed: collection needs the broker only,
    so a paused Redis must not hold it."""

    def both() -> None:
        during()
        settings = target.settings
        keys = settings.api.write_keys
        event = {
            "type": "page_view",
            "event_id": f"collect-{time.time_ns()}",
            "customer_id": "collect-probe",
            "timestamp": time.time(),
        }
        headers = {"Authorization": f"Bearer {keys[0].get_secret_value()}"} if keys else {}
        url = f"http://{settings.serve.host}:{settings.serve.port}/v1/events"
        began = time.monotonic()
        answer = requests.post(url, json={"events": [event]}, headers=headers, timeout=60)
        if answer.status_code == 200:
            report.collect_s_during_redis_pause = round(time.monotonic() - began, 3)

    return both


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


def _wait_committed(progress: Any, produced: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if progress.samples and progress.samples[-1][1] >= produced:
            return
        time.sleep(0.5)


def _cart_lines(settings: Settings) -> int:
    state = observe.customer_state(settings, "fault-bigcart")
    return len(state.get("cart") or {})
