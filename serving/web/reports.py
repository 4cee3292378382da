"""Reports over the outcome counters the customer turns keep."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from actors.outcomes.reports import GroupBy, report
from serving.security import ApiError, Grant
from serving.web.access import READ
from serving.web.answers import ERRORS
from serving.web.served import Live

router = APIRouter()


@router.get("/v1/reports/outcomes", responses=ERRORS)
async def outcomes(
    backends: Live,
    _key: Grant = READ,
    by: Annotated[
        GroupBy,
        Query(description="Group by rule, offer, model or campaign; programme: one row"),
    ] = "rule",
) -> dict[str, Any]:
    """Offer conversion, and uplift against the campaigns' holdouts and against the
    global control group, each with its 95% interval."""
    counters = await asyncio.to_thread(backends.figures.counters)
    return {"by": by, "rows": report(counters, by)}


@router.get("/v1/reports/collect", responses=ERRORS)
async def collect(backends: Live, _key: Grant = READ) -> dict[str, Any]:
    """Refused collection calls of every API replica: counts by source and field, and the
    latest refused payloads of the last day (serving.refusals). A 503 while Redis is out
    of reach."""
    refused = await backends.refused()
    if refused is None:
        raise ApiError(
            503, "store_unavailable", "refused calls cannot be read: Redis is out of reach"
        )
    return refused
