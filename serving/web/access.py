"""Who may call a route: the key presented, what it may do, and its rate limit.

Keys and limiters come with the application (`serving.web.served`), so the same routes
serve any configuration.
"""

import dataclasses
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from actors.model.events import ANON_PREFIX, Decision, Event
from serving.security import ApiError, Grant, Scope, presented_key
from serving.sources import client_refusal
from serving.user_signature import HEADER as SIGNATURE_HEADER
from serving.user_signature import UserSignatures
from serving.web.answers import FieldError
from serving.web.served import served_of


def _access(needed: Scope) -> Any:
    # async: FastAPI runs a sync dependency in a worker thread, a hop per request.
    async def check(
        request: Request,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Grant:
        return grant(request, presented_key(authorization, request.query_params.get("key")), needed)

    return Depends(check)


def grant(request: Request, key: str | None, needed: Scope) -> Grant:
    """What `key` may do, if it may do `needed`, within its rate limit (ApiError if not)."""
    served = served_of(request)
    granted = served.keys.check(key, needed)
    if granted.client:
        granted = dataclasses.replace(
            granted,
            user_agent=(request.headers.get("user-agent") or "")[:512] or None,
            user_signature=request.headers.get(SIGNATURE_HEADER),
        )
        # Per visitor, not per key: an abuser of a key embedded in a page must not
        # get every honest visitor sending with it a 429.
        address = client_address(request)
        served.address_limiter.check(
            f"{granted.key_id}@{address}", "from this address for this key"
        )
    else:
        served.limiter.check(granted.key_id)
    return granted


def client_address(request: Request) -> str:
    """The caller's address as the rate limit counts it (serving.web.client_address)."""
    resolver = served_of(request).client_address
    forwarded = request.headers.get(resolver.header) if resolver.header else None
    return resolver.resolve(request.client.host if request.client else None, forwarded)


def source_refusal(event: Event, caller: Grant) -> FieldError | None:
    """Why a client source may not send `event` (serving.sources), or None. No source
    sends a `decision`: next-best-offer writes it, so every record in the decision log is
    one engage made."""
    if isinstance(event, Decision):
        return FieldError(field="type", message="decision events are engage's own")
    if not caller.client:
        return None
    refusal = client_refusal(event)
    return None if refusal is None else FieldError(field=refusal[0], message=refusal[1])


def stamped(event: Event, caller: Grant) -> Event:
    """The event as engage keeps it: a client key's events marked as a client's, whatever
    the body said, so their ids cannot hide a server's (actors.model.dedup)."""
    if caller.client and event.source != "client":
        return event.model_copy(update={"source": "client"})
    return event


def signature_refusal(
    signatures: UserSignatures, customer_id: str | None, caller: Grant, token: str | None
) -> str | None:
    """Why a client may not act for `customer_id` with `token` (or the signature its
    request carries); None for server keys, visitors, or without signing secrets."""
    if not signatures.enforced or not caller.client or customer_id is None:
        return None
    if customer_id.startswith(ANON_PREFIX):
        return None
    return signatures.refusal(token or caller.user_signature, customer_id)


def refuse_for_source(event: Event, caller: Grant) -> None:
    refusal = source_refusal(event, caller)
    if refusal is not None:
        raise ApiError(403, "forbidden", f"{refusal.field}: {refusal.message}")


COLLECT = _access(Scope.COLLECT)
WRITE = _access(Scope.WRITE)
READ = _access(Scope.READ)
ADMIN = _access(Scope.ADMIN)
