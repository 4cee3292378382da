"""The seeded stream both runs produce, and the hostile records mixed into the second.

Both runs get the same events for customers of their own (the prefix differs), so their
final states and actions can be compared customer by customer. Besides customers with a
few sessions each, a run has what a real deployment meets:

- visitors who browse anonymously and then sign in: some before the faults start (their
  merged customers go on under the faults), some while the faults run (the merge itself
  under faults). A visitor's browsing is applied before its sign-in is sent, so each
  merge takes the same history in both runs;
- veterans: customers with months of history, hundreds of events each (the most ids a
  customer keeps for dedup, the largest states).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from actors.model.events import Alias, Chargeback, Event, FraudReport
from training.synthetic import Behaviour, Traits


@dataclass(frozen=True)
class StreamSpec:
    customers: int = 2000
    events_per_customer: int = 10
    seed: int = 5
    # Event times start this long before now, so every event is inside the event-time
    # bounds (a stream generated now must still be in bounds when it is consumed).
    start_ago_s: float = 30 * 86_400.0
    # Visitors who sign in before the faults (their customers go on under them), and
    # visitors who sign in while the faults run; each browses `visitor_events` first.
    linked_before: int = 100
    linked_during: int = 100
    visitor_events: int = 6
    # Customers with months of history.
    veterans: int = 40
    veteran_events: int = 250
    veteran_days: float = 120.0


def customer_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:05d}"


def linked_id(prefix: str, n: int) -> str:
    """The customer a visitor signs in as."""
    return f"{prefix}L{n:05d}"


def visitor_id(prefix: str, n: int) -> str:
    """A visitor's anonymous id (its actor is `anon:` + this)."""
    return f"{prefix}V{n:05d}"


def veteran_id(prefix: str, n: int) -> str:
    return f"{prefix}H{n:05d}"


def counted(event: Event) -> bool:
    """Whether applying `event` counts in `events_total` (CustomerState.apply)."""
    return not isinstance(event, FraudReport | Chargeback | Alias)


@dataclass
class Run:
    """One run's records: what arrives before the faults (and is waited for), what arrives
    under them, and what every compared customer counts once all is applied."""

    visits: list[Event]
    early_links: list[Event]
    events: list[Event]
    # Actor id without the run's prefix -> its `events_total` once everything is applied.
    expected: dict[str, int]
    # Visitor actor id (`anon:...`) without the prefix -> the customer it is merged into.
    links: dict[str, str]


def run_stream(prefix: str, spec: StreamSpec, now: float | None = None) -> Run:
    """Everything a run sends, seeded: the same for every prefix but for the ids."""
    clock = now if now is not None else time.time()
    events = stream(prefix, spec, clock)
    expected = {customer_id("", n): spec.events_per_customer for n in range(spec.customers)}
    rng = random.Random(spec.seed + 1)
    behaviour = Behaviour(rng)
    start = clock - spec.start_ago_s
    start -= start % 86_400
    visits: list[Event] = []
    early: list[Event] = []
    links: dict[str, str] = {}
    for n in range(spec.linked_before + spec.linked_during):
        customer = linked_id(prefix, n)
        traits = behaviour.traits(customer)
        visitor = visitor_id(prefix, n)
        at = start + rng.uniform(0, 3600)
        browsing = _sessions(behaviour, rng, traits, at, spec.visitor_events)
        visits += [_as_visitor(e, visitor) for e in browsing]
        sign_in = behaviour.identify(traits, browsing[-1].ts + 60).model_copy(
            update={"anonymous_id": visitor}
        )
        total = sum(counted(e) for e in browsing) + 1
        if n < spec.linked_before:
            early.append(sign_in)
            own = _sessions(behaviour, rng, traits, sign_in.ts + 3600, spec.events_per_customer)
            events += own
            total += sum(counted(e) for e in own)
        else:
            events.append(sign_in)
        expected[linked_id("", n)] = total
        links[f"anon:{visitor_id('', n)}"] = linked_id("", n)
    history = clock - spec.veteran_days * 86_400
    for n in range(spec.veterans):
        traits = behaviour.traits(veteran_id(prefix, n))
        own = []
        at = history + rng.uniform(0, 3600)
        gap = spec.veteran_days * 86_400 / max(1, spec.veteran_events / 8)
        while len(own) < spec.veteran_events:
            own += behaviour.session(traits, at)
            at = own[-1].ts + rng.uniform(0.5, 1.5) * gap
        own = _ending_before(own[: spec.veteran_events], clock - 3600)
        events += own
        expected[veteran_id("", n)] = sum(counted(e) for e in own)
    events.sort(key=lambda e: e.ts)
    visits.sort(key=lambda e: e.ts)
    return Run(visits, early, events, expected, links)


