"""The demo's live traffic: endless sessions of the synthetic population, stamped now.

It reuses `training.synthetic.Behaviour`, so the live models see the traffic they were
trained for.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from actors.model.events import Event
from training.synthetic import Behaviour, iso_time


class LiveTraffic:
    """An endless stream of events stamped with the current time, for the demo.

    Customers come back session after session (the same traits), so their actors build
    real context; now and then a card is compromised.
    """

    def __init__(self, customers: int = 1000, seed: int = 11, fraud_rate: float = 0.01) -> None:
        self.rng = random.Random(seed)
        self.behaviour = Behaviour(self.rng)
        self.population = [self.behaviour.traits(f"c{n:06d}") for n in range(customers)]
        self.fraud_rate = fraud_rate
        self.introduced: set[str] = set()

    def next_session(self, now: float) -> list[Event]:
        """One customer's next session, compressed so that it ends at `now`."""
        traits = self.rng.choice(self.population)
        events: list[Event] = []
        if traits.customer_id not in self.introduced:
            self.introduced.add(traits.customer_id)
            events.append(self.behaviour.identify(traits, now - 3600))
        if "banking" in traits.domains and self.rng.random() < self.fraud_rate * 5:
            events += self.behaviour.fraud(traits, now)
        else:
            events += self.behaviour.session(traits, now)
        return _compress(events, now)

    def sessions(self, clock: Callable[[], float]) -> Iterator[list[Event]]:
        while True:
            yield self.next_session(clock())


def _compress(events: list[Event], now: float) -> list[Event]:
    """Squeeze a session 60-fold so that it ends now: the demo shows whole sessions live."""
    if not events:
        return events
    last = events[-1].ts
    out = []
    for event in events:
        at = now - (last - event.ts) / 60.0
        out.append(event.model_copy(update={"timestamp": iso_time(at)}))
    return out
