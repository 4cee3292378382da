"""Reports over the outcome counters the customer turns keep."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from actors.outcomes.reports import GroupBy, report
from serving.security import Grant
from serving.web.access import READ
from serving.web.answers import ERRORS
from serving.web.served import Live

router = APIRouter()


@router.get("/v1/reports/outcomes", responses=ERRORS)
async def outcomes(
    backends: Live,
    _key: Grant = READ,
    by: Annotated[GroupBy, Query(description="Group by rule, offer, model or campaign")] = "rule",
) -> dict[str, Any]:
    """Offer conversion and uplift against the holdout group."""
    counters = await asyncio.to_thread(backends.figures.counters)
    return {"by": by, "rows": report(counters, by)}
