"""CustomerState: everything a customer actor remembers, built only from its events.

`apply(event)` is deterministic: the same events in the same order give the same state,
live from Kafka or replayed by training. Time is the event's own timestamp, never the clock.
`__slots__`, and containers made only when first needed: a shard keeps hundreds of
thousands of these alive (see bench/actors_memory.py).
"""

from __future__ import annotations

import math

from actors.model import cart
from actors.model.action_record import ActionRecord, made
from actors.model.bounds import (
    MAX_AFFINITIES,
    MAX_KNOWN,
    MAX_OFFERS_COUNTED,
    MAX_PAYMENTS,
    MAX_RECENT_ACTIONS,
    MAX_SESSION_CATEGORIES,
    MAX_SESSION_CUSTOM,
    MAX_SESSION_ITEMS,
    PAYMENT_WINDOW_S,
    SESSION_GAP_S,
    count_bounded,
    count_custom_day,
    count_latest,
    custom_totals,
    decayed,
    max_opt,
    merge_traits,
    push_bounded,
    shared,
    strongest,
)
from actors.model.catalog import AFFINITY_INDEX
from actors.model.dedup import NO_ARRIVAL, Applied, Arrival, Seen, dedup_key, key_hash
from actors.model.events import (
    Alias,
    CardPayment,
    CartAdd,
    CartRemove,
    Chargeback,
    ContentView,
    Custom,
    Decision,
    Event,
    FraudReport,
    Identify,
    Login,
    OfferFeedback,
    PageView,
    ProductView,
    Purchase,
)


