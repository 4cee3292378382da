"""The demo's live traffic: endless sessions of the synthetic population, stamped now, and
the outcomes that follow them later.

It reuses `training.synthetic.Behaviour`, so the live models see the traffic they were
trained for, and the live topic can teach a model something: a share of fraudulent
payments is reported (a fraud report within hours, or a chargeback within days), and
offers shown on the site are clicked and converted as the customers' hidden preferences
say. With `takeover_share`, that share of the banking customers' sessions are account
takeovers (failed logins, then ordinary payments): the drift the first models never saw.
With `lapsed_share`, that share of the customers arrive lapsed: their history (an
identify and a session 60 to 120 days back, as the generated history's dormant customers
have) comes before their first live session, so that session is a return after months
away, which the default rules answer with a win-back offer (`welcome_back`); those who
would come back (`winback_truth`) buy again, after their own rhythm of visits.
The outcomes' delays are the history's, multiplied by `outcome_delay_scale` (the demo
clock: at the default a week's reporting delay passes in about 100 s). The truth
(`fraud_truth`, `offer_truth`, `takeover_truth`, `winback_truth`) stays here, for
benchmarks and tests; the events carry only what a bank or a site would learn.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterator

from actors.model.catalog import OFFERS
from actors.model.events import CardPayment, Event, OfferFeedback
from actors.model.labels import FRAUD
from training.synthetic import Behaviour, Traits, iso_time

# A week (the longest a chargeback takes) in about 100 s.
DEMO_DELAY_SCALE = 1 / 6000
# Sessions that end with an offer shown on the site, and clicks that go on to buy.
OFFER_SHOWN_SHARE = 0.3
CONVERTED_SHARE = 0.4
# The demo's share of customers who arrive lapsed (the generated history's dormant share).
LAPSED_SHARE = 0.1
# How long ago a lapsed customer was last seen, in days (the history's dormant gaps).
LAPSED_DAYS = (60.0, 120.0)


class LiveTraffic:
    """An endless stream of events stamped with the current time, for the demo.

    Customers come back session after session (the same traits), so their actors build
    real context; now and then a card is compromised.
    """

    def __init__(
        self,
        customers: int = 1000,
        seed: int = 11,
        fraud_rate: float = 0.01,
        outcome_delay_scale: float = DEMO_DELAY_SCALE,
        reported_share: float = 0.95,
        takeover_share: float = 0.0,
        run_id: str | None = None,
        lapsed_share: float = 0.0,
    ) -> None:
        self.rng = random.Random(seed)
        self.behaviour = Behaviour(self.rng)
        # The population is the seed's whatever the run: the demo's models know it.
        self.population = [self.behaviour.traits(f"c{n:06d}") for n in range(customers)]
        if run_id is not None:
            # A run of its own: other sessions, and event ids no other run sends.
            self.rng.seed(f"{seed}:{run_id}")
            self.behaviour.tag = f"{run_id}-"
        # Lapses draw from a generator of their own: with none, the traffic is exactly
        # what the seed made it before lapses existed.
        self.lapsed_share = lapsed_share
        self._lapses = Behaviour(
            random.Random(f"{seed}:lapses:{run_id}"), tag=f"{self.behaviour.tag}w"
        )
        self.fraud_rate = fraud_rate
        self.takeover_share = takeover_share
        self.outcome_delay_scale = outcome_delay_scale
        self.reported_share = reported_share
        self.introduced: set[str] = set()
        # Outcomes not due yet: (due time, order, event).
        self._later: list[tuple[float, int, Event]] = []
        self._order = itertools.count()
        # The truth, never sent: payment id -> fraudulent; (customer, offer) -> taken.
        self.fraud_truth: dict[str, bool] = {}
        self.offer_truth: list[tuple[str, str, bool]] = []
        self.takeover_truth: set[str] = set()
        # Lapsed customer -> buys again after their return.
        self.winback_truth: dict[str, bool] = {}

    def next_session(self, now: float) -> list[Event]:
        """One customer's next session, compressed so that it ends at `now`."""
        traits = self.rng.choice(self.population)
        events: list[Event] = []
        past: list[Event] = []  # a lapsed customer's history, sent as it happened
        if traits.customer_id not in self.introduced:
            self.introduced.add(traits.customer_id)
            if self.lapsed_share and self._lapses.rng.random() < self.lapsed_share:
                past = self._lapsed(traits, now)
            else:
                events.append(self.behaviour.identify(traits, now - 3600))
        banking = "banking" in traits.domains
        takeover = banking and self.rng.random() < self.takeover_share
        fraudulent = takeover or (banking and self.rng.random() < self.fraud_rate * 5)
        if takeover:
            events += self.behaviour.takeover(traits, now)
        elif fraudulent:
            events += self.behaviour.fraud(traits, now)
        else:
            events += self.behaviour.session(traits, now)
        session = _compress(events, now)
        if past:
            self._returned(traits, now)
        for event in session:
            if isinstance(event, CardPayment):
                self.fraud_truth[event.payment_id] = fraudulent
                if takeover:
                    self.takeover_truth.add(event.payment_id)
                if fraudulent and self.rng.random() < self.reported_share:
                    self._later_outcome(self.behaviour.reported(event, FRAUD.window_s), event.ts)
        if not fraudulent and self.rng.random() < OFFER_SHOWN_SHARE:
            session += self._offer_shown(traits, session, now)
        return past + session

    def due(self, now: float) -> list[Event]:
        """The outcomes whose time has come, in time order."""
        out = []
        while self._later and self._later[0][0] <= now:
            out.append(heapq.heappop(self._later)[2])
        return out

    @property
    def pending(self) -> int:
        return len(self._later)

    def _offer_shown(self, traits: Traits, session: list[Event], now: float) -> list[Event]:
        """An offer the site shows as the session ends; the click and the purchase that
        follow if the customer takes it (their hidden preference decides)."""
        offer = self.rng.choice(OFFERS)
        engaged = min(len(session) / 5.0, 1.0)
        taken = self.behaviour.accepts(traits, offer, engaged)
        self.offer_truth.append((traits.customer_id, offer.offer_id, taken))
        shown, *clicked = self.behaviour.feedback(traits.customer_id, offer.offer_id, now, taken)
        for click in clicked:
            self._later_outcome(click, now)
            if self.rng.random() < CONVERTED_SHARE:
                converted = OfferFeedback(
                    event_id=f"{click.event_id}-c",
                    customer_id=traits.customer_id,
                    timestamp=iso_time(click.ts + self.rng.uniform(60, 3_600)),
                    outcome="converted",
                    offer_id=offer.offer_id,
                    value=offer.value,
                )
                self._later_outcome(converted, now)
        return [shown]

    def _lapsed(self, traits: Traits, now: float) -> list[Event]:
        """A lapsed customer's history: identified, one session, then months of quiet."""
        lapses = self._lapses
        last_seen = now - lapses.rng.uniform(*LAPSED_DAYS) * 86_400
        return [lapses.identify(traits, last_seen - 60), *lapses.session(traits, last_seen)]

    def _returned(self, traits: Traits, now: float) -> None:
        """A lapsed customer is back (engage offers a win-back now); if they would come
        back for good, their next order follows on the demo clock."""
        lapses = self._lapses
        comes_back = lapses.comes_back(traits)
        self.winback_truth[traits.customer_id] = comes_back
        if comes_back:
            at = now + lapses.days_to_return(traits) * 86_400
            self._later_outcome(lapses.purchase(traits, at), now)

    def _later_outcome(self, event: Event, since: float) -> None:
        """Queue `event` at its delay after `since`, on the demo clock."""
        due = since + max(0.0, event.ts - since) * self.outcome_delay_scale
        stamped = event.model_copy(update={"timestamp": iso_time(due)})
        heapq.heappush(self._later, (due, next(self._order), stamped))

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
