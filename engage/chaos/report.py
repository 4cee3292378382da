"""What the fault schedule reports: the comparison of the disturbed run with the
undisturbed one, field by field (engage/chaos/schedule.py fills it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Report:
    events: int = 0
    customers: int = 0
    faults_injected: int = 0
    faults: list[str] = field(default_factory=list)
    lost_events: int = 0
    double_applied: int = 0
    states_differing: int = 0
    # Visitors merged into customers in the disturbed run, and merges that differ.
    merges: int = 0
    merges_differing: int = 0
    # The largest saved state of a compared customer (bytes).
    max_state_bytes: int = 0
    expected_actions: int = 0
    missing_actions: int = 0
    unexpected_actions: int = 0
    duplicate_actions: int = 0
    # Event to action (broker's timestamp) for fraud and service actions on the topic
    # whose events arrived while the faults ran.
    max_action_latency_s_under_faults: float = 0.0
    p99_action_latency_s_under_faults: float = 0.0
    # Marketing actions deferred by quiet hours, still in the outbox after both runs.
    deferred_expected: int = 0
    deferred_missing: int = 0
    deferred_unexpected: int = 0
    # Actions of the slow sink (a webhook) and the failing one (dead-lettered).
    slow_sink_expected: int = 0
    slow_sink_missing: int = 0
    slow_sink_unexpected: int = 0
    slow_sink_duplicates: int = 0
    failing_sink_expected: int = 0
    failing_sink_missing: int = 0
    failing_sink_unexpected: int = 0
    # A dead letter written by a shard killed before it cleared the action is written again
    # (with the action's idempotency key): counted apart, as for the webhook.
    failing_sink_copies: int = 0
    # The reasons both copies of a few dead letters were written with.
    failing_sink_copy_reasons: list[list[str]] = field(default_factory=list)
    # How many copies were written after each fault (before the next), where the broker
    # says when a record was written (Kafka).
    failing_sink_copies_after: dict[str, int] = field(default_factory=dict)
    hostile_sent: int = 0
    dlq_hostile: int = 0
    hostile_missing: list[str] = field(default_factory=list)
    max_cart_lines: int = 0
    # One POST /v1/events (which needs the broker only) while Redis is paused: seconds.
    collect_s_during_redis_pause: float | None = None
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
