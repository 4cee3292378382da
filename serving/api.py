"""The HTTP API ingress on Ray Serve (FastAPI).

(No `from __future__ import annotations` here: FastAPI resolves route signatures at run
time inside Serve replicas and proxies, where string annotations do not resolve.)

Reads go to the customer's shard (which activates the customer from Redis if needed) and
to the scorer; writes go to Kafka and are answered once the broker has acknowledged them.
"""

import asyncio
import logging
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve

from actors.catalog import Domain
from actors.config import ActorConfig, KafkaConfig, RedisConfig
from actors.errors import EngageError, ShardUnavailableError
from actors.events import EVENT_ADAPTER, ID_PATTERN, Event, field_path
from actors.offers import rank_offers
from actors.outcomes import GroupBy, read_counters, report
from actors.router import ShardRouter
from actors.scoring import RECOMMENDER
from serving.config import ApiConfig
from serving.publisher import EventPublisher, PublishError

log = logging.getLogger(__name__)

app = FastAPI(
    title="engage",
    version="0.1.0",
    description="Real-time customer engagement: events in, next-best-offers out.",
)

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


class ModelRef(BaseModel):
    name: str
    version: str


class NextBestOfferOut(BaseModel):
    customer_id: str
    known: bool
    cold_start: bool
    model: ModelRef
    offers: list[OfferOut]
    top_affinity: str | None


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]] = Field(min_length=1)


class FieldError(BaseModel):
    field: str
    message: str


class RejectedEvent(BaseModel):
    index: int
    event_id: str | None
    errors: list[FieldError]


class EventBatchOut(BaseModel):
    accepted: int
    rejected: list[RejectedEvent]


class ErrorOut(BaseModel):
    error: str
    detail: str


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


@serve.deployment(name="Api", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=500)
@serve.ingress(app)
class Api:
    def __init__(
        self,
        namespace: str,
        actors: ActorConfig,
        redis_config: RedisConfig,
        kafka: KafkaConfig,
        api: ApiConfig,
        scorer: Any,
        ingest: Any,
    ) -> None:
        self.router = ShardRouter(namespace, actors, redis_config)
        self.scorer = scorer
        self.ingest = ingest
        self.publisher = EventPublisher(kafka)
        self.config = api
        self.redis_config = redis_config
        self.slots = actors.slots

    # ---- health ------------------------------------------------------------------------

    @app.get("/healthz")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/noop")
    async def noop(self) -> dict[str, bool]:
        """Does nothing: the baseline the latency benchmark compares against."""
        return {"ok": True}

    # ---- queries -----------------------------------------------------------------------

    @app.get(
        "/v1/customers/{customer_id}/next-best-offer",
        response_model=NextBestOfferOut,
        responses={503: {"model": ErrorOut}},
    )
    async def next_best_offer(
        self,
        customer_id: CustomerId,
        k: Annotated[int, Query(ge=1, le=15, description="How many offers")] = 3,
        domain: Annotated[Domain | None, Query(description="Only offers of this domain")] = None,
    ) -> Any:
        try:
            snapshot = await self.router.call(customer_id, "snapshot")
            (score,) = await self.scorer.score.remote(RECOMMENDER, [snapshot["vector"]])
        except ShardUnavailableError as error:
            return _error(503, "shard_unavailable", str(error))
        except EngageError as error:
            return _error(503, "scorer_unavailable", str(error))
        ranked = rank_offers(snapshot["vector"], score.values, k, domain)
        return NextBestOfferOut(
            customer_id=customer_id,
            known=snapshot["known"],
            cold_start=not snapshot["known"],
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
                )
                for r in ranked
            ],
            top_affinity=snapshot["customer"]["top_affinity"],
        )

    @app.get("/v1/customers/{customer_id}/context")
    async def context(self, customer_id: CustomerId) -> Any:
        try:
            snapshot = await self.router.call(customer_id, "snapshot")
        except ShardUnavailableError as error:
            return _error(503, "shard_unavailable", str(error))
        snapshot.pop("vector", None)
        return snapshot

    # ---- collection --------------------------------------------------------------------

    @app.post("/v1/events", response_model=EventBatchOut, responses={422: {"model": EventBatchOut}})
    async def events(self, batch: EventBatchIn) -> Any:
        accepted: list[Event] = []
        rejected: list[RejectedEvent] = []
        for index, raw in enumerate(batch.events):
            try:
                accepted.append(EVENT_ADAPTER.validate_python(raw))
            except ValidationError as error:
                rejected.append(
                    RejectedEvent(
                        index=index,
                        event_id=raw.get("event_id")
                        if isinstance(raw.get("event_id"), str)
                        else None,
                        errors=[
                            FieldError(field=field_path(e["loc"]) or "<event>", message=e["msg"])
                            for e in error.errors(include_url=False)
                        ],
                    )
                )
        try:
            await self.publisher.publish(accepted)
        except PublishError as error:
            return _error(503, "broker_unavailable", error.reason)
        body = EventBatchOut(accepted=len(accepted), rejected=rejected)
        return JSONResponse(body.model_dump(), status_code=200 if accepted else 422)

    # ---- introspection ------------------------------------------------------------------

    @app.get("/v1/shards")
    async def shards(self) -> Any:
        found = await self.router.each_shard("introspect")
        for info in found.values():
            info.pop("turn_ms", None)
        return {"epoch": self.router.table.epoch, "shards": list(found.values())}

    @app.get("/v1/ingest")
    async def ingest_stats(self) -> Any:
        return await self.ingest.stats.remote()

    @app.get("/v1/models")
    async def models(self) -> Any:
        return await self.scorer.status.remote()

    # ---- reports -----------------------------------------------------------------------

    @app.get("/v1/reports/outcomes")
    async def outcomes(
        self,
        by: Annotated[
            GroupBy, Query(description="Group by rule, offer, model or campaign")
        ] = "rule",
    ) -> Any:
        """Offer conversion and uplift against the holdout group."""
        counters = await asyncio.to_thread(
            read_counters,
            self.redis_config.require_url(),
            self.redis_config.prefix,
            range(self.slots),
        )
        return {"by": by, "rows": report(counters, by)}

    # ---- personal data -------------------------------------------------------------------

    @app.delete("/v1/customers/{customer_id}")
    async def forget(self, customer_id: CustomerId) -> Any:
        """Delete everything engage holds on the customer (privacy requests)."""
        try:
            await self.router.call(customer_id, "forget")
        except ShardUnavailableError as error:
            return _error(503, "shard_unavailable", str(error))
        return {"forgotten": customer_id}


@app.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """No stack trace ever leaves the server; the log has it."""
    log.exception("unexpected error on %s", request.url.path)
    return _error(500, "internal", "unexpected error; see the server log")