class CustomerState:
    __slots__ = (
        "affinities",
        "affinity_at",
        "applied",
        "cart",
        "cart_updated_at",
        "chargebacks",
        "consent",
        "content_views",
        "countries",
        "custom_days",
        "devices",
        "email",
        "events_total",
        "failed_logins",
        "fired",
        "first_seen",
        "forgotten_at",
        "fraud_alert_at",
        "fraud_confirmed_at",
        "fraud_reports",
        "journeys",
        "last_event_at",
        "last_login_at",
        "last_payment_at",
        "last_purchase_at",
        "linked",
        "merged_into",
        "offer_clicks",
        "offer_conversions",
        "offers_made",
        "offers_shown",
        "orders",
        "pay_count",
        "pay_m2",
        "pay_mean",
        "payments",
        "recent_actions",
        "segments",
        "session_categories",
        "session_content",
        "session_custom",
        "session_index",
        "session_page_views",
        "session_products",
        "session_start",
        "spend",
        "timezone",
        "traits",
        "version",
    )

    def __init__(self) -> None:
        self.first_seen: float | None = None
        self.last_event_at: float | None = None
        self.events_total = 0
        # current session (cut after SESSION_GAP_S of event-time inactivity)
        self.session_index = 0
        self.session_start: float | None = None
        self.session_page_views = 0
        self.session_products: list[str] | None = None
        self.session_categories: dict[str, int] | None = None
        self.session_content: list[str] | None = None
        # custom event name -> times seen this session (at most MAX_SESSION_CUSTOM names)
        self.session_custom: dict[str, int] | None = None
        # custom events per event-time day: [day, count of bucket 0, ..., bucket 7], oldest
        # first, the last CUSTOM_WINDOW_DAYS days (see `custom_bucket`)
        self.custom_days: list[list[int]] | None = None
        # cart: product_id -> (category, unit price or None when unknown, quantity); carts
        # outlive sessions
        self.cart: cart.Cart | None = None
        self.cart_updated_at: float | None = None
        # lifetime
        self.orders = 0
        self.spend = 0.0
        self.last_purchase_at: float | None = None
        self.content_views = 0
        self.last_login_at: float | None = None
        self.failed_logins = 0
        # affinity key -> score, all decayed to `affinity_at`
        self.affinities: dict[str, float] | None = None
        self.affinity_at: float | None = None
        # fraud: payments in the last 24 h as (ts, amount); Welford stats of all amounts
        self.payments: list[tuple[float, float]] | None = None
        self.pay_count = 0
        self.pay_mean = 0.0
        self.pay_m2 = 0.0
        self.last_payment_at: float | None = None
        self.countries: list[str] | None = None
        self.devices: list[str] | None = None
        # identity and consent
        self.email: str | None = None
        # What `identify` said beyond e-mail, time zone and consent (bounded: MAX_TRAITS).
        self.traits: dict[str, str | int | float | bool] | None = None
        self.timezone: str | None = None
        # Explicit answers per channel and purpose (actors.model.consent); absent keys
        # take the policy's default.
        self.consent: dict[str, bool] | None = None
        # rules: rule id -> (event time last fired, session index then)
        self.fired: dict[str, tuple[float, int]] | None = None
        self.fraud_alert_at: float | None = None
        # marketing actions decided lately, for attribution of outcomes: see ActionRecord
        self.recent_actions: list[ActionRecord] | None = None
        # offer id -> times made to the customer, ever (caps; MAX_OFFERS_COUNTED offers)
        self.offers_made: dict[str, int] | None = None
        # The audiences (actors.rules.segments) it was in after its latest event, by name.
        self.segments: list[str] | None = None
        # Journeys it is on: id -> (step it waits at, run id, when the run began).
        self.journeys: dict[str, tuple[str, str, float]] | None = None
        # offer outcomes
        self.offers_shown = 0
        self.offer_clicks = 0
        self.offer_conversions = 0
        # Outcomes reported about the customer (fraud reports, chargebacks).
        self.chargebacks = 0
        self.fraud_reports = 0
        self.fraud_confirmed_at: float | None = None
        # What makes a redelivered, replayed or twice-sent event a no-op (actors.model.dedup).
        self.applied: Applied | None = None
        # Visitors (`anon:` ids) merged into this customer, oldest first (actors.model.identity).
        self.linked: list[str] | None = None
        # Set on a visitor merged into a customer, from the link kept beside the data
        # (never saved in it): its events go to that customer.
        self.merged_into: str | None = None
        # Set on an actor forgotten lately, from its tombstone (never saved in the data):
        # its events are not applied.
        self.forgotten_at: float | None = None
        # Compare-and-set version of the stored copy; kept beside the data, not in it.
        self.version = 0

    def clone(self) -> CustomerState:
        """An independent copy: containers copied, their items (immutable) shared."""
        other = CustomerState.__new__(CustomerState)
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, dict | list | Applied):
                value = value.copy()
            setattr(other, name, value)
        return other

    # ---- dedup -----------------------------------------------------------------------

    def seen(self, event: Event, arrival: Arrival = NO_ARRIVAL) -> Seen:
        """Whether `event`, arriving as `arrival` says, was applied already."""
        if self.applied is None:
            return Seen.NEW
        at = arrival.at if arrival.at is not None else event.ts
        return self.applied.seen(dedup_key(event), arrival.position, at, arrival.origin)

    def has_applied(self, event: Event) -> bool:
        """Whether `event` (by its id, whatever its position) was applied already."""
        return self.applied is not None and self.applied.has(dedup_key(event))

    def has_trigger(self, trigger_id: str) -> bool:
        """Whether a turn without an event (a reminder) already ran for `trigger_id`."""
        return self.applied is not None and self.applied.has(key_hash(trigger_id))

    def record_trigger(self, trigger_id: str, at: float) -> None:
        self._record(key_hash(trigger_id), NO_ARRIVAL, at)

    def _record(self, key: int, arrival: Arrival, at: float) -> None:
        if self.applied is None:
            self.applied = Applied()
        self.applied.record(key, arrival.position, at, arrival.origin)

    # ---- the transition function -----------------------------------------------------

    def apply(self, event: Event, arrival: Arrival = NO_ARRIVAL) -> None:
        """Fold one event into the state. An event already applied (`seen`) is ignored.

        `arrival` says where and when the event was read (actors.model.dedup); the default,
        for replays and tests, judges it by its id alone, arriving at its own time."""
        if self.seen(event, arrival) is not Seen.NEW:
            return
        ts = event.ts
        key = dedup_key(event)
        at = arrival.at if arrival.at is not None else ts
        if isinstance(event, FraudReport | Chargeback):
            # Reported about the customer, often weeks later: not their activity.
            self._outcome(event, ts)
            self._record(key, arrival, at)
            return
        if isinstance(event, Alias | Decision):
            # Who the customer is (merged by the host), or what engage decided for them.
            self._record(key, arrival, at)
            return
        self._advance_session(ts)
        self.events_total += 1
        if isinstance(event, ProductView):
            category = shared(event.category) if event.category else None
            self._view_product(shared(event.product_id), category)
            if category:
                self._bump_affinity(category, 1.0, ts)
        elif isinstance(event, PageView):
            self.session_page_views += 1
            if event.category:
                self._count_category(shared(event.category))
        elif isinstance(event, CartAdd):
            # A category or price the site did not send (and the catalogue could not
            # give, actors.turn.prices) is unknown: the line is kept all the same.
            category = shared(event.category) if event.category else ""
            self._add_to_cart(shared(event.product_id), category, event.price, event.quantity, ts)
            if category:
                self._bump_affinity(category, 3.0, ts)
        elif isinstance(event, CartRemove):
            self._remove_from_cart(event.product_id, event.quantity, ts)
        elif isinstance(event, Purchase):
            self._purchase(event, ts)
        elif isinstance(event, CardPayment):
            self._card_payment(event, ts)
        elif isinstance(event, ContentView):
            self.content_views += 1
            if self.session_content is None:
                self.session_content = []
            push_bounded(self.session_content, shared(event.content_id), MAX_SESSION_ITEMS)
            genre = shared(event.genre)
            self._count_category(genre)
            self._bump_affinity(genre, 1.0 + event.completion, ts)
        elif isinstance(event, Login):
            if event.success:
                self.last_login_at = ts
                self.failed_logins = 0
            else:
                self.failed_logins += 1
        elif isinstance(event, Identify):
            self._identify(event)
        elif isinstance(event, Custom):
            self._count_custom(event.name, ts)
        elif isinstance(event, OfferFeedback):
            if event.outcome == "shown":
                self.offers_shown += 1
            elif event.outcome == "clicked":
                self.offer_clicks += 1
            else:
                self.offer_conversions += 1
        if event.context is not None:
            if event.context.timezone and self.timezone is None:
                self.timezone = event.context.timezone
            if event.context.device_id and not isinstance(event, CardPayment):
                self._remember_device(event.context.device_id)
        self._record(key, arrival, at)

    def _outcome(self, event: FraudReport | Chargeback, ts: float) -> None:
        if isinstance(event, Chargeback):
            self.chargebacks += 1
            if event.reason != "fraud":
                return
        else:
            self.fraud_reports += 1
        self.fraud_confirmed_at = max_opt(self.fraud_confirmed_at, ts)

    def _advance_session(self, ts: float) -> None:
        if self.first_seen is None or ts < self.first_seen:
            self.first_seen = ts
        last = self.last_event_at
        if last is None or ts - last > SESSION_GAP_S:
            self.session_index += 1
            self.session_start = ts
            self.session_page_views = 0
            self.session_products = None
            self.session_categories = None
            self.session_content = None
            self.session_custom = None
        if last is None or ts > last:
            self.last_event_at = ts

    def _view_product(self, product_id: str, category: str | None) -> None:
        self.session_page_views += 1
        if self.session_products is None:
            self.session_products = []
        push_bounded(self.session_products, product_id, MAX_SESSION_ITEMS)
        if category:
            self._count_category(category)

    def _count_custom(self, name: str, ts: float) -> None:
        self.session_custom = count_bounded(self.session_custom, shared(name), MAX_SESSION_CUSTOM)
        self.custom_days = count_custom_day(self.custom_days, name, ts)

    def custom_counts(self, at: float) -> list[int]:
        """Custom events per bucket in the CUSTOM_WINDOW_DAYS days up to `at` (event time)."""
        return custom_totals(self.custom_days, at)

    def _count_category(self, category: str) -> None:
        self.session_categories = count_bounded(
            self.session_categories, category, MAX_SESSION_CATEGORIES
        )

    def _add_to_cart(
        self, product_id: str, category: str, price: float | None, quantity: int, ts: float
    ) -> None:
        self.cart = cart.add(self.cart, product_id, category, price, quantity)
        self.cart_updated_at = ts

    def _remove_from_cart(self, product_id: str, quantity: int, ts: float) -> None:
        if self.cart and product_id in self.cart:
            self.cart = cart.remove(self.cart, product_id, quantity)
            self.cart_updated_at = ts

    def _purchase(self, event: Purchase, ts: float) -> None:
        self.orders += 1
        self.spend += event.total
        if self.last_purchase_at is None or ts > self.last_purchase_at:
            self.last_purchase_at = ts
        for item in event.items:
            if item.category:
                self._bump_affinity(item.category, 5.0, ts)
            if self.cart and item.product_id in self.cart:
                del self.cart[item.product_id]
        # A purchase without item detail empties the cart: the checkout took it.
        if not event.items:
            self.cart = None
        if not self.cart:
            self.cart = None
        self.cart_updated_at = ts

    def _card_payment(self, event: CardPayment, ts: float) -> None:
        if self.payments is None:
            self.payments = []
        self.payments.append((ts, event.amount))
        self.payments.sort()
        newest = self.payments[-1][0]
        self.payments = [p for p in self.payments if newest - p[0] <= PAYMENT_WINDOW_S][
            -MAX_PAYMENTS:
        ]
        # Welford on log-amounts: "usual" spending is multiplicative, not additive.
        x = math.log1p(event.amount)
        self.pay_count += 1
        delta = x - self.pay_mean
        self.pay_mean += delta / self.pay_count
        self.pay_m2 += delta * (x - self.pay_mean)
        if self.last_payment_at is None or ts > self.last_payment_at:
            self.last_payment_at = ts
        if self.countries is None:
            self.countries = []
        push_bounded(self.countries, shared(event.country), MAX_KNOWN)
        if event.device_id:
            self._remember_device(event.device_id)
        if event.merchant_category in AFFINITY_INDEX:
            self._bump_affinity(event.merchant_category, 0.5, ts)

    def _remember_device(self, device_id: str) -> None:
        if self.devices is None:
            self.devices = []
        push_bounded(self.devices, device_id, MAX_KNOWN)

    def _identify(self, event: Identify) -> None:
        if event.email is not None:
            self.email = event.email
        if event.timezone is not None:
            self.timezone = event.timezone
        answers = event.consent_answers()
        if answers:
            self.consent = {**(self.consent or {}), **answers}
        if event.traits:
            self.traits = merge_traits(self.traits, event.traits)

    def _bump_affinity(self, key: str, weight: float, ts: float) -> None:
        if self.affinities is None or self.affinity_at is None:
            self.affinities = {}
            self.affinity_at = ts
        if ts > self.affinity_at:
            for k in self.affinities:
                self.affinities[k] = decayed(self.affinities[k], self.affinity_at, ts)
            self.affinity_at = ts
        else:
            weight = decayed(weight, ts, self.affinity_at)
        self.affinities[key] = self.affinities.get(key, 0.0) + weight
        if len(self.affinities) > MAX_AFFINITIES:
            self.affinities = strongest(self.affinities, MAX_AFFINITIES)

    # ---- rule bookkeeping (used by the actor's turn, also deterministic) -------------
    def mark_fired(self, rule_id: str, at: float) -> None:
        if self.fired is None:
            self.fired = {}
        self.fired[rule_id] = (at, self.session_index)

    def remember_action(self, record: ActionRecord) -> None:
        if self.recent_actions is None:
            self.recent_actions = []
        self.recent_actions.append(record)
        del self.recent_actions[:-MAX_RECENT_ACTIONS]
        if made(record):
            self.count_made(record.offer_id)

    def count_made(self, offer_id: str) -> None:
        """One more time `offer_id` reached the customer (a next-best-offer answer's
        offer counts when it is reported shown: actors.outcomes.attribution)."""
        self.offers_made = count_latest(self.offers_made, offer_id, MAX_OFFERS_COUNTED)

    # ---- derived views ---------------------------------------------------------------

    @property
    def cart_items(self) -> int:
        return cart.items(self.cart)

    @property
    def cart_value(self) -> float:
        """The value of the cart's lines whose price is known (see `cart_value_partial`)."""
        return cart.value(self.cart)

    @property
    def cart_value_partial(self) -> bool:
        return cart.partial(self.cart)

    def affinity(self, key: str, at: float) -> float:
        """The key's affinity decayed to time `at`."""
        if not self.affinities or self.affinity_at is None:
            return 0.0
        return decayed(self.affinities.get(key, 0.0), self.affinity_at, max(at, self.affinity_at))

    def top_affinity(self, at: float) -> str | None:
        if not self.affinities:
            return None
        return max(sorted(self.affinities), key=lambda k: self.affinity(k, at))

    def payments_since(self, since: float) -> tuple[int, float]:
        if not self.payments:
            return 0, 0.0
        window = [amount for ts, amount in self.payments if ts >= since]
        return len(window), sum(window)

    @property
    def pay_std(self) -> float:
        return math.sqrt(self.pay_m2 / (self.pay_count - 1)) if self.pay_count > 1 else 0.0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CustomerState):
            return NotImplemented
        return all(
            getattr(self, name) == getattr(other, name)
            for name in self.__slots__
            if name not in ("version", "merged_into", "forgotten_at")
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CustomerState(events={self.events_total}, session={self.session_index})"
