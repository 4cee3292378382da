"""A seeded generator of realistic retail, banking and media customers.

Each customer has latent traits the models never see: preferred categories and genres,
a home country, a few devices, a usual payment size, an activity rate, a price
sensitivity. The traits drive what the customer browses and buys, what it watches, how
it pays, and which offers it accepts. Fraud is injected on some customers' cards in the
patterns fraud teams see: a burst of payments, a payment from a new country or device,
a large amount after months of dormancy. Every fraudulent payment is labelled.

The same `Behaviour` drives offline datasets (`generate`) and the live traffic of
`engage simulate` / `make demo` (`training.live_traffic`), so the demo's models see the
traffic they were trained for.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from actors.model.catalog import (
    BANKING_INTERESTS,
    MEDIA_GENRES,
    OFFERS,
    RETAIL_CATEGORIES,
    Offer,
)
from actors.model.events import (
    OUTCOME_TYPES,
    CardPayment,
    CartAdd,
    Chargeback,
    ContentView,
    Event,
    EventContext,
    FraudReport,
    Identify,
    LineItem,
    Login,
    OfferFeedback,
    PageView,
    ProductView,
    Purchase,
)
from actors.model.labels import FRAUD
from training.synthetic_world import (
    COUNTRIES,
    EVERYDAY_MERCHANTS,
    FRAUD_COUNTRIES,
    FRAUD_MERCHANTS,
    PRICE_BASE,
    PRODUCTS_PER_CATEGORY,
    TIMEZONES,
)


def iso_time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass
class Traits:
    """What a customer is like. Hidden from every model; it drives behaviour only."""

    customer_id: str
    domains: tuple[str, ...]
    preferences: dict[str, float]
    country: str
    devices: tuple[str, ...]
    usual_amount: float
    sessions_per_day: float
    price_sensitivity: float
    consent_marketing: bool


@dataclass(frozen=True)
class OfferTrial:
    """An offer shown to a customer at `at`, and whether the customer took it."""

    customer_id: str
    at: float
    offer_id: str
    accepted: bool


@dataclass
class SyntheticDataset:
    events: list[Event]
    fraud_labels: dict[str, bool]
    offer_trials: list[OfferTrial]
    # For ranking evaluation: every offer's true acceptance outcome at a trial point.
    counterfactuals: list[tuple[str, float, dict[str, bool]]] = field(default_factory=list)
    traits: dict[str, Traits] = field(default_factory=dict)


class Behaviour:
    """Generates one customer's sessions from its traits."""

    def __init__(self, rng: random.Random, tag: str = "") -> None:
        self.rng = rng
        # In every id: two runs of the same seed (a demo and a second simulator, or a
        # restarted demo) must not send the same event ids, which engage drops as copies.
        self.tag = tag
        self._event_seq = 0

    def _id(self, prefix: str) -> str:
        self._event_seq += 1
        return f"{prefix}{self.tag}{self._event_seq:x}{self.rng.getrandbits(24):06x}"

    def traits(self, customer_id: str) -> Traits:
        rng = self.rng
        domains = tuple(d for d in ("retail", "banking", "media") if rng.random() < 0.6) or (
            rng.choice(("retail", "banking", "media")),
        )
        keys = list(RETAIL_CATEGORIES + MEDIA_GENRES + BANKING_INTERESTS)
        preferences = {k: rng.random() * 0.3 for k in keys}
        for favourite in rng.sample(keys, 3):
            preferences[favourite] += 1.0 + rng.random()
        for group in (RETAIL_CATEGORIES, MEDIA_GENRES, BANKING_INTERESTS):
            favourite = rng.choice(group)
            preferences[favourite] += 0.8
        country = rng.choice(COUNTRIES)
        devices = tuple(f"dev-{rng.getrandbits(32):08x}" for _ in range(rng.choice((1, 1, 2, 3))))
        return Traits(
            customer_id=customer_id,
            domains=domains,
            preferences=preferences,
            country=country,
            devices=devices,
            usual_amount=math.exp(rng.gauss(3.6, 0.6)),
            sessions_per_day=rng.choice((0.2, 0.5, 1.0, 2.0)),
            price_sensitivity=rng.random(),
            consent_marketing=rng.random() > 0.08,
        )

    def _pick(self, traits: Traits, group: tuple[str, ...]) -> str:
        weights = [traits.preferences[k] for k in group]
        return self.rng.choices(group, weights=weights)[0]

    def _context(self, traits: Traits, channel: str = "web") -> EventContext:
        return EventContext(
            country=traits.country,
            device_id=self.rng.choice(traits.devices),
            timezone=TIMEZONES[traits.country],
            channel=channel,
        )

    def identify(self, traits: Traits, at: float) -> Identify:
        return Identify(
            event_id=self._id("e"),
            customer_id=traits.customer_id,
            timestamp=iso_time(at),
            email=f"{traits.customer_id}@example.com",
            timezone=TIMEZONES[traits.country],
            consent_marketing=traits.consent_marketing,
        )

    def session(self, traits: Traits, start: float) -> list[Event]:
        """One visit: browsing and maybe buying, watching, or paying by card."""
        rng = self.rng
        domain = rng.choice(traits.domains)
        at = start
        events: list[Event] = []
        cid = traits.customer_id

        def step(low: float = 10.0, high: float = 240.0) -> float:
            nonlocal at
            at += rng.uniform(low, high)
            return at

        if domain == "retail":
            category = self._pick(traits, RETAIL_CATEGORIES)
            events.append(
                PageView(
                    event_id=self._id("e"),
                    customer_id=cid,
                    timestamp=iso_time(step()),
                    url=f"/c/{category}",
                    category=category,
                    context=self._context(traits),
                )
            )
            interest = traits.preferences[category]
            views = 1 + min(8, int(rng.expovariate(1.0 / (1.0 + 2.0 * interest))))
            viewed: list[tuple[str, float]] = []
            for _ in range(views):
                product = f"{category[:3]}-{rng.randrange(PRODUCTS_PER_CATEGORY):03d}"
                price = round(PRICE_BASE[category] * math.exp(rng.gauss(0, 0.4)), 2)
                viewed.append((product, price))
                events.append(
                    ProductView(
                        event_id=self._id("e"),
                        customer_id=cid,
                        timestamp=iso_time(step()),
                        product_id=product,
                        category=category,
                        price=price,
                        context=self._context(traits),
                    )
                )
            if rng.random() < 0.15 + 0.2 * min(interest, 1.5):
                product, price = rng.choice(viewed)
                events.append(
                    CartAdd(
                        event_id=self._id("e"),
                        customer_id=cid,
                        timestamp=iso_time(step()),
                        product_id=product,
                        category=category,
                        price=price,
                        context=self._context(traits),
                    )
                )
                if rng.random() < 0.55:
                    events.append(
                        Purchase(
                            event_id=self._id("e"),
                            customer_id=cid,
                            timestamp=iso_time(step()),
                            order_id=self._id("o"),
                            items=(LineItem(product_id=product, category=category, price=price),),
                            total=price,
                            context=self._context(traits),
                        )
                    )
        elif domain == "media":
            for _ in range(rng.randint(1, 3)):
                genre = self._pick(traits, MEDIA_GENRES)
                completion = min(1.0, rng.betavariate(1 + 3 * traits.preferences[genre], 2))
                events.append(
                    ContentView(
                        event_id=self._id("e"),
                        customer_id=cid,
                        timestamp=iso_time(step(60, 3000)),
                        content_id=f"{genre[:3]}-{rng.randrange(200):03d}",
                        genre=genre,
                        duration_s=round(2700 * completion, 1),
                        completion=round(completion, 3),
                        context=self._context(traits, "app"),
                    )
                )
        else:
            events.append(
                Login(
                    event_id=self._id("e"),
                    customer_id=cid,
                    timestamp=iso_time(step()),
                    context=self._context(traits, "app"),
                )
            )
            for _ in range(rng.randint(1, 3)):
                events.append(self.payment(traits, step(30, 1200)))
        return events

    def purchase(self, traits: Traits, at: float) -> Purchase:
        """One order of a product of a retail category the customer favours."""
        rng = self.rng
        category = self._pick(traits, RETAIL_CATEGORIES)
        product = f"{category[:3]}-{rng.randrange(PRODUCTS_PER_CATEGORY):03d}"
        price = round(PRICE_BASE[category] * math.exp(rng.gauss(0, 0.4)), 2)
        return Purchase(
            event_id=self._id("e"),
            customer_id=traits.customer_id,
            timestamp=iso_time(at),
            order_id=self._id("o"),
            items=(LineItem(product_id=product, category=category, price=price),),
            total=price,
            context=self._context(traits),
        )

    def comes_back(self, traits: Traits) -> bool:
        """Whether a lapsed customer buys again (within the win-back model's 90 days): the
        more a retail category draws them, the likelier. Hidden, as every trait is."""
        strongest = max(traits.preferences[c] for c in RETAIL_CATEGORIES)
        return self.rng.random() < 0.2 + 0.4 * min(1.0, strongest / 2.0)

    def days_to_return(self, traits: Traits) -> float:
        """Days from a lapsed customer's return to their next order: their own rhythm of
        visits, at most the win-back model's 90 days."""
        return min(90.0, self.rng.expovariate(traits.sessions_per_day))

    def payment(self, traits: Traits, at: float) -> CardPayment:
        rng = self.rng
        interest = self._pick(traits, BANKING_INTERESTS)
        category = rng.choice((interest, "grocery", "fuel", "dining", "fashion", "entertainment"))
        merchant = rng.choice(EVERYDAY_MERCHANTS.get(category, ("Shop",)))
        amount = round(traits.usual_amount * math.exp(rng.gauss(0, 0.5)), 2)
        return CardPayment(
            event_id=self._id("e"),
            customer_id=traits.customer_id,
            timestamp=iso_time(at),
            payment_id=self._id("p"),
            amount=amount,
            merchant=merchant,
            merchant_category=category,
            country=traits.country,
            device_id=rng.choice(traits.devices),
            card_present=rng.random() < 0.6,
        )

    def fraud(self, traits: Traits, at: float) -> list[CardPayment]:
        """One fraud episode in one of three patterns; every payment in it is fraud."""
        rng = self.rng
        pattern = rng.choice(("burst", "new_place", "dormant_large"))
        country = rng.choice(FRAUD_COUNTRIES) if pattern != "burst" else traits.country
        device = f"dev-{rng.getrandbits(32):08x}"
        count = rng.randint(3, 7) if pattern == "burst" else 1
        payments = []
        for _ in range(count):
            category = rng.choice(tuple(FRAUD_MERCHANTS))
            scale = 3.0 if pattern == "dormant_large" else 1.5
            amount = round(traits.usual_amount * scale * math.exp(rng.gauss(0.8, 0.5)), 2)
            at += rng.uniform(20, 400)
            payments.append(
                CardPayment(
                    event_id=self._id("e"),
                    customer_id=traits.customer_id,
                    timestamp=iso_time(at),
                    payment_id=self._id("p"),
                    amount=amount,
                    merchant=rng.choice(FRAUD_MERCHANTS[category]),
                    merchant_category=category,
                    country=country,
                    device_id=device if rng.random() < 0.8 else rng.choice(traits.devices),
                    card_present=False,
                )
            )
        return payments

    def takeover(self, traits: Traits, at: float) -> list[Event]:
        """Account takeover, a pattern the first models never saw: a run of failed
        logins, then card-not-present payments of ordinary amounts at ordinary merchants,
        from a device and country the customer uses. Only the failed logins give it away."""
        rng = self.rng
        events: list[Event] = []
        for _ in range(rng.randint(3, 6)):
            at += rng.uniform(5, 60)
            events.append(
                Login(
                    event_id=self._id("e"),
                    customer_id=traits.customer_id,
                    timestamp=iso_time(at),
                    success=False,
                    context=self._context(traits, "web"),
                )
            )
        for _ in range(rng.randint(1, 2)):
            at += rng.uniform(30, 600)
            payment = self.payment(traits, at)
            events.append(
                payment.model_copy(
                    update={
                        "card_present": False,
                        "amount": round(traits.usual_amount * rng.uniform(1.0, 2.0), 2),
                    }
                )
            )
        return events

    def reported(self, payment: CardPayment, within_s: float) -> Event:
        """How a fraudulent payment comes to light: the card holder reports it within
        hours, or the issuer charges it back within days (never later than `within_s`)."""
        rng = self.rng
        if rng.random() < 0.5:
            return FraudReport(
                event_id=self._id("e"),
                customer_id=payment.customer_id,
                timestamp=iso_time(payment.ts + rng.uniform(1_800, min(2 * 86_400, within_s))),
                payment_id=payment.payment_id,
                reported_by="customer",
            )
        return Chargeback(
            event_id=self._id("e"),
            customer_id=payment.customer_id,
            timestamp=iso_time(payment.ts + rng.uniform(86_400, max(86_400, within_s))),
            payment_id=payment.payment_id,
            amount=payment.amount,
            currency=payment.currency,
            reason="fraud",
        )

    def feedback(self, customer_id: str, offer_id: str, at: float, taken: bool) -> list[Event]:
        """An offer shown at `at`, and the click on it within hours if the customer took it."""
        shown: Event = OfferFeedback(
            event_id=self._id("e"),
            customer_id=customer_id,
            timestamp=iso_time(at),
            outcome="shown",
            offer_id=offer_id,
        )
        if not taken:
            return [shown]
        click_at = at + self.rng.uniform(60, 6 * 3_600)
        clicked = OfferFeedback(
            event_id=self._id("e"),
            customer_id=customer_id,
            timestamp=iso_time(click_at),
            outcome="clicked",
            offer_id=offer_id,
        )
        return [shown, clicked]

    def accepts(self, traits: Traits, offer: Offer, engaged: float) -> bool:
        """The hidden truth of offer responses: preference, domain, recent engagement."""
        preference = traits.preferences[offer.affinity_key]
        in_domain = 1.0 if offer.domain in traits.domains else 0.0
        logit = -3.6 + 1.7 * preference + 0.9 * in_domain + 0.5 * engaged
        logit -= 0.6 * traits.price_sensitivity * (offer.value / 30.0)
        return self.rng.random() < 1.0 / (1.0 + math.exp(-logit))


