"""The model registry over HTTP: what is registered and served, and the aliases a data
scientist moves (promote, roll back, shadow)."""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from actors.errors import ModelError, NoSuchModelVersionError
from actors.rules.durations import parse_duration
from serving.security import ApiError, Grant
from serving.web.access import ADMIN, READ
from serving.web.answers import ERRORS, ErrorOut
from serving.web.backends import Backends
from serving.web.served import Live
from training.registry import CHALLENGER

router = APIRouter()

ModelName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
CHANGES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
}


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    force: bool = Field(
        default=False,
        description="promote even if the version measured worse than the champion",
    )


class ShadowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(default=None, ge=1, description="null stops shadow scoring")


class AliasOut(BaseModel):
    model: str
    champion: int | None
    challenger: int | None


@router.get("/v1/models", responses=ERRORS)
async def models(backends: Live, _key: Grant = READ) -> dict[str, Any]:
    """Every registered version and alias, and what the scorer serves now."""
    registry = backends.registry

    def listing() -> dict[str, Any]:
        return {
            name: {
                "aliases": registry.aliases(name),
                "versions": [
                    {
                        "version": m.version,
                        "kind": m.kind,
                        "metrics": m.metrics,
                        "created_at": m.created_at,
                        # A model of one's own: the columns of its view, in order.
                        "features": m.features,
                    }
                    for m in registry.versions(name)
                ],
            }
            for name in registry.names()
        }

    registered = await asyncio.to_thread(listing)
    return {"registry": registered, "scorer": await backends.scorer_status()}


async def _alias(backends: Backends, name: str, change: Callable[[], Any]) -> AliasOut:
    try:
        await asyncio.to_thread(change)
    except NoSuchModelVersionError as error:
        raise ApiError(404, "model", error.reason) from None
    except ModelError as error:
        raise ApiError(409, "model", error.reason) from None
    aliases = await asyncio.to_thread(backends.registry.aliases, name)
    return AliasOut(
        model=name, champion=aliases.get("champion"), challenger=aliases.get("challenger")
    )


@router.post("/v1/models/{name}/promote", response_model=AliasOut, responses=CHANGES)
async def promote(name: ModelName, body: PromoteIn, backends: Live, _key: Grant = ADMIN) -> Any:
    """Make a version the champion; every scorer replica swaps within a second. A version
    measured worse than the champion on the same recent window is refused (409) unless
    `force` is set."""
    return await _alias(
        backends, name, lambda: backends.registry.promote(name, body.version, force=body.force)
    )


@router.post("/v1/models/{name}/rollback", response_model=AliasOut, responses=CHANGES)
async def rollback(name: ModelName, backends: Live, _key: Grant = ADMIN) -> Any:
    """Back to the previous champion."""
    return await _alias(backends, name, lambda: backends.registry.rollback(name))


@router.post("/v1/models/{name}/shadow", response_model=AliasOut, responses=CHANGES)
async def shadow(name: ModelName, body: ShadowIn, backends: Live, _key: Grant = ADMIN) -> Any:
    """Score a version in shadow beside the champion (null stops it)."""
    return await _alias(
        backends, name, lambda: backends.registry.set_alias(name, CHALLENGER, body.version)
    )


@router.get("/v1/models/{name}/drift", responses=CHANGES)
async def drift(
    name: ModelName,
    backends: Live,
    window: Annotated[
        str,
        Query(description="the live window: 90s, 30m, 1h ...", pattern=r"^\d+(\.\d+)?(s|m|h|d)$"),
    ] = "1h",
    _key: Grant = READ,
) -> dict[str, Any]:
    """The champion's live features and scores against its training window: the
    population stability index of each, the features over the threshold first."""
    return await backends.training_drift(name, parse_duration(window))
