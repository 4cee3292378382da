"""The seeded stream both runs produce, and the hostile records mixed into the second.

Both runs get the same events for customers of their own (the prefix differs), so their
final states and actions can be compared customer by customer.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass

from actors.model.events import Event
from training.synthetic import Behaviour


@dataclass(frozen=True)
class StreamSpec:
    customers: int = 2000
    events_per_customer: int = 10
    seed: int = 5
    # Event times start this long before now, so every event is inside the event-time
    # bounds (a stream generated now must still be in bounds when it is consumed).
    start_ago_s: float = 30 * 86_400.0


def customer_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:05d}"


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