def _sessions(
    behaviour: Behaviour, rng: random.Random, traits: Traits, at: float, count: int
) -> list[Event]:
    out: list[Event] = []
    while len(out) < count:
        out += behaviour.session(traits, at)
        at = out[-1].ts + rng.uniform(1800, 86_400)
    return out[:count]


def _ending_before(events: list[Event], end: float) -> list[Event]:
    """The history moved back in time, if need be, to end before `end` (an event ahead of
    its arrival is refused by the event-time bounds)."""
    late = events[-1].ts - end
    if late <= 0:
        return events
    return [
        e.model_copy(update={"timestamp": e.timestamp - timedelta(seconds=late)}) for e in events
    ]


def _as_visitor(event: Event, visitor: str) -> Event:
    return event.model_copy(update={"customer_id": None, "anonymous_id": visitor})


def stream(prefix: str, spec: StreamSpec, now: float | None = None) -> list[Event]:
    """`spec.customers` x `spec.events_per_customer` events in event-time order."""
    rng = random.Random(spec.seed)
    behaviour = Behaviour(rng)
    start = (now if now is not None else time.time()) - spec.start_ago_s
    start -= start % 86_400  # the same day boundary for both runs of one process
    events: list[Event] = []
    for n in range(spec.customers):
        traits = behaviour.traits(customer_id(prefix, n))
        own: list[Event] = []
        at = start + rng.uniform(0, 3600)
        while len(own) < spec.events_per_customer:
            own += behaviour.session(traits, at)
            at = own[-1].ts + rng.uniform(1800, 86_400)
        events += own[: spec.events_per_customer]
    rng.shuffle(events)  # interleave customers; each customer's order is restored below
    events.sort(key=lambda e: e.ts)
    return events


@dataclass(frozen=True)
class Hostile:
    """A record that must land on the dead-letter topic, keyed `hostile-<name>`."""

    name: str
    value: bytes | None

    @property
    def key(self) -> bytes:
        return f"hostile-{self.name}".encode()


def _event(prefix: str, kind: str, n: int, **fields: object) -> dict[str, object]:
    return {
        "type": kind,
        "event_id": f"hostile-{kind}-{n}",
        "customer_id": f"{prefix}hostile",
        "timestamp": "2026-01-01T00:00:00Z",
        **fields,
    }


def hostile_records(prefix: str) -> list[Hostile]:
    """Records a public write key or a broken producer could send, each refused alone."""
    payment = {"payment_id": "hp", "amount": 10.0, "merchant": "Shop", "country": "US"}
    records = [
        Hostile(
            f"far-future-{n}",
            json.dumps(
                _event(prefix, "card_payment", n, **payment, timestamp="9999-12-31T23:59:59-05:00")
            ).encode(),
        )
        for n in range(5)
    ]
    records += [
        Hostile(
            "ancient",
            json.dumps(_event(prefix, "page_view", 0, timestamp="0001-01-01T00:00:00Z")).encode(),
        ),
        Hostile(
            "bad-time-zone", json.dumps(_event(prefix, "identify", 0, timezone="America")).encode()
        ),
        Hostile(
            "huge-value",
            json.dumps(_event(prefix, "page_view", 1, title="x" * 1_000_000)).encode(),
        ),
        Hostile("invalid-utf8", b'{"type": "page_view", "event_id": "\xff\xfe", "x": "\xc3\x28"}'),
        Hostile("deep-json", b"[" * 100_000 + b"]" * 100_000),
        Hostile("not-json", b"<html>not an event</html>"),
        Hostile("empty", None),
        Hostile(
            "huge-purchase",
            json.dumps(
                _event(
                    prefix,
                    "purchase",
                    0,
                    order_id="o1",
                    total=1.0,
                    items=[
                        {"product_id": f"p{i}", "category": "toys", "price": 1.0}
                        for i in range(5000)
                    ],
                )
            ).encode(),
        ),
    ]
    return records


def huge_cart(prefix: str, lines: int = 400) -> list[Event]:
    """Valid events that would grow one customer's cart without bound: applied, but the
    cart (and the reminder built from it) stays within its limits."""
    from actors.model.events import event_from_dict

    base = time.time() - 60
    return [
        event_from_dict(
            {
                "type": "cart_add",
                "event_id": f"{prefix}cart-{i}",
                "customer_id": f"{prefix}bigcart",
                "timestamp": base + i * 0.01,
                "product_id": f"p{i}",
                "category": "toys",
                "price": 1.0,
                "quantity": 1000,
            }
        )
        for i in range(lines)
    ]
