"""The offer catalogue over HTTP: read what is served; change one offer, or roll back
(admin keys). A change is a new catalogue version (actors.catalog.store) that every shard
and replica serves within a poll; this replica serves it before it answers."""

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from actors.catalog.offer import CatalogOffer, OfferId
from actors.catalog.store import (
    CatalogConflictError,
    NoPreviousVersionError,
    Published,
    UnknownOfferError,
)
from actors.model.events import slug
from serving.security import ApiError, Grant
from serving.web.access import ADMIN, READ
from serving.web.answers import ERRORS, UNAVAILABLE, ErrorOut, invalid, store_call
from serving.web.backends import Backends
from serving.web.served import Live

router = APIRouter()


class CatalogOut(BaseModel):
    version: int
    offers: int
    loaded_at: float | None
    error: str | None
    audit: list[dict[str, Any]]
    feed: dict[str, Any] | None = Field(
        default=None,
        description="this replica's following of the broker's catalogue feed: records "
        "read and refused, the version it last made, and the error it is retrying on",
    )


class OffersOut(BaseModel):
    version: int
    offers: list[CatalogOffer]


class ChangeOut(BaseModel):
    version: int
    added: list[str]
    changed: list[str]
    removed: list[str]


@router.get("/v1/catalog", response_model=CatalogOut, responses={**ERRORS, **UNAVAILABLE})
async def catalog(
    backends: Live,
    _key: Grant = READ,
    audit: Annotated[int, Query(ge=0, le=1000, description="Audit entries, newest first")] = 20,
) -> Any:
    """The version this replica serves and who changed the catalogue, when and how."""
    entries = await _store_call(lambda: backends.catalog_store.audit(audit)) if audit else []
    feed = backends.catalog_feed.status.to_dict() if backends.catalog_feed else None
    return CatalogOut(**backends.catalog.status(), audit=entries, feed=feed)


@router.get("/v1/catalog/offers", response_model=OffersOut, responses=ERRORS)
async def offers(
    backends: Live,
    _key: Grant = READ,
    live: Annotated[bool, Query(description="Only offers active and within their dates")] = False,
    category: Annotated[str | None, Query(max_length=128)] = None,
) -> Any:
    served = backends.catalog.catalog
    found = served.live(time.time()) if live else list(served.offers)
    if category is not None:
        found = [o for o in found if slug(category) in o.categories]
    return OffersOut(version=served.version, offers=found)


@router.put(
    "/v1/catalog/offers/{offer_id}",
    response_model=ChangeOut,
    responses={**ERRORS, **UNAVAILABLE, 409: {"model": ErrorOut}},
)
async def put_offer(
    offer_id: Annotated[str, Path(max_length=128)],
    offer: CatalogOffer,
    backends: Live,
    key: Grant = ADMIN,
) -> Any:
    """Add the offer, or replace the one with its id: a new catalogue version."""
    if offer.offer_id != offer_id:
        raise invalid(("body", "offer_id"), f"{offer.offer_id!r} is not the path's {offer_id!r}")
    return await _changed(backends, lambda: backends.catalog_store.put_offer(offer, key.key_id))


@router.delete(
    "/v1/catalog/offers/{offer_id}",
    response_model=ChangeOut,
    responses={**ERRORS, **UNAVAILABLE, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def delete_offer(offer_id: OfferId, backends: Live, key: Grant = ADMIN) -> Any:
    """Retire the offer now (to keep it but stop serving it, PUT it with active false)."""
    try:
        return await _changed(
            backends, lambda: backends.catalog_store.delete_offer(offer_id, key.key_id)
        )
    except UnknownOfferError:
        raise ApiError(404, "not_found", f"no offer {offer_id!r} in the catalogue") from None


@router.post(
    "/v1/catalog/rollback",
    response_model=ChangeOut,
    responses={**ERRORS, **UNAVAILABLE, 409: {"model": ErrorOut}},
)
async def rollback(backends: Live, key: Grant = ADMIN) -> Any:
    """Serve the version served before the current one again."""
    try:
        return await _changed(backends, lambda: backends.catalog_store.rollback(key.key_id))
    except NoPreviousVersionError:
        raise ApiError(409, "no_previous_version", "no earlier catalogue version is kept") from None


async def _changed(backends: Backends, change: Any) -> ChangeOut:
    published: Published = await _store_call(change)
    await asyncio.to_thread(backends.catalog.refresh)  # this replica serves it at once
    summary = published.change.summary()
    return ChangeOut(version=published.version, **summary)


async def _store_call(call: Any) -> Any:
    return await store_call(call, CatalogConflictError, "catalogue")
