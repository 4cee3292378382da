"""What operators watch: health, shards, ingest, Prometheus metrics and the dashboard."""

import asyncio
import time
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from redis.exceptions import RedisError

from serving import prometheus
from serving.security import ApiError, Grant
from serving.series import EVERY_S
from serving.web.access import READ
from serving.web.answers import ERRORS, UNAVAILABLE, ErrorOut
from serving.web.served import Live

router = APIRouter()


@router.get("/healthz", responses=ERRORS)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/noop", responses=ERRORS)
async def noop() -> dict[str, bool]:
    """Does nothing: the baseline the latency benchmark compares against."""
    return {"ok": True}


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
    figures = await backends.figures_now()
    for histogram in ("turn_ms", "scoring_ms", "action_latency_ms", "score_distributions"):
        figures.pop(histogram, None)
    return figures


@router.get("/v1/dashboard/series", responses={**ERRORS, **UNAVAILABLE})
async def dashboard_series(
    backends: Live,
    _key: Grant = READ,
    minutes: Annotated[int, Query(ge=1, le=1440, description="How far back")] = 15,
) -> dict[str, Any]:
    """The cumulative figures sampled every few seconds (kept in Redis: they outlive any
    API replica); charts take rates from successive samples."""
    try:
        samples = await backends.series.since(time.time() - 60 * minutes)
    except (RedisError, OSError) as error:
        raise ApiError(503, "store_unavailable", f"figures over time: {error}") from error
    return {"every_s": EVERY_S, "samples": samples}


# The charting library, served from here so the dashboard fetches nothing from elsewhere
# (serving/static/vendor/README).
STATIC = {
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
}


@router.get(
    "/static/{name}",
    response_class=Response,
    responses={
        **ERRORS,
        404: {"model": ErrorOut, "description": "not one of the files served"},
        200: {"content": {"text/javascript": {}, "text/css": {}}},
    },
)
async def static(name: Annotated[str, PathParam(pattern=r"^[A-Za-z.]{1,40}$")]) -> Response:
    if name not in STATIC:
        raise ApiError(404, "not_found", f"no static file {name}")
    body = resources.files("serving").joinpath(f"static/vendor/{name}").read_bytes()
    headers = {"Cache-Control": "public, max-age=86400"}
    return Response(body, media_type=STATIC[name], headers=headers)


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
    figures = await backends.figures_now()
    figures["score_psi"] = await backends.score_drift()
    figures["training_drift"] = await backends.drift_of_live_models()
    return Response(prometheus.render(figures), media_type=prometheus.CONTENT_TYPE)
