"""The decision log's record: one per next-best-offer answer and per rule-fired offer.

A record says everything an analyst or an off-policy estimate needs to judge the choice
later, without reading engage's state: who it was for, the features the model saw, every
eligible candidate with the model's probability, its expected value and its propensity
(the probability that the policy in force puts it first), the offers chosen in order, the
policy that applied (a control group, a suppression, exploration), and the versions of
the model, the rules and the catalogue. Records go to the `engage.decisions` topic (or
the RabbitMQ exchange of that name) through the shard's outbox, once per decision.
"""

from __future__ import annotations

import secrets
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DECISION_SCHEMA_VERSION: Literal[1] = 1
# What a next-best-offer decision is remembered and counted as (its "rule").
NEXT_BEST_OFFER = "next_best_offer"

DecisionSource = Literal["next_best_offer", "rule", "journey"]


class Candidate(BaseModel):
    """One offer the policy could have put first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offer_id: str
    probability: float = Field(description="the recommender's p(accept)")
    value: float = Field(description="the offer's value (expected margin) when decided")
    expected_value: float = Field(description="probability x value")
    propensity: float = Field(ge=0.0, le=1.0, description="p(the policy puts it first)")


class DecisionRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = DECISION_SCHEMA_VERSION
    decision_id: str
    customer_id: str
    at: float = Field(description="when it was decided (Unix seconds)")
    source: DecisionSource
    rule_id: str = Field(description="the rule (or journey send) that fired, or next_best_offer")
    campaign: str | None = None
    channel: str | None = None
    domain: str | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    chosen: list[str] = Field(default_factory=list, description="offers shown, in order")
    propensity: float | None = Field(
        default=None, description="p(the policy chose chosen[0]) under the policy in force"
    )
    explored: bool = Field(default=False, description="chosen[0] was drawn, not the best")
    exploration: float = Field(default=0.0, description="the exploration share that applied")
    control: str | None = Field(
        default=None, description="global_control or holdout: decided, never shown"
    )
    suppressed: str | None = Field(default=None, description="why nothing may be shown")
    model: str = ""
    model_version: str = ""
    rules_version: str = ""
    catalog_version: str = ""
    features: list[float] = Field(default_factory=list, description="what the model saw")
    # With `features`, what an offline estimate needs to build the recommender's row for
    # any candidate again (actors.model.offer_features).
    affinities: dict[str, float] = Field(
        default_factory=dict,
        max_length=64,
        description="the customer's affinity to each category it was drawn to, then",
    )


def new_decision_id() -> str:
    """A next-best-offer answer's id: unique, and sortable by time (milliseconds first,
    then 48 random bits, as UUIDv7 lays them out)."""
    return f"dec_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def decision_to_json(record: DecisionRecord) -> bytes:
    return record.model_dump_json().encode()
