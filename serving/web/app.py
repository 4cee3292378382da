"""The FastAPI application of one set of backends: routers, the error envelope, the edge
middleware, and the samplers that run while it serves."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from serving.edge import EdgeConfig, EdgeMiddleware
from serving.refusals import flush, flush_forever
from serving.series import sample_forever
from serving.web import (
    admin,
    catalog,
    collect,
    consent,
    customers,
    email,
    models,
    ops,
    reports,
    rules,
)
from serving.web.answers import install_error_handlers
from serving.web.backends import Backends
from serving.web.served import Served

log = logging.getLogger(__name__)

ROUTERS = (
    collect.router,
    customers.router,
    consent.router,
    email.router,
    models.router,
    reports.router,
    admin.router,
    catalog.router,
    rules.router,
    ops.router,
)


def create_app(backends: Backends) -> FastAPI:
    """The application serving `backends`, with the keys, limits and edge settings of
    `backends.config`."""
    served = Served.of(backends)
    config = backends.config

    @contextlib.asynccontextmanager
    async def sampling(app: FastAPI) -> AsyncIterator[None]:
        """While the application serves, sample the figures for the dashboard's charts and
        the live feature counts for drift (once a minute)."""
        tasks = [
            asyncio.create_task(
                sample_forever(backends.series, backends.figures_now, served.sampler)
            ),
            asyncio.create_task(
                sample_forever(
                    backends.feature_series,
                    backends.figures_now,
                    served.feature_sampler,
                    config.feature_sample_s,
                )
            ),
            # The catalogue version every shard and replica serves, within a poll.
            asyncio.create_task(backends.catalog.follow(backends.catalog_poll_s)),
        ]
        if backends.catalog_feed is not None:  # offers from the broker's catalogue feed
            tasks.append(asyncio.create_task(backends.catalog_feed.follow()))
        if backends.rules is not None:  # the rules version in force, within a poll
            tasks.append(asyncio.create_task(backends.rules.follow(backends.rules_poll_s)))
        # Refused calls, counted where a site owner looks (serving.refusals).
        store = backends.refusal_store
        if store is not None:
            tasks.append(asyncio.create_task(flush_forever(backends.refusals, store)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if store is not None:
                # What the last interval refused, written before the replica goes.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(flush(backends.refusals, store), 10)

    app = FastAPI(
        lifespan=sampling,
        title="engage",
        version="0.1.0",
        description=(
            "Real-time customer engagement: events in, next-best-offers out. Send a key as "
            "`Authorization: Bearer <key>` (write keys also as the HTTP basic-auth user, as "
            "Segment SDKs do; the pixel and the dashboard take `?key=`)."
        ),
    )
    app.state.served = served
    app.add_middleware(
        EdgeMiddleware, config=EdgeConfig(config.max_body_bytes, config.cors_origins)
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    if served.keys.open:
        log.warning("no API keys configured: the API is open (development only)")
    return app
