"""The FastAPI application: routers, the error envelope, the edge middleware; and
`attach`, which gives it the backends and the keys of one configuration."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from serving.edge import EdgeConfig, EdgeMiddleware
from serving.security import KeyRing, RateLimiter
from serving.series import SamplerStats, sample_forever
from serving.web import admin, collect, customers, models, ops, reports
from serving.web.answers import install_error_handlers
from serving.web.backends import Backends
from serving.web.client_address import ClientAddress

log = logging.getLogger(__name__)

ROUTERS = (
    collect.router,
    customers.router,
    models.router,
    reports.router,
    admin.router,
    ops.router,
)


@contextlib.asynccontextmanager
async def _sampling(app: FastAPI) -> AsyncIterator[None]:
    """While the application serves, sample the figures for the dashboard's charts and
    the live feature counts for drift."""
    backends: Backends = app.state.backends
    app.state.sampler = SamplerStats()
    app.state.feature_sampler = SamplerStats()
    tasks = [
        asyncio.create_task(
            sample_forever(backends.series, backends.figures_now, app.state.sampler)
        ),
        # The live feature counts for drift against the training window, once a minute.
        asyncio.create_task(
            sample_forever(
                backends.feature_series,
                backends.figures_now,
                app.state.feature_sampler,
                backends.config.feature_sample_s,
            )
        ),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=_sampling,
        title="engage",
        version="0.1.0",
        description=(
            "Real-time customer engagement: events in, next-best-offers out. Send a key as "
            "`Authorization: Bearer <key>` (write keys also as the HTTP basic-auth user, as "
            "Segment SDKs do; the pixel and the dashboard take `?key=`)."
        ),
    )
    app.add_middleware(EdgeMiddleware)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def attach(app: FastAPI, backends: Backends) -> None:
    """Serve `backends` with the keys, limits and edge settings of `backends.config`."""
    config = backends.config
    app.state.backends = backends
    app.state.keys = KeyRing(config)
    app.state.limiter = RateLimiter(config.rate_limit_per_s, config.rate_limit_burst)
    app.state.address_limiter = RateLimiter(
        config.rate_limit_per_address_per_s, config.rate_limit_per_address_burst
    )
    app.state.client_address = ClientAddress.of(
        config.client_address_header, config.trusted_proxies
    )
    app.state.edge = EdgeConfig(config.max_body_bytes, config.cors_origins)
    if app.state.keys.open:
        log.warning("no API keys configured: the API is open (development only)")
