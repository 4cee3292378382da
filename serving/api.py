"""The HTTP API ingress on Ray Serve (FastAPI): collection, queries, admin, dashboard.

(No `from __future__ import annotations` here: FastAPI resolves route signatures at run
time inside Serve replicas and proxies, where string annotations do not resolve.)

Reads go to the customer's shard (which activates the customer from Redis if needed) and
to the scorer; writes go to Kafka and are answered once the broker has them. Every route
checks its key (serving.security), every error is a 4xx that names the problem, and no
answer ever carries a stack trace.
"""

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve
from starlette.exceptions import HTTPException as StarletteHTTPException

from actors.actions import Channel
from actors.catalog import Domain
from actors.config import ActorConfig, KafkaConfig, RedisConfig
from actors.errors import (
    EngageError,
    InvalidEventError,
    ModelError,
    NoSuchModelVersionError,
    ShardUnavailableError,
    StoreUnavailableError,
)
from actors.events import EVENT_ADAPTER, ID_PATTERN, Event, event_from_dict, field_path
from actors.gc_tuning import tune_gc
from actors.host import offer_inputs_of
from actors.logs import configure as configure_logs
from actors.offers import rank_offers
from actors.outcomes import GroupBy, read_counters, report
from actors.router import ShardRouter
from actors.rules import PolicySpec
from actors.rules_source import RulesFile
from actors.scoring import RECOMMENDER, Score
from actors.slots import slot_of
from actors.state import CustomerState
from actors.store import RedisStateStore
from serving import pixel, prometheus, segment
from serving.config import ApiConfig
from serving.edge import EdgeConfig, EdgeMiddleware, error_body
from serving.figures import ingest_figures, summarize
from serving.model_set import score_batch
from serving.publisher import EventPublisher, PublishError
from serving.security import ApiError, Grant, KeyRing, RateLimiter, Scope, presented_key
from serving.sources import client_refusal
from serving.watcher import ModelWatcher
from training.registry import CHALLENGER, ModelRegistry

log = logging.getLogger(__name__)

app = FastAPI(
    title="engage",
    version="0.1.0",
    description=(
        "Real-time customer engagement: events in, next-best-offers out. Send a key as "
        "`Authorization: Bearer <key>` (write keys also as the HTTP basic-auth user, as "
        "Segment SDKs do; the pixel and the dashboard take `?key=`)."
    ),
)
app.add_middleware(EdgeMiddleware)

OUTBOUND_CHANNELS = frozenset({"email", "push", "sms"})


# ---- answers ---------------------------------------------------------------------------


class ErrorOut(BaseModel):
    error: str
    detail: str
    # The same two, under the names Segment's and RudderStack's SDKs read (serving/edge.py).
    code: str
    message: str


class FieldError(BaseModel):
    field: str
    message: str


class ValidationErrorOut(BaseModel):
    error: Literal["invalid_request"]
    detail: str
    fields: list[FieldError]
    code: Literal["invalid_request"] = "invalid_request"
    message: str = ""


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body is not JSON"},
    401: {"model": ErrorOut, "description": "no key, or an unknown key"},
    403: {"model": ErrorOut, "description": "the key cannot do this"},
    413: {"model": ErrorOut, "description": "request or event too large"},
    422: {"model": ValidationErrorOut, "description": "a parameter or field is invalid"},
    429: {"model": ErrorOut, "description": "rate limit; see Retry-After"},
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "a backend (shard, scorer, broker) is unavailable"}
}


@app.exception_handler(ApiError)
async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(error_body(exc.error, exc.detail), exc.status, headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [
        FieldError(field=".".join(str(p) for p in e["loc"]) or "<request>", message=e["msg"])
        for e in exc.errors()
    ]
    detail = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
    body = ValidationErrorOut(error="invalid_request", detail=detail, fields=fields, message=detail)
    return JSONResponse(body.model_dump(), 422)


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    error = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http"
    )
    return JSONResponse(error_body(error, str(exc.detail)), exc.status_code, headers=exc.headers)


@app.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """No stack trace ever leaves the server; the log has it."""
    log.exception("unexpected error on %s", request.url.path)
    return JSONResponse(error_body("internal", "unexpected error; see the server log"), 500)


