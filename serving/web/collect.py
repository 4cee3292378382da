"""Collection: typed events, Segment and RudderStack calls (server SDKs and the browser's
one-letter paths), the tracking pixel and offer feedback. Each event or call is judged on
its own: the valid ones are on the broker when the answer says accepted, the others are
listed with the fields at fault."""

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actors.errors import InvalidEventError
from actors.model.events import EVENT_ADAPTER, ID_PATTERN, Event, event_from_dict
from serving import pixel, segment
from serving.refusals import Refusal
from serving.screening import Screen
from serving.security import ApiError, Grant, Scope, presented_key
from serving.user_signature import CONTEXT_FIELD as SIGNATURE_FIELD
from serving.user_signature import UserSignatures
from serving.web.access import (
    COLLECT,
    grant,
    refuse_for_source,
    signature_refusal,
    source_refusal,
    stamped,
)
from serving.web.answers import (
    ERRORS,
    UNAVAILABLE,
    ErrorOut,
    FieldError,
    RejectedEvent,
    ValidationErrorOut,
    field_errors,
    rejected,
)
from serving.web.backends import Backends
from serving.web.customers import CustomerId
from serving.web.served import Live

router = APIRouter()


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]] = Field(min_length=1)


class EventBatchOut(BaseModel):
    accepted: int
    rejected: list[RejectedEvent]
    # From crawlers and headless agents: neither refused nor sent on (serving.screening).
    kept_out: int = 0


class SegmentOut(BaseModel):
    """Each call of a batch is accepted or refused on its own: `success` is false only
    when none was accepted (400, with `code` and `message` for the SDK to give up on)."""

    success: bool
    accepted: int
    rejected: list[RejectedEvent]
    code: str | None = None
    message: str | None = None


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


SEGMENT_ANSWERS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    **UNAVAILABLE,
    400: {"model": SegmentOut | ErrorOut, "description": "no call accepted, or not JSON"},
    403: {
        "model": SegmentOut | ErrorOut,
        "description": "the key cannot do this, or every call is one its kind may not send",
    },
}


@dataclass
class _Admitted:
    """A request's events as judged one by one: accepted, or refused with the reasons."""

    backends: Backends
    caller: Grant
    source: str  # the collection path, as refusals are counted (serving.refusals)
    accepted: list[Event] = field(default_factory=list)
    rejected: list[RejectedEvent] = field(default_factory=list)
    forbidden: int = 0  # refused for what the key's kind may send
    kept_out: int = 0  # sent by crawlers and headless agents (serving.screening)

    def __post_init__(self) -> None:
        self.screen = Screen(self.backends.config)
        self.signatures = UserSignatures(self.backends.config.user_signing_secrets)

    def refuse(
        self, index: int, raw: Any, errors: list[FieldError], forbidden: bool = False
    ) -> None:
        self.rejected.append(rejected(index, raw, errors))
        self.forbidden += forbidden
        # Counted and sampled where a site owner looks: an SDK never reads this answer.
        refusals = [Refusal(self.source, e.field, e.message) for e in errors]
        self.backends.refusals.record(refusals, raw, self.caller.key_id)

    def too_big(self, index: int, raw: Any) -> bool:
        """Refuses an event over the size limit; True if it was."""
        size = len(repr(raw))
        limit = self.backends.config.max_event_bytes
        if size <= limit:
            return False
        refusal = FieldError(field="<event>", message=f"event of {size} bytes, over {limit}")
        self.refuse(index, raw, [refusal])
        return True

    def admit(self, index: int, raw: Any, valid: Event) -> None:
        """A valid event is accepted unless the key's kind may not send it or its time is
        out of bounds (refused here, as ingest would refuse it)."""
        if (refused := source_refusal(valid, self.caller)) is not None:
            self.refuse(index, raw, [refused], forbidden=True)
        elif (
            unsigned := signature_refusal(
                self.signatures, valid.customer_id, self.caller, _carried_signature(raw)
            )
        ) is not None:
            self.refuse(index, raw, [FieldError(field="customer_id", message=unsigned)], True)
        elif (reason := self.backends.event_time.violation(valid, time.time())) is not None:
            self.refuse(index, raw, [FieldError(field="timestamp", message=reason)])
        elif self.screen.bot(valid, self.caller) is not None:
            self.kept_out += 1
            self.backends.refusals.bot(self.source)
        else:
            self.accepted.append(self.screen.minimised(stamped(valid, self.caller)))

    @property
    def all_forbidden(self) -> bool:
        """Every refusal is for the key's kind."""
        return self.forbidden == len(self.rejected)


def _carried_signature(raw: Any) -> str | None:
    """A Segment call's own signature (`context.userSignature`), if it carries one."""
    context = raw.get("context") if isinstance(raw, dict) else None
    token = context.get(SIGNATURE_FIELD) if isinstance(context, dict) else None
    return token if isinstance(token, str) else None


def _check_count(backends: Backends, count: int) -> None:
    limit = backends.config.max_batch_events
    if count > limit:
        raise ApiError(413, "too_large", f"{count} events, over {limit} per request")


