"""One offer of the catalogue: what it promotes, where, when, to whom, and its worth.

Categories are the site's own taxonomy (any strings); eligibility is a condition in the
rules language over `customer.*`, checked at load so that a typo is refused with the
offer, not discovered when nobody gets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from actors.errors import ConditionSyntaxError
from actors.model.actions import Channel
from actors.model.events import slug
from actors.model.offer_features import offer_attributes
from actors.rules.conditions import Condition, parse_condition
from actors.rules.context import CustomerView

OfferId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Category = Annotated[str, Field(min_length=1, max_length=128)]
ALL_CHANNELS: tuple[Channel, ...] = ("email", "push", "sms", "in_app")
# What an eligibility condition may read: the customer as the rules see it, and the
# segments of the rules in force (a segment no rule file names holds for no one).
ELIGIBILITY_ROOTS = frozenset({"customer", "segment"})


class CatalogOffer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    offer_id: OfferId
    title: str = Field(min_length=1, max_length=300)
    categories: tuple[Category, ...] = Field(min_length=1, max_length=50)
    domain: str = Field(min_length=1, max_length=64, description="e.g. retail, banking, media")
    channels: tuple[Channel, ...] = Field(default=ALL_CHANNELS, min_length=1)
    value: float = Field(ge=0, description="expected margin of an accepted offer")
    price: float | None = Field(default=None, ge=0)
    # The products it promotes, by the ids events name them with: a cart add or view of
    # one that arrives without a price or category takes the offer's (actors.turn.prices).
    product_ids: tuple[OfferId, ...] = Field(default=(), max_length=1000)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    active: bool = True
    eligibility: str | None = Field(default=None, max_length=2000)
    cap_per_customer: int | None = Field(
        default=None, ge=1, description="times one customer may be offered it, at most"
    )

    @field_validator("categories")
    @classmethod
    def _distinct_categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # As events name them ("Home & Garden" -> "home_garden"), so that a customer's
        # affinity to a category is found for the offers of that category.
        cleaned = [slug(c) for c in value]
        if any(c is None for c in cleaned):
            raise ValueError("a category needs a letter or digit")
        return tuple(dict.fromkeys(c for c in cleaned if c is not None))

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-12-01T00:00:00Z)")
        return value

    @field_validator("eligibility")
    @classmethod
    def _valid_condition(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        eligibility_condition(value)  # raises ValueError naming what is wrong
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> CatalogOffer:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    @cached_property
    def condition(self) -> Condition | None:
        return None if self.eligibility is None else eligibility_condition(self.eligibility)

    @cached_property
    def segments_named(self) -> frozenset[str]:
        """The segments its eligibility reads (`segment.<name>`)."""
        paths = self.condition.paths if self.condition is not None else []
        return frozenset(p[1] for p in paths if p[0] == "segment" and len(p) > 1)

    @cached_property
    def attributes(self) -> list[float]:
        """What the recommender reads of the offer itself (actors.model.offer_features),
        computed once per offer of a catalogue version."""
        return offer_attributes(self)

    @cached_property
    def window(self) -> tuple[float, float]:
        """When it may be made, in seconds since the epoch (read per offer per ranking)."""
        starts = self.starts_at.timestamp() if self.starts_at is not None else float("-inf")
        ends = self.ends_at.timestamp() if self.ends_at is not None else float("inf")
        return starts, ends

    def live_at(self, at: float) -> bool:
        """Active and within its dates at `at` (seconds since the epoch)."""
        if not self.active:
            return False
        starts, ends = self.window
        return starts <= at < ends

    def eligible(
        self, customer: Mapping[str, Any], segments: Mapping[str, Any] | None = None
    ) -> bool:
        """Whether a customer (the rules' `customer` view, the segments it is in) may be
        offered it."""
        condition = self.condition
        return condition is None or condition.evaluate(
            {"customer": customer, "segment": segments or {}}
        )


def eligibility_condition(source: str) -> Condition:
    """Parse an eligibility condition; ValueError if it is invalid or reads anything but a
    known `customer.<field>`."""
    try:
        condition = parse_condition(source)
    except ConditionSyntaxError as error:
        raise ValueError(f"{error.reason} at position {error.position}") from None
    for path in condition.paths:
        if not path:
            continue
        if path[0] not in ELIGIBILITY_ROOTS:
            raise ValueError(
                f"eligibility reads only customer.<field> and segment.<name>, not {path[0]!r}"
            )
        if path[0] == "segment" and len(path) < 2:
            raise ValueError("name the segment: segment.<name>")
        if path[0] == "customer" and len(path) > 1 and path[1] not in CustomerView.FIELDS:
            known = ", ".join(sorted(CustomerView.FIELDS))
            raise ValueError(f"unknown customer field {path[1]!r} (known: {known})")
    return condition