# ---- access ---------------------------------------------------------------------------


def _access(needed: Scope) -> Any:
    # async: FastAPI runs a sync dependency in a worker thread, a hop per request.
    async def check(
        request: Request,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Grant:
        return _grant(
            request, presented_key(authorization, request.query_params.get("key")), needed
        )

    return Depends(check)


def _grant(request: Request, key: str | None, needed: Scope) -> Grant:
    """What `key` may do, if it may do `needed`, within its rate limit (ApiError if not)."""
    keys: KeyRing = request.app.state.keys
    grant = keys.check(key, needed)
    if grant.client:
        # Per visitor, not per key: an abuser of a key embedded in a page must not
        # get every honest visitor sending with it a 429.
        address = client_address(request, request.app.state.address_header)
        request.app.state.address_limiter.check(
            f"{grant.key_id}@{address}", "from this address for this key"
        )
    else:
        limiter: RateLimiter = request.app.state.limiter
        limiter.check(grant.key_id)
    return grant


def _source_refusal(event: Event, caller: Grant) -> FieldError | None:
    """Why a client source may not send `event` (serving.sources), or None."""
    if not caller.client:
        return None
    refusal = client_refusal(event)
    return None if refusal is None else FieldError(field=refusal[0], message=refusal[1])


def _refuse_for_source(event: Event, caller: Grant) -> None:
    refusal = _source_refusal(event, caller)
    if refusal is not None:
        raise ApiError(403, "forbidden", f"{refusal.field}: {refusal.message}")


def client_address(request: Request, header: str | None) -> str:
    if header:
        forwarded = request.headers.get(header)
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


COLLECT = _access(Scope.COLLECT)
READ = _access(Scope.READ)
ADMIN = _access(Scope.ADMIN)

CustomerId = Annotated[
    str,
    Path(
        pattern=ID_PATTERN.replace("^", "^(anon:)?", 1),
        description="A customer id, or anon:<anonymous id> for a visitor not yet known.",
    ),
]
ModelName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


# ---- request and answer bodies ----------------------------------------------------------


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
    channel: str | None
    model: ModelRef
    offers: list[OfferOut]
    top_affinity: str | None
    suppressed: str | None = Field(description="why no offer may go out on this channel")


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]] = Field(min_length=1)


class RejectedEvent(BaseModel):
    index: int
    event_id: str | None
    errors: list[FieldError]


class EventBatchOut(BaseModel):
    accepted: int
    rejected: list[RejectedEvent]


@dataclass
class _Admitted:
    """A request's events as judged one by one: accepted, or refused with the reasons."""

    accepted: list[Event] = field(default_factory=list)
    rejected: list[RejectedEvent] = field(default_factory=list)
    forbidden: int = 0  # refused for what the key's kind may send

    def refuse(
        self, index: int, raw: Any, errors: list[FieldError], forbidden: bool = False
    ) -> None:
        self.rejected.append(_rejected(index, raw, errors))
        self.forbidden += forbidden

    @property
    def all_forbidden(self) -> bool:
        """Every refusal is for the key's kind."""
        return self.forbidden == len(self.rejected)


class SegmentOut(BaseModel):
    """Each call of a batch is accepted or refused on its own: `success` is false only
    when none was accepted (400, with `code` and `message` for the SDK to give up on)."""

    success: bool
    accepted: int
    rejected: list[RejectedEvent]
    code: str | None = None
    message: str | None = None


SEGMENT_ANSWERS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    **UNAVAILABLE,
    400: {"model": SegmentOut | ErrorOut, "description": "no call accepted, or not JSON"},
    403: {
        "model": SegmentOut | ErrorOut,
        "description": "the key cannot do this, or every call is one its kind may not send",
    },
}


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


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offer_id: str = Field(pattern=ID_PATTERN)
    outcome: Literal["shown", "clicked", "converted"]
    action_id: str | None = Field(default=None, pattern=ID_PATTERN)
    value: float = Field(default=0.0, ge=0, le=10_000_000)
    event_id: str | None = Field(default=None, pattern=ID_PATTERN)


class AcceptedOut(BaseModel):
    accepted: int
    event_ids: list[str]


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)


class ShadowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(default=None, ge=1, description="null stops shadow scoring")


class AliasOut(BaseModel):
    model: str
    champion: int | None
    challenger: int | None


class ForgottenOut(BaseModel):
    forgotten: str


def _rejected(index: int, raw: Any, errors: list[FieldError]) -> RejectedEvent:
    event_id = raw.get("event_id") or raw.get("messageId") if isinstance(raw, dict) else None
    return RejectedEvent(
        index=index, event_id=event_id if isinstance(event_id, str) else None, errors=errors
    )


def _field_errors(error: ValidationError | InvalidEventError) -> list[FieldError]:
    if isinstance(error, InvalidEventError):
        return [FieldError(field=error.field or "<event>", message=error.reason)]
    return [
        FieldError(field=field_path(e["loc"]) or "<event>", message=e["msg"])
        for e in error.errors(include_url=False)
    ]


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
        configure_logs(kafka_level=kafka.log_level)
        self.router = ShardRouter(namespace, actors, redis_config)
        self.scorer = scorer
        self.ingest = ingest
        self.publisher = EventPublisher(kafka)
        self.config = api
        self.event_time = actors.event_time_bounds()
        self.redis_config = redis_config
        self.slots = actors.slots
        # The rules' policy (the marketing suppression after a fraud alert), read from the
        # same file as the shards and reloaded the same way.
        self.rules_file = RulesFile(actors.rules_file)
        self.rules_reload_s = actors.rules_reload_s
        self._rules_checked = time.monotonic()
        self.registry = ModelRegistry(redis_config.require_url(), redis_config.prefix)
        # Next-best-offer scores here, with the same champion the Scorer deployment
        # serves and the same swap: it saves a Serve hop (about 6 ms on 2 cores) per query.
        self.watcher = ModelWatcher(redis_config.require_url(), redis_config.prefix)
        # ...and reads the customer's committed state straight from Redis: a shard acks
        # a batch only once its state is saved, so this is every acknowledged event,
        # without a Ray call to the shard (another ~3 ms per query).
        self.states = RedisStateStore(redis_config.require_url(), redis_config.prefix)
        app.state.keys = KeyRing(api)
        app.state.limiter = RateLimiter(api.rate_limit_per_s, api.rate_limit_burst)
        app.state.address_limiter = RateLimiter(
            api.rate_limit_per_address_per_s, api.rate_limit_per_address_burst
        )
        app.state.address_header = api.client_address_header
        app.state.edge = EdgeConfig(api.max_body_bytes, api.cors_origins)
        if app.state.keys.open:
            log.warning("no API keys configured: the API is open (development only)")
        tune_gc()

    # ---- health ------------------------------------------------------------------------

    @app.get("/healthz", responses=ERRORS)
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/noop", responses=ERRORS)
    async def noop(self) -> dict[str, bool]:
        """Does nothing: the baseline the latency benchmark compares against."""
        return {"ok": True}

    # ---- collection --------------------------------------------------------------------

    async def _publish(self, events: list[Event]) -> None:
        try:
            await self.publisher.publish(events)
        except PublishError as error:
            raise ApiError(503, "broker_unavailable", error.reason) from error

    def _too_big(self, raw: Any) -> FieldError | None:
        size = len(repr(raw))
        if size > self.config.max_event_bytes:
            return FieldError(
                field="<event>",
                message=f"event of {size} bytes, over {self.config.max_event_bytes}",
            )
        return None

    def _out_of_bounds(self, event: Event) -> FieldError | None:
        """Event time too far ahead or too old: refused here, as ingest would refuse it."""
        reason = self.event_time.violation(event, time.time())
        return None if reason is None else FieldError(field="timestamp", message=reason)

    def _check_count(self, count: int) -> None:
        if count > self.config.max_batch_events:
            raise ApiError(
                413, "too_large", f"{count} events, over {self.config.max_batch_events} per request"
            )

    @app.post(
        "/v1/events",
        response_model=EventBatchOut,
        responses={
            **ERRORS,
            **UNAVAILABLE,
            422: {"model": EventBatchOut | ValidationErrorOut, "description": "no event is valid"},
        },
    )
    async def events(self, batch: EventBatchIn, caller: Grant = COLLECT) -> Any:
        """Typed events. Valid ones are accepted (on the broker when this answers); the
        invalid ones are listed with the fields at fault."""
        self._check_count(len(batch.events))
        admitted = _Admitted()
        for index, raw in enumerate(batch.events):
            too_big = self._too_big(raw)
            if too_big is not None:
                admitted.refuse(index, raw, [too_big])
                continue
            try:
                valid = EVENT_ADAPTER.validate_python(raw)
            except ValidationError as error:
                admitted.refuse(index, raw, _field_errors(error))
                continue
            self._admit(admitted, index, raw, valid, caller)
        await self._publish(admitted.accepted)
        body = EventBatchOut(accepted=len(admitted.accepted), rejected=admitted.rejected)
        status = 200 if admitted.accepted else 403 if admitted.all_forbidden else 422
        return JSONResponse(body.model_dump(), status_code=status)

    def _admit(
        self, admitted: _Admitted, index: int, raw: Any, valid: Event, caller: Grant
    ) -> None:
        """A valid event is accepted unless the key's kind may not send it or its time is
        out of bounds."""
        if (refused := _source_refusal(valid, caller)) is not None:
            admitted.refuse(index, raw, [refused], forbidden=True)
        elif (out_of_bounds := self._out_of_bounds(valid)) is not None:
            admitted.refuse(index, raw, [out_of_bounds])
        else:
            admitted.accepted.append(valid)

    async def _segment(self, calls: list[tuple[str | None, Any]], caller: Grant) -> JSONResponse:
        self._check_count(len(calls))
        admitted = _Admitted()
        now = datetime.now(UTC)
        for index, (kind, raw) in enumerate(calls):
            if not isinstance(raw, dict):
                admitted.refuse(index, raw, [FieldError(field="<call>", message="not an object")])
                continue
            too_big = self._too_big(raw)
            if too_big is not None:
                admitted.refuse(index, raw, [too_big])
                continue
            message = {**raw, "type": kind or raw.get("type")}
            try:
                valid = segment.to_event(message, now)
            except (ValidationError, InvalidEventError) as error:
                admitted.refuse(index, raw, _field_errors(error))
                continue
            self._admit(admitted, index, raw, valid, caller)
        accepted, rejected = admitted.accepted, admitted.rejected
        await self._publish(accepted)
        if accepted or not rejected:
            body = SegmentOut(success=True, accepted=len(accepted), rejected=rejected)
            return JSONResponse(body.model_dump(), status_code=200)
        first = rejected[0].errors[0]
        status, code = (403, "forbidden") if admitted.all_forbidden else (400, "invalid_request")
        body = SegmentOut(
            success=False,
            accepted=0,
            rejected=rejected,
            code=code,
            message=f"no call accepted; call {rejected[0].index}: {first.field}: {first.message}",
        )
        return JSONResponse(body.model_dump(), status_code=status)

    @app.post(
        "/v1/track",
        response_model=SegmentOut,
        responses=SEGMENT_ANSWERS,
    )
    async def track(self, call: Annotated[dict[str, Any], Body()], caller: Grant = COLLECT) -> Any:
        """Segment `track`."""
        return await self._segment([("track", call)], caller)

    @app.post(
        "/v1/page",
        response_model=SegmentOut,
        responses=SEGMENT_ANSWERS,
    )
    async def page(self, call: Annotated[dict[str, Any], Body()], caller: Grant = COLLECT) -> Any:
        """Segment `page`."""
        return await self._segment([("page", call)], caller)

    @app.post(
        "/v1/screen",
        response_model=SegmentOut,
        responses=SEGMENT_ANSWERS,
    )
    async def screen(self, call: Annotated[dict[str, Any], Body()], caller: Grant = COLLECT) -> Any:
        """Segment `screen`."""
        return await self._segment([("screen", call)], caller)

    @app.post(
        "/v1/identify",
        response_model=SegmentOut,
        responses=SEGMENT_ANSWERS,
    )
    async def identify(
        self, call: Annotated[dict[str, Any], Body()], caller: Grant = COLLECT
    ) -> Any:
        """Segment `identify`."""
        return await self._segment([("identify", call)], caller)

    @app.post(
        "/v1/batch",
        response_model=SegmentOut,
        responses=SEGMENT_ANSWERS,
    )
    async def segment_batch(self, body: segment.SegmentBatch, caller: Grant = COLLECT) -> Any:
        """Segment `batch` (what the SDKs send): each call typed by its `type`."""
        return await self._segment([(None, call) for call in body.batch], caller)

    # The browser SDK (analytics.js / @segment/analytics-next) posts to one-letter paths,
    # with the write key in the body and `Content-Type: text/plain` (a "simple" request:
    # no CORS preflight), or a batch to `/b`. `a` (alias) and `g` (group) are answered
    # call by call like any other refused call.
    @app.post("/v1/t", response_model=SegmentOut, responses=SEGMENT_ANSWERS)
    async def browser_track(self, request: Request) -> Any:
        """analytics.js `track`: the write key in the body, any content type."""
        return await self._browser(request, "track")

    @app.post("/v1/p", response_model=SegmentOut, responses=SEGMENT_ANSWERS)
    async def browser_page(self, request: Request) -> Any:
        """analytics.js `page`."""
        return await self._browser(request, "page")

    @app.post("/v1/s", response_model=SegmentOut, responses=SEGMENT_ANSWERS)
    async def browser_screen(self, request: Request) -> Any:
        """analytics.js `screen`."""
        return await self._browser(request, "screen")

    @app.post("/v1/i", response_model=SegmentOut, responses=SEGMENT_ANSWERS)
    async def browser_identify(self, request: Request) -> Any:
        """analytics.js `identify`."""
        return await self._browser(request, "identify")

    @app.post("/v1/a", response_model=SegmentOut, responses=SEGMENT_ANSWERS)
    async def browser_alias(self, request: Request) -> Any:
        """analytics.js `alias` (refused with the reason: not supported yet)."""
        return await self._browser(request, "alias")

    @app.post("/v1/g", response_model=SegmentOut, responses=SEGMENT_ANSWERS)
    async def browser_group(self, request: Request) -> Any:
        """analytics.js `group` (refused with the reason: not supported)."""
        return await self._browser(request, "group")

    @app.post("/v1/b", response_model=SegmentOut, responses=SEGMENT_ANSWERS)
    async def browser_batch(self, request: Request) -> Any:
        """analytics.js batching delivery: `{"writeKey", "batch": [call, ...]}`."""
        return await self._browser(request, None)

    async def _browser(self, request: Request, kind: str | None) -> JSONResponse:
        try:
            payload = json.loads(await request.body())
        except ValueError as error:
            raise ApiError(400, "bad_request", f"body is not JSON: {error}") from None
        if not isinstance(payload, dict):
            raise ApiError(400, "bad_request", "body is not a JSON object")
        body_key = payload.get("writeKey")
        key = presented_key(
            request.headers.get("authorization"), request.query_params.get("key")
        ) or (body_key if isinstance(body_key, str) else None)
        caller = _grant(request, key, Scope.COLLECT)
        if kind is not None:
            return await self._segment([(kind, payload)], caller)
        calls = payload.get("batch")
        if not isinstance(calls, list) or not calls:
            raise ApiError(400, "bad_request", "batch: a non-empty list of calls is required")
        return await self._segment([(None, call) for call in calls], caller)

    @app.get(
        "/v1/pixel.gif",
        response_class=Response,
        responses={
            **ERRORS,
            **UNAVAILABLE,
            200: {"content": {"image/gif": {}}, "description": "a transparent 1x1 GIF"},
        },
    )
    async def tracking_pixel(
        self,
        caller: Grant = COLLECT,
        uid: Annotated[str | None, Query(description="customer id", max_length=128)] = None,
        aid: Annotated[str | None, Query(description="anonymous id", max_length=128)] = None,
        t: Annotated[
            Literal["page_view", "offer_feedback"], Query(description="event type")
        ] = "page_view",
        url: Annotated[str | None, Query(max_length=2048)] = None,
        category: Annotated[str | None, Query(max_length=64)] = None,
        offer: Annotated[
            str | None, Query(description="offer id (offer_feedback)", max_length=128)
        ] = None,
        action: Annotated[
            str | None, Query(description="action id (offer_feedback)", max_length=128)
        ] = None,
        outcome: Annotated[Literal["shown", "clicked", "converted"], Query()] = "shown",
        eid: Annotated[
            str | None, Query(description="event id (dedup of reloads)", max_length=128)
        ] = None,
    ) -> Response:
        """A 1x1 GIF that records an event: e-mail opens (offer shown), pages without JS."""
        try:
            recorded = pixel.to_event(
                uid=uid,
                aid=aid,
                kind=t,
                url=url,
                category=category,
                offer=offer,
                action=action,
                outcome=outcome,
                event_id=eid,
            )
        except InvalidEventError as error:
            raise ApiError(400, "invalid_event", error.reason) from None
        _refuse_for_source(recorded, caller)
        await self._publish([recorded])
        return Response(pixel.GIF, media_type="image/gif", headers={"Cache-Control": "no-store"})

    @app.post(
        "/v1/customers/{customer_id}/feedback",
        response_model=AcceptedOut,
        responses={**ERRORS, **UNAVAILABLE},
    )
    async def feedback(
        self, customer_id: CustomerId, body: FeedbackIn, caller: Grant = COLLECT
    ) -> Any:
        """What happened to an offer: shown, clicked, converted (credited for uplift)."""
        event_id = body.event_id or f"fb-{uuid.uuid4().hex}"
        identity = (
            {"anonymous_id": customer_id.removeprefix("anon:")}
            if customer_id.startswith("anon:")
            else {"customer_id": customer_id}
        )
        recorded = event_from_dict(
            {
                "type": "offer_feedback",
                "event_id": event_id,
                "timestamp": datetime.now(UTC).isoformat(),
                "outcome": body.outcome,
                "offer_id": body.offer_id,
                "action_id": body.action_id,
                "value": body.value,
                **identity,
            }
        )
        _refuse_for_source(recorded, caller)
        await self._publish([recorded])
        return AcceptedOut(accepted=1, event_ids=[event_id])

    # ---- queries -----------------------------------------------------------------------

    def _recommend(self, vector: list[float]) -> Score:
        answers, shadow = score_batch(self.watcher.models, [(RECOMMENDER, [vector])])
        if shadow:
            self.watcher.log_shadow(shadow)
        answer = answers[0]
        if isinstance(answer, EngageError):
            raise ApiError(503, "scorer_unavailable", str(answer))
        return answer[0]

    async def _snapshot(self, customer_id: str, method: str = "snapshot") -> dict[str, Any]:
        try:
            snapshot: dict[str, Any] = await self.router.call(customer_id, method)
        except ShardUnavailableError as error:
            raise ApiError(503, "shard_unavailable", str(error)) from error
        return snapshot

    async def _offer_inputs(self, customer_id: str) -> dict[str, Any]:
        try:
            (stored,) = await self.states.load_many(
                [(slot_of(customer_id, self.slots), customer_id)]
            )
        except StoreUnavailableError:
            # Redis unreachable from here: the owning shard may still answer.
            return await self._snapshot(customer_id, "offer_inputs")
        state = CustomerState.from_json(stored.data) if stored.data else CustomerState()
        return offer_inputs_of(state, time.time(), self._policy().suppress_marketing_after_fraud)

    def _policy(self) -> PolicySpec:
        if time.monotonic() - self._rules_checked >= self.rules_reload_s:
            self._rules_checked = time.monotonic()
            self.rules_file.reload()
        return self.rules_file.rules.policy

    @app.get(
        "/v1/customers/{customer_id}/next-best-offer",
        response_model=NextBestOfferOut,
        responses={**ERRORS, **UNAVAILABLE},
    )
    async def next_best_offer(
        self,
        customer_id: CustomerId,
        _key: Grant = READ,
        k: Annotated[int, Query(ge=1, le=15, description="How many offers")] = 3,
        domain: Annotated[Domain | None, Query(description="Only offers of this domain")] = None,
        channel: Annotated[
            Channel | None,
            Query(description="Where the offer will be shown; outbound channels honour consent"),
        ] = None,
    ) -> Any:
        started = time.perf_counter()
        inputs = await self._offer_inputs(customer_id)
        read = time.perf_counter()
        score = self._recommend(inputs["vector"])
        scored = time.perf_counter()
        suppressed = None
        if channel in OUTBOUND_CHANNELS:
            if not inputs["consent_marketing"]:
                suppressed = "customer opted out of marketing"
            elif inputs["marketing_suppressed"]:
                suppressed = "recent fraud alert"
        ranked = [] if suppressed else rank_offers(inputs["vector"], score.values, k, domain)
        answer = NextBestOfferOut(
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
                )
                for r in ranked
            ],
            top_affinity=inputs["top_affinity"],
            suppressed=suppressed,
        )
        # Built and validated once here; FastAPI would validate it a second time.
        timing = f"state;dur={(read - started) * 1000:.2f}, score;dur={(scored - read) * 1000:.2f}"
        headers = {"Server-Timing": timing}
        return Response(answer.model_dump_json(), media_type="application/json", headers=headers)

    @app.get(
        "/v1/customers/{customer_id}/timeline",
        response_model=TimelineOut,
        responses={**ERRORS, **UNAVAILABLE},
    )
    async def timeline(
        self,
        customer_id: CustomerId,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        _key: Grant = READ,
    ) -> Any:
        """What the customer's latest turns decided and why, newest first: per rule of the
        trigger, fired (with the action) or the reason it did not; the scores and model
        versions used (`ENGAGE_ACTORS_TRACE_TURNS` turns are kept)."""
        try:
            rows = await self.states.trace_of(slot_of(customer_id, self.slots), customer_id, limit)
        except StoreUnavailableError as error:
            raise ApiError(503, "store_unavailable", str(error)) from error
        return TimelineOut(customer_id=customer_id, turns=[json.loads(row) for row in rows])

    @app.get(
        "/v1/customers/{customer_id}/context",
        responses={**ERRORS, **UNAVAILABLE},
    )
    async def context(self, customer_id: CustomerId, _key: Grant = READ) -> dict[str, Any]:
        """Session context, lifetime figures, features and live scores of a customer."""
        snapshot = await self._snapshot(customer_id)
        vector = snapshot.pop("vector")
        try:
            score = self._recommend(vector)
            best = rank_offers(vector, score.values, 1)
            snapshot["scores"] = {
                "recommender_version": score.version,
                "best_offer": best[0].offer_id if best else None,
                "best_offer_p": best[0].probability if best else None,
            }
        except ApiError:
            snapshot["scores"] = None
        return snapshot

    @app.get("/v1/reports/outcomes", responses=ERRORS)
    async def outcomes(
        self,
        _key: Grant = READ,
        by: Annotated[
            GroupBy, Query(description="Group by rule, offer, model or campaign")
        ] = "rule",
    ) -> dict[str, Any]:
        """Offer conversion and uplift against the holdout group."""
        counters = await asyncio.to_thread(
            read_counters,
            self.redis_config.require_url(),
            self.redis_config.prefix,
            range(self.slots),
        )
        return {"by": by, "rows": report(counters, by)}

    # ---- models ------------------------------------------------------------------------

    @app.get("/v1/models", responses=ERRORS)
    async def models(self, _key: Grant = READ) -> dict[str, Any]:
        """Every registered version and alias, and what the scorer serves now."""

        def listing() -> dict[str, Any]:
            return {
                name: {
                    "aliases": self.registry.aliases(name),
                    "versions": [
                        {"version": m.version, "metrics": m.metrics, "created_at": m.created_at}
                        for m in self.registry.versions(name)
                    ],
                }
                for name in self.registry.names()
            }

        registered = await asyncio.to_thread(listing)
        try:
            serving = await self.scorer.status.remote()
        except Exception as error:  # the registry answer is still useful
            serving = {"error": str(error)}
        return {"registry": registered, "scorer": serving}

    async def _alias(self, name: str, change: Any) -> AliasOut:
        try:
            await asyncio.to_thread(change)
        except NoSuchModelVersionError as error:
            raise ApiError(404, "model", error.reason) from None
        except ModelError as error:
            raise ApiError(409, "model", error.reason) from None
        aliases = await asyncio.to_thread(self.registry.aliases, name)
        return AliasOut(
            model=name, champion=aliases.get("champion"), challenger=aliases.get("challenger")
        )

    @app.post(
        "/v1/models/{name}/promote",
        response_model=AliasOut,
        responses={**ERRORS, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
    )
    async def promote(self, name: ModelName, body: PromoteIn, _key: Grant = ADMIN) -> Any:
        """Make a version the champion; every scorer replica swaps within a second."""
        return await self._alias(name, lambda: self.registry.promote(name, body.version))

    @app.post(
        "/v1/models/{name}/rollback",
        response_model=AliasOut,
        responses={**ERRORS, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
    )
    async def rollback(self, name: ModelName, _key: Grant = ADMIN) -> Any:
        """Back to the previous champion."""
        return await self._alias(name, lambda: self.registry.rollback(name))

    @app.post(
        "/v1/models/{name}/shadow",
        response_model=AliasOut,
        responses={**ERRORS, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
    )
    async def shadow(self, name: ModelName, body: ShadowIn, _key: Grant = ADMIN) -> Any:
        """Score a version in shadow beside the champion (null stops it)."""
        return await self._alias(
            name, lambda: self.registry.set_alias(name, CHALLENGER, body.version)
        )

    # ---- operations ----------------------------------------------------------------------

    async def _figures(self) -> dict[str, Any]:
        shards = list((await self.router.each_shard("introspect")).values())
        ingest = await asyncio.to_thread(
            ingest_figures, self.redis_config.require_url(), self.redis_config.prefix
        )
        try:
            models = await self.scorer.status.remote()
        except Exception:
            models = {}
        return summarize(ingest, shards, models)

    @app.get("/v1/shards", responses=ERRORS)
    async def shards(self, _key: Grant = READ) -> dict[str, Any]:
        """Every shard: live customers, activations, passivations, mailbox, turn latency,
        and the histograms of its batches and of its calls to the model server."""
        found = await self.router.each_shard("introspect")
        for info in found.values():
            info.pop("turn_ms", None)  # one per event: the p50 and p99 say enough
        return {"epoch": self.router.table.epoch, "shards": list(found.values())}

    @app.get("/v1/ingest", responses=ERRORS)
    async def ingest_stats(self, _key: Grant = READ) -> dict[str, Any]:
        """Every ingest replica's figures, including its partitions and consumer lag."""
        replicas = await asyncio.to_thread(
            ingest_figures, self.redis_config.require_url(), self.redis_config.prefix
        )
        return {
            "replicas": replicas,
            "total_lag": sum(int(r.get("total_lag", 0)) for r in replicas),
        }

    @app.get("/v1/dashboard/data", responses=ERRORS)
    async def dashboard_data(self, _key: Grant = READ) -> dict[str, Any]:
        figures = await self._figures()
        counters = await asyncio.to_thread(
            read_counters,
            self.redis_config.require_url(),
            self.redis_config.prefix,
            range(self.slots),
        )
        figures["conversion"] = report(counters, "offer")
        figures.pop("turn_ms")
        figures.pop("scoring_ms")
        return figures

    @app.get(
        "/dashboard", response_class=HTMLResponse, responses={200: {"content": {"text/html": {}}}}
    )
    async def dashboard(self) -> HTMLResponse:
        """The live dashboard (open it with ?key=<read key>)."""
        page = resources.files("serving").joinpath("static/dashboard.html").read_text()
        return HTMLResponse(page)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={
            **ERRORS,
            200: {"content": {"text/plain": {}}, "description": "Prometheus text"},
        },
    )
    async def metrics(self, _key: Grant = READ) -> Response:
        figures = await self._figures()
        return Response(prometheus.render(figures), media_type=prometheus.CONTENT_TYPE)

    # ---- personal data -------------------------------------------------------------------

    @app.delete(
        "/v1/customers/{customer_id}",
        response_model=ForgottenOut,
        responses={**ERRORS, **UNAVAILABLE},
    )
    async def forget(self, customer_id: CustomerId, _key: Grant = ADMIN) -> Any:
        """Delete everything engage holds on the customer (privacy requests)."""
        try:
            await self.router.call(customer_id, "forget")
        except ShardUnavailableError as error:
            raise ApiError(503, "shard_unavailable", str(error)) from error
        return ForgottenOut(forgotten=customer_id)
