"""The throughput benchmark's workloads, made before the clock starts.

* `sessions`: new customers, each arriving with a whole session at once (the demo's
  traffic): a batch holds many events of one customer, and every customer is new, so its
  state is small and its dedup list short.
* `interleaved`: live traffic of long-lived customers. Their months of history are sent
  through engage first (untimed), so the store holds their real states; then many
  customers' sessions run at once and their events are interleaved, so a batch holds one
  or two events per customer; a share of sessions start as an anonymous visitor who logs
  in part-way (an `alias` merges the visitor into the customer).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from actors.model.events import Alias, Event, event_to_json
from training.live_traffic import LiveTraffic
from training.synthetic import Behaviour, Traits, generate, iso_time

Record = tuple[bytes, bytes]
DAY = 86_400.0


def record(event: Event) -> Record:
    return event.actor_id.encode(), event_to_json(event)


def sessions(traffic: LiveTraffic, count: int) -> list[Record]:
    """About `count` events, whole sessions of the demo's traffic, stamped now."""
    out: list[Record] = []
    while len(out) < count:
        out += [record(e) for e in traffic.next_session(time.time())]
    return out


@dataclass
class Population:
    """Long-lived customers: their history (to send first) and who they are."""

    history: list[Record]
    traits: list[Traits]


def population(customers: int, days: float, seed: int = 29) -> Population:
    """`customers` with `days` of history (ids `h` and a number), ending a week and a day
    ago: the fraud reports that follow a payment by up to a week are not in the future."""
    start = time.time() - (days + 8) * DAY
    data = generate(customers, days, seed=seed, start=start, prefix="h")
    return Population([record(e) for e in data.events], list(data.traits.values()))


def interleaved(
    people: Population,
    count: int,
    seed: int = 31,
    at_once: int = 400,
    merge_share: float = 0.05,
) -> list[Record]:
    """About `count` events of `at_once` concurrent sessions of the population's
    customers, interleaved one event per session in turn."""
    rng = random.Random(seed)
    behaviour = Behaviour(rng)
    behaviour.tag = "live-"  # ids of its own, none the history's
    now = time.time()
    running: list[Iterator[Event]] = []
    out: list[Record] = []
    made = 0
    while len(out) < count:
        while len(running) < at_once:
            traits = rng.choice(people.traits)
            running.append(iter(_visit(behaviour, rng, traits, now, made, merge_share)))
            made += 1
        for i in range(len(running) - 1, -1, -1):
            event = next(running[i], None)
            if event is None:
                running.pop(i)
            else:
                out.append(record(event))
    return out


def _visit(
    behaviour: Behaviour,
    rng: random.Random,
    traits: Traits,
    now: float,
    n: int,
    merge_share: float,
) -> list[Event]:
    """One session of `traits`, stamped to end about now; with `merge_share` it starts as
    an anonymous visitor and the customer logs in half-way."""
    session = behaviour.session(traits, now - 600)
    stamped = [
        e.model_copy(update={"timestamp": iso_time(now - 600 + i)}) for i, e in enumerate(session)
    ]
    if rng.random() >= merge_share or len(stamped) < 2:
        return stamped
    visitor = f"visitor-{n}"
    half = len(stamped) // 2
    anonymous = [
        e.model_copy(update={"customer_id": None, "anonymous_id": visitor}) for e in stamped[:half]
    ]
    link = Alias(
        event_id=f"alias-{n}",
        customer_id=traits.customer_id,
        anonymous_id=visitor,
        timestamp=stamped[half].timestamp,
    )
    return [*anonymous, link, *stamped[half:]]
