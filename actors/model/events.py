"""Customer events: the only input of a customer actor.

Every source (Kafka, the HTTP API, Segment-compatible SDKs, the tracking pixel, the
synthetic generator, historical datasets) produces these models, so live traffic, replays
and training all pass the same validation.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from actors.errors import InvalidCustomerIdError, InvalidEventError
from actors.model import consent as consents
from actors.model.decision import DecisionRecord

SCHEMA_VERSION: Literal[1] = 1
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-")
ANON_PREFIX = "anon:"

Id = Annotated[str, Field(pattern=ID_PATTERN)]
Category = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")]
_NOT_IN_CATEGORY = re.compile(r"[^a-z0-9_\-]+")


def slug(value: Any) -> str | None:
    """A site's category as events carry it: "Home & Garden" -> "home_garden". Segment's
    events and catalogue offers go through it, so both name a category alike."""
    if value is None:
        return None
    text = _NOT_IN_CATEGORY.sub("_", str(value).strip().lower()).strip("_")[:64]
    return text or None


Money = Annotated[float, Field(ge=0, le=10_000_000)]


@functools.lru_cache(maxsize=1024)
def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    # "America" is a directory of the zone database (OSError), "../x" a ValueError.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _zone_name(value: str | None) -> str | None:
    """An IANA time-zone name the zone database knows, or a validation error."""
    if value is not None and not known_zone(value):
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'Europe/Paris')")
    return value


TimeZoneName = Annotated[str, Field(max_length=64), AfterValidator(_zone_name)]


def validate_customer_id(customer_id: str) -> str:
    """Return the id if it is a well-formed actor id (customer or `anon:` visitor)."""
    bare = customer_id.removeprefix(ANON_PREFIX)
    if not 0 < len(bare) <= 128 or not _ID_CHARS.issuperset(bare) or bare[0] in "_.:@-":
        raise InvalidCustomerIdError(customer_id)
    return customer_id


class EventContext(BaseModel):
    """Where the event came from; used by fraud features and quiet hours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    device_id: Annotated[str, Field(max_length=128)] | None = None
    ip: Annotated[str, Field(max_length=64)] | None = None
    user_agent: Annotated[str, Field(max_length=512)] | None = None
    timezone: TimeZoneName | None = None
    channel: Literal["web", "app", "pos", "email", "call_center", "atm"] | None = None


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: Id
    customer_id: Id | None = None
    anonymous_id: Id | None = None
    # Event time: sessions, windows and features use it, never the arrival time.
    timestamp: datetime
    context: EventContext | None = None
    # Set by the HTTP API on what a client key (a page, an app) sent; absent: a server.
    # A client's event ids are deduplicated apart from a server's (actors.model.dedup).
    source: Literal["client"] | None = None

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # SDKs that send naive times mean UTC; keeping every time aware avoids silent shifts.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    @field_validator("customer_id")
    @classmethod
    def _not_a_visitor(cls, value: str | None) -> str | None:
        # `anon:<id>` is a visitor's actor: a customer id of that form would let one visitor
        # be merged into another, and chains of them built.
        if value is not None and value.startswith(ANON_PREFIX):
            raise ValueError(f"a customer id cannot start with {ANON_PREFIX!r} (visitors' ids)")
        return value

    @model_validator(mode="after")
    def _has_identity(self) -> _EventBase:
        if self.customer_id is None and self.anonymous_id is None:
            raise ValueError("customer_id or anonymous_id is required")
        return self

    @property
    def actor_id(self) -> str:
        """The identity whose actor handles this event: the customer if known."""
        if self.customer_id is not None:
            return self.customer_id
        return ANON_PREFIX + str(self.anonymous_id)

    @property
    def ts(self) -> float:
        return self.timestamp.timestamp()


class PageView(_EventBase):
    type: Literal["page_view"] = "page_view"
    url: Annotated[str, Field(max_length=2048)] = "/"
    category: Category | None = None
    title: Annotated[str, Field(max_length=512)] | None = None


