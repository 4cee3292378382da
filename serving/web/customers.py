"""One customer: the next-best-offer, the live context, and the decision timeline."""

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from actors.hosting.reads import offer_inputs_of
from actors.model.actions import Channel
from actors.model.decision import NEXT_BEST_OFFER, DecisionRecord, new_decision_id
from actors.model.events import ANON_PREFIX, ID_PATTERN, Decision
from actors.model.model_names import RECOMMENDER
from actors.outcomes.attribution import control_group
from actors.turn.decide import Context, Decided, decide, decision_record
from actors.turn.offers import Audience, eligible, rank, recommender_row
from serving.publisher import PublishError
from serving.refusals import Refusal
from serving.security import ApiError, Grant
from serving.web.access import READ
from serving.web.answers import ERRORS, UNAVAILABLE, invalid
from serving.web.backends import Backends
from serving.web.served import Live

router = APIRouter()

CustomerId = Annotated[
    str,
    Path(
        pattern=ID_PATTERN.replace("^", "^(anon:)?", 1),
        description="A customer id, or anon:<anonymous id> for a visitor not yet known.",
    ),
]


class OfferOut(BaseModel):
    offer_id: str
    title: str
    domain: str
    category: str
    probability: float
    expected_value: float
    reasons: list[str]
    propensity: float | None = Field(
        default=None,
        description="the first offer's probability of being put first by the policy in "
        "force (exploration included); kept in the decision log for off-policy estimates",
    )


class ModelRef(BaseModel):
    name: str
    version: str


class NextBestOfferOut(BaseModel):
    decision_id: str = Field(
        description="name it in offer_feedback (`decision_id`) to credit this answer"
    )
    logged: bool = Field(
        description="the decision is in the customer's stream, so the decision log and "
        "the outcome report will have it (false: the broker did not take it; feedback "
        "naming it credits nothing)"
    )
    explored: bool = Field(description="the first offer was drawn, not the best (exploration)")
    customer_id: str
    known: bool
    cold_start: bool
    channel: str | None
    model: ModelRef
    offers: list[OfferOut]
    top_affinity: str | None
    suppressed: str | None = Field(description="why no offer may go out on this channel")
    control: str | None = Field(
        default=None,
        description="the control group the customer is in, answered with no offer: "
        "global_control (no marketing at all) or holdout (of the campaign asked for)",
    )


class TurnTrace(BaseModel):
    at: float = Field(description="event time of the trigger (Unix seconds)")
    trigger: str
    trigger_id: str
    rules: dict[str, str] = Field(description="rule id: fired (with the action) or why not")
    scores: dict[str, float] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)


class DeliveryNote(BaseModel):
    at: float = Field(description="when the dispatcher decided (Unix seconds)")
    action_id: str | None
    delivery: str = Field(description="delivered (sink), deferred, held by a guardrail, ...")


class TimelineOut(BaseModel):
    customer_id: str
    turns: list[TurnTrace | DeliveryNote]


async def _offer_inputs(backends: Backends, customer_id: str) -> dict[str, Any]:
    state = await backends.saved_state(customer_id)
    if state is None:  # the store unreachable from here: the owning shard may still answer
        return await backends.on_shard(customer_id, "offer_inputs")
    return offer_inputs_of(customer_id, state, time.time(), backends.ruleset())


