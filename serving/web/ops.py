"""What operators watch: health, shards, ingest, Prometheus metrics and the dashboard."""

import asyncio
from importlib import resources
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from actors.outcomes import report
from serving import prometheus
from serving.figures import summarize
from serving.security import Grant
from serving.web.access import READ
from serving.web.answers import ERRORS
from serving.web.backends import Backends, Live

router = APIRouter()


@router.get("/healthz", responses=ERRORS)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/noop", responses=ERRORS)
async def noop() -> dict[str, bool]:
    """Does nothing: the baseline the latency benchmark compares against."""
    return {"ok": True}


async def _figures(backends: Backends) -> dict[str, Any]:
    shards = list((await backends.shards.each_shard("introspect")).values())
    ingest = await asyncio.to_thread(backends.figures.ingest)
    models = await backends.scorer_status()
    # A scorer that cannot say what it serves leaves the model figures out, not the rest.
    return summarize(ingest, shards, {} if "error" in models else models)


@router.get("/v1/shards", responses=ERRORS)
async def shards(backends: Live, _key: Grant = READ) -> dict[str, Any]:
    """Every shard: live customers, activations, passivations, mailbox, turn latency,
    and the histograms of its batches and of its calls to the model server."""
    found = await backends.shards.each_shard("introspect")
    for info in found.values():
        info.pop("turn_ms", None)  # one per event: the p50 and p99 say enough
    return {"epoch": backends.shards.epoch, "shards": list(found.values())}


@router.get("/v1/ingest", responses=ERRORS)
async def ingest_stats(backends: Live, _key: Grant = READ) -> dict[str, Any]:
    """Every ingest replica's figures, including its partitions and consumer lag."""
    replicas = await asyncio.to_thread(backends.figures.ingest)
    return {"replicas": replicas, "total_lag": sum(int(r.get("total_lag", 0)) for r in replicas)}


@router.get("/v1/dashboard/data", responses=ERRORS)
async def dashboard_data(backends: Live, _key: Grant = READ) -> dict[str, Any]:
    figures = await _figures(backends)
    counters = await asyncio.to_thread(backends.figures.counters)
    figures["conversion"] = report(counters, "offer")
    figures.pop("turn_ms")
    figures.pop("scoring_ms")
    return figures


@router.get(
    "/dashboard", response_class=HTMLResponse, responses={200: {"content": {"text/html": {}}}}
)
async def dashboard() -> HTMLResponse:
    """The live dashboard (open it with ?key=<read key>)."""
    page = resources.files("serving").joinpath("static/dashboard.html").read_text()
    return HTMLResponse(page)


@router.get(
    "/metrics",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
)
async def metrics(backends: Live, _key: Grant = READ) -> Response:
    figures = await _figures(backends)
    return Response(prometheus.render(figures), media_type=prometheus.CONTENT_TYPE)