class ProductView(_EventBase):
    type: Literal["product_view"] = "product_view"
    product_id: Id
    # Optional, as in Segment's e-commerce spec: the shard takes it from the catalogue
    # where a live offer names the product (actors.turn.prices), else it counts for no
    # category's interest.
    category: Category | None = None
    # Optional, as in Segment's e-commerce spec: a view changes no money (a cart add does).
    price: Money | None = None


class CartAdd(_EventBase):
    type: Literal["cart_add"] = "cart_add"
    product_id: Id
    category: Category | None = None  # optional as for a product view
    # Optional, as in Segment's e-commerce spec. The shard takes a missing price from the
    # catalogue where a live offer names the product (actors.turn.prices); otherwise the
    # line is kept with its value unknown and the cart's value is flagged partial.
    price: Money | None = None
    quantity: Annotated[int, Field(ge=1, le=1000)] = 1


class CartRemove(_EventBase):
    type: Literal["cart_remove"] = "cart_remove"
    product_id: Id
    quantity: Annotated[int, Field(ge=1, le=1000)] = 1


class LineItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: Id
    category: Category | None = None  # optional as for a cart add
    price: Money | None = None  # optional as for a cart add
    quantity: Annotated[int, Field(ge=1, le=1000)] = 1


class Purchase(_EventBase):
    type: Literal["purchase"] = "purchase"
    order_id: Id
    items: Annotated[tuple[LineItem, ...], Field(max_length=500)] = ()
    total: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"


class Login(_EventBase):
    type: Literal["login"] = "login"
    method: Literal["password", "sso", "biometric", "otp"] = "password"
    success: bool = True


class CardPayment(_EventBase):
    type: Literal["card_payment"] = "card_payment"
    payment_id: Id
    amount: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    merchant: Annotated[str, Field(min_length=1, max_length=128)]
    merchant_category: Category = "general"
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    device_id: Annotated[str, Field(max_length=128)] | None = None
    card_present: bool = False


class ContentView(_EventBase):
    type: Literal["content_view"] = "content_view"
    content_id: Id
    genre: Category
    duration_s: Annotated[float, Field(ge=0, le=86_400)] = 0.0
    completion: Annotated[float, Field(ge=0, le=1)] = 0.0


MAX_TRAITS = 50
TraitName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TraitValue = Annotated[str, StringConstraints(max_length=512)]


def _consent_patterns(value: dict[str, bool]) -> dict[str, bool]:
    for pattern in value:
        consents.expand(pattern)  # ValueError names the pattern and what is allowed
    return value


class Identify(_EventBase):
    """Traits the customer gave us: consent, time zone, contact address."""

    type: Literal["identify"] = "identify"
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    timezone: TimeZoneName | None = None
    # Marketing on every channel at once: `consent: {"*.marketing": ...}` said shorter.
    consent_marketing: bool | None = None
    # Consent per channel and purpose (actors.model.consent): `email.marketing`,
    # `sms.service`, `push.*`, `*.marketing`; the more specific pattern wins.
    consent: Annotated[dict[str, bool], Field(max_length=16), AfterValidator(_consent_patterns)] = (
        Field(default_factory=dict)
    )
    # Kept in the customer's state for rules (`customer.traits.plan`); null removes one.
    traits: Annotated[
        dict[TraitName, TraitValue | int | float | bool | None],
        Field(max_length=MAX_TRAITS),
    ] = Field(default_factory=dict)

    def consent_answers(self) -> dict[str, bool]:
        """What this identify says of each consent key it touches."""
        patterns = list(self.consent.items())
        if self.consent_marketing is not None:
            patterns.insert(0, ("*.marketing", self.consent_marketing))
        return consents.resolve(patterns)


class Alias(_EventBase):
    """Links a visitor to a known customer (Segment's `alias`: `previousId` is the visitor's
    anonymous id, `userId` the customer): the visitor's history is merged into the
    customer's, once (actors.model.identity). Both ids are required."""

    type: Literal["alias"] = "alias"

    @model_validator(mode="after")
    def _links_two_ids(self) -> Alias:
        if self.customer_id is None or self.anonymous_id is None:
            raise ValueError("alias needs both customer_id and anonymous_id")
        return self