@router.get(
    "/v1/customers/{customer_id}/next-best-offer",
    response_model=NextBestOfferOut,
    responses={**ERRORS, **UNAVAILABLE},
)
async def next_best_offer(
    customer_id: CustomerId,
    backends: Live,
    key: Grant = READ,
    k: Annotated[int, Query(ge=1, le=50, description="How many offers")] = 3,
    domain: Annotated[
        str | None, Query(max_length=64, description="Only offers of this domain")
    ] = None,
    channel: Annotated[
        Channel | None,
        Query(description="Where the offer will be shown: its marketing consent applies"),
    ] = None,
    campaign: Annotated[
        str | None,
        Query(max_length=64, description="The campaign the answer is for: its holdout applies"),
    ] = None,
) -> Any:
    started = time.perf_counter()
    catalog = backends.catalog.catalog
    if domain is not None and domain not in catalog.domains:
        known = ", ".join(sorted(catalog.domains))
        raise invalid(("query", "domain"), f"no offer of domain {domain!r} (served: {known})")
    customer_id = await backends.resolve(customer_id)  # a linked visitor: its customer
    inputs = await _offer_inputs(backends, customer_id)
    suppressed = (inputs.get("blocked") or {}).get(channel) if channel is not None else None
    if suppressed is None and channel is not None:
        timezone = (inputs.get("customer") or {}).get("timezone")
        suppressed = await backends.cap_reached(customer_id, channel, campaign, timezone)
    read = time.perf_counter()
    affinities = inputs.get("affinities") or {}
    audience = Audience(
        inputs.get("customer"),
        inputs.get("offered"),
        affinities,
        inputs.get("segments"),
        frozenset(inputs.get("recent", ())),
    )
    now = time.time()
    # A suppressed answer ranks nothing: the model is asked about no offer.
    offers = (
        [] if suppressed else eligible(catalog, domain, at=now, channel=channel, audience=audience)
    )
    score = backends.recommend(recommender_row(inputs["vector"], affinities, offers))
    scored = time.perf_counter()
    rules = backends.ruleset()
    # The control groups the turn's actions honour: one answer for both paths. A control
    # customer's decision is made and logged (the control arm), its offers never shown.
    control = control_group(customer_id, campaign, rules.policy)
    decision_id = new_decision_id()
    decided: Decided | None = None
    if not suppressed:
        ranking = rank(inputs["vector"], affinities, offers, score.values)
        first_domain = domain or (ranking.scored[0][0].domain if len(ranking) else None)
        share = rules.policy.exploration.share_for(channel, first_domain)
        decided = decide(ranking, k, share, decision_id)
    context = Context(
        decision_id=decision_id,
        customer_id=customer_id,
        at=now,
        source="next_best_offer",
        rule_id=NEXT_BEST_OFFER,
        campaign=campaign,
        channel=channel,
        domain=domain,
        model=RECOMMENDER,
        model_version=score.version,
        rules_version=rules.source,
        catalog_version=str(catalog.version),
    )
    record = decision_record(context, decided, inputs["vector"], control, suppressed)
    ranked = time.perf_counter()
    logged = await _log_decision(backends, record, key.key_id)
    logging_done = time.perf_counter()
    shown = [] if decided is None or control else decided.offers
    answer = NextBestOfferOut(
        decision_id=decision_id,
        logged=logged,
        explored=record.explored and not control,
        customer_id=customer_id,
        known=inputs["known"],
        cold_start=not inputs["known"],
        channel=channel,
        model=ModelRef(name=score.model, version=score.version),
        offers=[
            OfferOut(
                offer_id=r.offer_id,
                title=r.title,
                domain=r.domain,
                category=r.category,
                probability=round(r.probability, 6),
                expected_value=round(r.expected_value, 6),
                reasons=list(r.reasons),
                propensity=record.propensity if i == 0 else None,
            )
            for i, r in enumerate(shown)
        ],
        top_affinity=inputs["top_affinity"],
        suppressed=suppressed,
        control=control,
    )
    # Built and validated once here; FastAPI would validate it a second time.
    timing = ", ".join(
        f"{name};dur={ms * 1000:.2f}"
        for name, ms in (
            ("state", read - started),
            ("score", scored - read),
            ("rank", ranked - scored),
            ("log", logging_done - ranked),
        )
    )
    headers = {"Server-Timing": timing}
    return Response(answer.model_dump_json(), media_type="application/json", headers=headers)


async def _log_decision(backends: Backends, record: DecisionRecord, key_id: str) -> bool:
    """The decision into the customer's stream (its actor logs and remembers it), or
    False when the broker does not take it: the answer still goes out and says so, and
    the refusal is counted with the record as its sample, where refused collection calls
    are (`engage report collect`, `engage_collect_refused_total{source="next_best_offer"}`)."""
    customer = record.customer_id
    visitor = customer.startswith(ANON_PREFIX)
    event = Decision(
        event_id=record.decision_id,
        customer_id=None if visitor else customer,
        anonymous_id=customer[len(ANON_PREFIX) :] if visitor else None,
        timestamp=datetime.fromtimestamp(record.at, UTC),
        decision=record,
    )
    try:
        await backends.publisher.publish([event])
    except PublishError as error:
        refusal = Refusal("next_best_offer", "decision_log", f"not logged: {error.reason}")
        backends.refusals.record([refusal], record.model_dump(mode="json"), key_id)
        return False
    return True


@router.get(
    "/v1/customers/{customer_id}/timeline",
    response_model=TimelineOut,
    responses={**ERRORS, **UNAVAILABLE},
)
async def timeline(
    customer_id: CustomerId,
    backends: Live,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    _key: Grant = READ,
) -> Any:
    """What the customer's latest turns decided and why, newest first: per rule of the
    trigger, fired (with the action) or the reason it did not; the scores and model
    versions used (`ENGAGE_ACTORS_TRACE_TURNS` turns are kept)."""
    rows = await backends.timeline(customer_id, limit)
    return TimelineOut(customer_id=customer_id, turns=[json.loads(row) for row in rows])


@router.get("/v1/customers/{customer_id}/context", responses={**ERRORS, **UNAVAILABLE})
async def context(customer_id: CustomerId, backends: Live, _key: Grant = READ) -> dict[str, Any]:
    """Session context, lifetime figures, features and live scores of a customer."""
    snapshot = await backends.on_shard(customer_id, "snapshot")
    vector = snapshot.pop("vector")
    affinities = snapshot.get("affinities") or {}
    audience = Audience(customer=snapshot.get("customer"), affinities=affinities)
    offers = eligible(backends.catalog.catalog, at=time.time(), audience=audience)
    try:
        score = backends.recommend(recommender_row(vector, affinities, offers))
    except ApiError:  # the context is still worth answering without live scores
        snapshot["scores"] = None
        return snapshot
    best = rank(vector, affinities, offers, score.values).top(1)
    snapshot["scores"] = {
        "recommender_version": score.version,
        "best_offer": best[0].offer_id if best else None,
        "best_offer_p": best[0].probability if best else None,
    }
    return snapshot