@router.post(
    "/v1/events",
    response_model=EventBatchOut,
    responses={
        **ERRORS,
        **UNAVAILABLE,
        422: {"model": EventBatchOut | ValidationErrorOut, "description": "no event is valid"},
    },
)
async def events(batch: EventBatchIn, backends: Live, caller: Grant = COLLECT) -> Any:
    """Typed events. Valid ones are accepted (on the broker when this answers); the
    invalid ones are listed with the fields at fault."""
    _check_count(backends, len(batch.events))
    admitted = _Admitted(backends, caller, "events")
    for index, raw in enumerate(batch.events):
        if admitted.too_big(index, raw):
            continue
        try:
            valid = EVENT_ADAPTER.validate_python(raw)
        except ValidationError as error:
            admitted.refuse(index, raw, field_errors(error))
            continue
        admitted.admit(index, raw, valid)
    await backends.publish(admitted.accepted)
    body = EventBatchOut(
        accepted=len(admitted.accepted), rejected=admitted.rejected, kept_out=admitted.kept_out
    )
    if admitted.accepted or admitted.kept_out:
        status = 200
    else:
        status = 403 if admitted.all_forbidden else 422
    return JSONResponse(body.model_dump(), status_code=status)


async def _segment(
    backends: Backends, calls: list[tuple[str | None, Any]], caller: Grant
) -> JSONResponse:
    _check_count(backends, len(calls))
    admitted = _Admitted(backends, caller, "segment")
    now = datetime.now(UTC)
    for index, (kind, raw) in enumerate(calls):
        if not isinstance(raw, dict):
            admitted.refuse(index, raw, [FieldError(field="<call>", message="not an object")])
            continue
        if admitted.too_big(index, raw):
            continue
        message = {**raw, "type": kind or raw.get("type")}
        try:
            valid = segment.to_event(
                message, now, backends.config.consent_categories, caller.client
            )
        except (ValidationError, InvalidEventError) as error:
            admitted.refuse(index, raw, field_errors(error))
            continue
        admitted.admit(index, raw, valid)
    accepted, refused = admitted.accepted, admitted.rejected
    await backends.publish(accepted)
    if accepted or not refused:
        body = SegmentOut(success=True, accepted=len(accepted), rejected=refused)
        return JSONResponse(body.model_dump(), status_code=200)
    first = refused[0].errors[0]
    status, code = (403, "forbidden") if admitted.all_forbidden else (400, "invalid_request")
    body = SegmentOut(
        success=False,
        accepted=0,
        rejected=refused,
        code=code,
        message=f"no call accepted; call {refused[0].index}: {first.field}: {first.message}",
    )
    return JSONResponse(body.model_dump(), status_code=status)


# Segment's single calls, each served twice: at `/v1/<type>` for the server SDKs (the key
# in the Authorization header, a JSON body) and at `/v1/<its first letter>` for the
# browser's analytics.js / @segment/analytics-next, which puts the write key in the body
# and sends `Content-Type: text/plain` (a "simple" request: no CORS preflight).
SINGLE_CALLS = {
    "track": "Segment `track`.",
    "page": "Segment `page`.",
    "screen": "Segment `screen`.",
    "identify": "Segment `identify`.",
    "alias": "Segment `alias`: links the visitor `previousId` to the customer `userId`.",
    "group": "Segment `group`: the customer's account, kept among their traits.",
}


def _server_call(kind: str) -> Callable[..., Awaitable[Any]]:
    async def call_of_kind(
        call: Annotated[dict[str, Any], Body()], backends: Live, caller: Grant = COLLECT
    ) -> Any:
        return await _segment(backends, [(kind, call)], caller)

    return call_of_kind


def _browser_call(kind: str) -> Callable[..., Awaitable[Any]]:
    async def browser_call_of_kind(request: Request, backends: Live) -> Any:
        return await _browser(request, backends, kind)

    return browser_call_of_kind


for _kind, _summary in SINGLE_CALLS.items():
    router.add_api_route(
        f"/v1/{_kind}",
        _server_call(_kind),
        methods=["POST"],
        name=_kind,
        description=_summary,
        response_model=SegmentOut,
        responses=SEGMENT_ANSWERS,
    )
    router.add_api_route(
        f"/v1/{_kind[0]}",
        _browser_call(_kind),
        methods=["POST"],
        name=f"browser_{_kind}",
        description=f"analytics.js `{_kind}`: the write key in the body, any content type.",
        response_model=SegmentOut,
        responses=SEGMENT_ANSWERS,
    )


@router.post("/v1/batch", response_model=SegmentOut, responses=SEGMENT_ANSWERS)
async def segment_batch(body: segment.SegmentBatch, backends: Live, caller: Grant = COLLECT) -> Any:
    """Segment `batch` (what the SDKs send): each call typed by its `type`."""
    return await _segment(backends, [(None, call) for call in body.batch], caller)