class OfferFeedback(_EventBase):
    """What happened to an offer we sent: shown, clicked, converted. `decision_id` (from a
    next-best-offer answer) or `action_id` (from an action) names the decision that showed
    the offer; without either, the latest decision that showed it is credited."""

    type: Literal["offer_feedback"] = "offer_feedback"
    outcome: Literal["shown", "clicked", "converted"]
    offer_id: Id
    action_id: Id | None = None
    decision_id: Id | None = None
    value: Money = 0.0


class Decision(_EventBase):
    """A next-best-offer answer, on its way into the customer's stream: the customer's
    actor remembers the offers it showed (feedback is credited to it), counts it in the
    outcome report and writes its record to the decision log. Written by the API only:
    `POST /v1/events` refuses it, and rules cannot trigger on it."""

    type: Literal["decision"] = "decision"
    decision: DecisionRecord


class FraudReport(_EventBase):
    """A card payment confirmed as fraud (by analysts, the card holder, the issuer): the
    fraud model's label, joined to the payment by `payment_id`. Server sources only."""

    type: Literal["fraud_report"] = "fraud_report"
    payment_id: Id
    reported_by: Literal["analyst", "customer", "issuer", "partner"] = "analyst"


class Chargeback(_EventBase):
    """A card payment disputed and charged back; with reason `fraud`, a label for the fraud
    model like a fraud report. Server sources only."""

    type: Literal["chargeback"] = "chargeback"
    payment_id: Id
    amount: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    reason: Literal["fraud", "not_received", "not_as_described", "duplicate", "other"] = "fraud"


# Outcomes reported about the customer rather than done by them: no session activity.
OUTCOME_TYPES = frozenset({"fraud_report", "chargeback"})

MAX_PROPERTIES = 50
CustomEventName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Custom(_EventBase):
    """Anything else a site or app tracks ("Checkout Step Viewed", "Support Chat
    Opened"): its name and flat properties, for rules (`event.name`, `event.properties`)
    and the session's per-name counts."""

    type: Literal["custom"] = "custom"
    name: CustomEventName
    properties: Annotated[
        dict[TraitName, TraitValue | int | float | bool | None],
        Field(max_length=MAX_PROPERTIES),
    ] = Field(default_factory=dict)


Event = Annotated[
    PageView
    | ProductView
    | CartAdd
    | CartRemove
    | Purchase
    | Login
    | CardPayment
    | ContentView
    | Identify
    | Alias
    | OfferFeedback
    | Custom
    | FraudReport
    | Chargeback
    | Decision,
    Field(discriminator="type"),
]
# The types a source sends and rules trigger on; `decision` is engage's own (the API's).
EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "product_view",
    "cart_add",
    "cart_remove",
    "purchase",
    "login",
    "card_payment",
    "content_view",
    "identify",
    "alias",
    "offer_feedback",
    "custom",
    "fraud_report",
    "chargeback",
)

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
# Each event type's model, by its `type`: what `event.<field>` can name in a rule.
EVENT_MODELS: dict[str, type[BaseModel]] = {
    model.model_fields["type"].default: model for model in get_args(get_args(Event)[0])
}


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each field at fault, for dead letters and HTTP answers."""
    parts = []
    for item in error.errors(include_url=False)[:5]:
        parts.append(f"{field_path(item['loc']) or '<root>'}: {item['msg']}")
    return "; ".join(parts)


def field_path(loc: tuple[int | str, ...]) -> str:
    """`('card_payment', 'amount')` -> `amount`: the union's tag is not a field."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in EVENT_MODELS:
        parts = parts[1:]
    return ".".join(parts)


def _invalid(error: ValidationError) -> InvalidEventError:
    first = error.errors(include_url=False)[0]
    return InvalidEventError(describe_validation_error(error), field_path(first["loc"]))


def parse_event(raw: bytes | str) -> Event:
    """Validate one JSON event, raising `InvalidEventError` that names the field at fault."""
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise InvalidEventError(
            describe_validation_error(error), field_path(first["loc"])
        ) from None


def event_from_dict(data: dict[str, Any]) -> Event:
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise InvalidEventError(
            describe_validation_error(error), field_path(first["loc"])
        ) from None


def event_to_json(event: Event) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()