def generate(
    customers: int = 2000,
    days: float = 60.0,
    seed: int = 7,
    fraud_share: float = 0.06,
    start: float = 1_767_225_600.0,  # 2026-01-01T00:00:00Z
    trials_per_customer: int = 6,
    reported_share: float = 0.95,
    takeover_from: float | None = None,
    takeover_share: float = 0.0,
    prefix: str = "c",
) -> SyntheticDataset:
    """A history of `customers` over `days`, with offer trials, and fraud that comes to
    light as it does in a bank: `reported_share` of fraudulent payments are followed by a
    fraud report or a chargeback within `actors.model.labels.FRAUD`'s window, the rest never
    are. `fraud_labels` is the truth, which the events only partly tell.

    From `takeover_from` on, `takeover_share` of the customers also suffer an account
    takeover (`Behaviour.takeover`): the new pattern of a drift, reported like the rest.
    Customer ids are `prefix` and a number."""
    rng = random.Random(seed)
    behaviour = Behaviour(rng)
    events: list[Event] = []
    labels: dict[str, bool] = {}
    trials: list[OfferTrial] = []
    counterfactuals: list[tuple[str, float, dict[str, bool]]] = []
    traits_by_id: dict[str, Traits] = {}
    end = start + days * 86_400
    for n in range(customers):
        traits = behaviour.traits(f"{prefix}{n:06d}")
        traits_by_id[traits.customer_id] = traits
        at = start + rng.uniform(0, 5 * 86_400)
        timeline: list[Event] = [behaviour.identify(traits, at)]
        dormant_gap = rng.random() < 0.1
        while at < end:
            gap_days = rng.expovariate(traits.sessions_per_day)
            if dormant_gap and rng.random() < 0.05:
                gap_days += rng.uniform(60, 120)
            at += gap_days * 86_400
            if at >= end:
                break
            timeline += behaviour.session(traits, at)
            at = timeline[-1].ts
        if "banking" in traits.domains and rng.random() < fraud_share * 3:
            fraud_at = rng.uniform(start + 5 * 86_400, end)
            for payment in behaviour.fraud(traits, fraud_at):
                timeline.append(payment)
                labels[payment.payment_id] = True
                if rng.random() < reported_share:
                    timeline.append(behaviour.reported(payment, FRAUD.window_s))
        if takeover_from is not None and rng.random() < takeover_share:
            for item in behaviour.takeover(traits, rng.uniform(takeover_from, end)):
                timeline.append(item)
                if isinstance(item, CardPayment):
                    labels[item.payment_id] = True
                    if rng.random() < reported_share:
                        timeline.append(behaviour.reported(item, FRAUD.window_s))
        timeline.sort(key=lambda e: e.ts)
        for event in timeline:
            if isinstance(event, CardPayment) and event.payment_id not in labels:
                labels[event.payment_id] = False
        events += timeline
        visits = [
            e for e in timeline if not isinstance(e, Identify) and e.type not in OUTCOME_TYPES
        ]
        session_ends = [e.ts + 60 for e in visits]
        shown: list[Event] = []
        for when in rng.sample(session_ends, min(trials_per_customer, len(session_ends))):
            recent = sum(1 for e in visits if when - 3600 <= e.ts <= when)
            engaged = min(recent / 5.0, 1.0)
            offer = rng.choice(OFFERS)
            trial = OfferTrial(
                traits.customer_id, when, offer.offer_id, behaviour.accepts(traits, offer, engaged)
            )
            trials.append(trial)
            shown += behaviour.feedback(trial.customer_id, trial.offer_id, when, trial.accepted)
            counterfactuals.append(
                (
                    traits.customer_id,
                    when,
                    {o.offer_id: behaviour.accepts(traits, o, engaged) for o in OFFERS},
                )
            )
        events += shown
    events.sort(key=lambda e: (e.ts, e.event_id))
    return SyntheticDataset(events, labels, trials, counterfactuals, traits_by_id)