@router.post("/v1/b", response_model=SegmentOut, responses=SEGMENT_ANSWERS)
async def browser_batch(request: Request, backends: Live) -> Any:
    """analytics.js batching delivery: `{"writeKey", "batch": [call, ...]}`."""
    return await _browser(request, backends, None)


@router.post("/beacon/v1/batch", response_model=SegmentOut, responses=SEGMENT_ANSWERS)
async def beacon_batch(request: Request, backends: Live) -> Any:
    """RudderStack's JavaScript SDK on page unload (`navigator.sendBeacon`): a `text/plain`
    batch, the write key in the query (`?writeKey=`), no header of its own."""
    return await _browser(request, backends, None)


async def _browser(request: Request, backends: Backends, kind: str | None) -> JSONResponse:
    try:
        payload = json.loads(await request.body())
    except ValueError as error:
        raise ApiError(400, "bad_request", f"body is not JSON: {error}") from None
    except RecursionError:
        raise ApiError(400, "bad_request", "body is JSON nested too deep") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "bad_request", "body is not a JSON object")
    body_key = payload.get("writeKey")
    query_key = request.query_params.get("key") or request.query_params.get("writeKey")
    key = presented_key(request.headers.get("authorization"), query_key) or (
        body_key if isinstance(body_key, str) else None
    )
    caller = grant(request, key, Scope.COLLECT)
    if kind is not None:
        return await _segment(backends, [(kind, payload)], caller)
    calls = payload.get("batch")
    if not isinstance(calls, list) or not calls:
        raise ApiError(400, "bad_request", "batch: a non-empty list of calls is required")
    return await _segment(backends, [(None, call) for call in calls], caller)


@router.get(
    "/v1/pixel.gif",
    response_class=Response,
    responses={
        **ERRORS,
        **UNAVAILABLE,
        200: {"content": {"image/gif": {}}, "description": "a transparent 1x1 GIF"},
    },
)
async def tracking_pixel(
    backends: Live,
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
        str | None,
        Query(
            description="action id or next-best-offer decision id (offer_feedback)",
            max_length=128,
        ),
    ] = None,
    outcome: Annotated[Literal["shown", "clicked", "converted"], Query()] = "shown",
    eid: Annotated[
        str | None, Query(description="event id (dedup of reloads)", max_length=128)
    ] = None,
    sig: Annotated[
        str | None,
        Query(description="the customer's signature, where signed visitors are required"),
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
    refuse_for_source(recorded, caller)
    refuse_unsigned(backends, recorded.customer_id, caller, sig)
    await publish_one(backends, caller, recorded, "pixel")
    return Response(pixel.GIF, media_type="image/gif", headers={"Cache-Control": "no-store"})


@router.post(
    "/v1/customers/{customer_id}/feedback",
    response_model=AcceptedOut,
    responses={**ERRORS, **UNAVAILABLE},
)
async def feedback(
    customer_id: CustomerId, body: FeedbackIn, backends: Live, caller: Grant = COLLECT
) -> Any:
    """What happened to an offer: shown, clicked, converted (credited for uplift)."""
    fields = {
        "type": "offer_feedback",
        "outcome": body.outcome,
        "offer_id": body.offer_id,
        "action_id": body.action_id,
        "value": body.value,
    }
    event_id = body.event_id or f"fb-{uuid.uuid4().hex}"
    return await record_one(backends, caller, customer_id, event_id, fields, "feedback")


async def record_one(
    backends: Backends,
    caller: Grant,
    customer_id: str,
    event_id: str,
    fields: dict[str, Any],
    source: str,
) -> AcceptedOut:
    """One event a route makes for the customer (a visitor's `anon:` id or a customer's),
    stamped now, judged as collection judges a caller's events, and published."""
    identity = (
        {"anonymous_id": customer_id.removeprefix("anon:")}
        if customer_id.startswith("anon:")
        else {"customer_id": customer_id}
    )
    recorded = event_from_dict(
        {
            **fields,
            "event_id": event_id,
            "timestamp": datetime.now(UTC).isoformat(),
            **identity,
        }
    )
    refuse_for_source(recorded, caller)
    refuse_unsigned(backends, recorded.customer_id, caller, None)
    if not await publish_one(backends, caller, recorded, source):
        return AcceptedOut(accepted=0, event_ids=[])
    return AcceptedOut(accepted=1, event_ids=[event_id])


def refuse_unsigned(
    backends: Backends, customer_id: str | None, caller: Grant, token: str | None
) -> None:
    signatures = UserSignatures(backends.config.user_signing_secrets)
    if (reason := signature_refusal(signatures, customer_id, caller, token)) is not None:
        raise ApiError(403, "forbidden", f"customer_id: {reason}")


async def publish_one(backends: Backends, caller: Grant, recorded: Event, source: str) -> bool:
    """Publish one event as collection keeps it (serving.screening); False if it came
    from a crawler or headless agent, and was only counted."""
    screen = Screen(backends.config)
    if screen.bot(recorded, caller) is not None:
        backends.refusals.bot(source)
        return False
    await backends.publish([screen.minimised(stamped(recorded, caller))])
    return True
