"""A customer's consent per channel and purpose: read it, and change it from a
preference centre (actors.model.consent).

A change is an `identify` event like any other: published to the stream, applied by the
customer's turn in order with its other events, and written beside the state for the
dispatcher's guardrails in the same commit. So the answer is 202 (accepted), and a read
right after may not show it yet.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from actors.model import consent
from actors.model.events import ID_PATTERN
from serving.security import Grant
from serving.web.access import COLLECT, READ
from serving.web.answers import ERRORS, UNAVAILABLE
from serving.web.collect import AcceptedOut, record_one
from serving.web.customers import CustomerId
from serving.web.served import Live

router = APIRouter()


class ConsentOut(BaseModel):
    customer_id: str = Field(description="the customer answering (a merged visitor's)")
    consent: dict[str, bool] = Field(
        description="every channel.purpose with the customer's answer, or its default"
    )
    given: dict[str, bool] = Field(description="the answers the customer gave explicitly")
    opt_in: list[str] = Field(
        description="keys the rules' policy grants only on an explicit grant (policy.opt_in)"
    )


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent: Annotated[dict[str, bool], Field(min_length=1, max_length=16)] = Field(
        description="channel.purpose patterns (`email.marketing`, `sms.*`, `*.marketing`) "
        "with the answer; the more specific pattern wins",
        examples=[{"*.marketing": False, "email.service": True}],
    )
    event_id: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="makes a retried request a no-op (the same event)",
    )

    @field_validator("consent")
    @classmethod
    def _known(cls, value: dict[str, bool]) -> dict[str, bool]:
        for pattern in value:
            consent.expand(pattern)  # ValueError names the pattern and what is allowed
        return value


@router.get(
    "/v1/customers/{customer_id}/consent",
    response_model=ConsentOut,
    responses={**ERRORS, **UNAVAILABLE},
)
async def read_consent(customer_id: CustomerId, backends: Live, _key: Grant = READ) -> Any:
    """The customer's consent per channel and purpose, as the guardrails judge it."""
    resolved = await backends.resolve(customer_id)
    state = await backends.saved_state(resolved)
    if state is not None:
        given = dict(state.consent or {})
    else:  # the store unreachable from here: the owning shard may still answer
        snapshot = await backends.on_shard(resolved, "snapshot")
        given = dict(snapshot["customer"].get("consent") or {})
    opt_in = backends.ruleset().policy.opt_in
    return ConsentOut(
        customer_id=resolved,
        consent=consent.matrix(given, opt_in),
        given=given,
        opt_in=sorted(opt_in),
    )


@router.put(
    "/v1/customers/{customer_id}/consent",
    response_model=AcceptedOut,
    status_code=202,
    responses={**ERRORS, **UNAVAILABLE},
)
async def change_consent(
    customer_id: CustomerId, body: ConsentIn, backends: Live, caller: Grant = COLLECT
) -> Any:
    """Grant or withdraw consent per channel and purpose. A client key may only withdraw
    (and, with signed visitors, only for the customer whose signature it carries)."""
    event_id = body.event_id or f"consent-{uuid.uuid4().hex}"
    fields = {"type": "identify", "consent": body.consent}
    return await record_one(backends, caller, customer_id, event_id, fields, "consent")
