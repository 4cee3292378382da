"""What one application serves with: its backends, keys and limits, typed.

`create_app(backends)` builds one `Served` and the routes read it through `served_of`, in
place of loose attributes on Starlette's untyped `app.state`.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from serving.security import KeyRing, RateLimiter
from serving.series import SamplerStats
from serving.web.backends import Backends
from serving.web.client_address import ClientAddress


@dataclass(frozen=True, slots=True)
class Served:
    backends: Backends
    keys: KeyRing
    limiter: RateLimiter
    # Client (public) keys are limited per key and caller address, the others per key.
    address_limiter: RateLimiter
    client_address: ClientAddress
    # The health of the two samplers the application runs while it serves.
    sampler: SamplerStats
    feature_sampler: SamplerStats

    @classmethod
    def of(cls, backends: Backends) -> "Served":
        config = backends.config
        return cls(
            backends=backends,
            keys=KeyRing(config),
            limiter=RateLimiter(config.rate_limit_per_s, config.rate_limit_burst),
            address_limiter=RateLimiter(
                config.rate_limit_per_address_per_s, config.rate_limit_per_address_burst
            ),
            client_address=ClientAddress.of(config.client_address_header, config.trusted_proxies),
            sampler=SamplerStats(),
            feature_sampler=SamplerStats(),
        )


def served_of(request: Request) -> Served:
    served: Served = request.app.state.served
    return served


async def _backends(request: Request) -> Backends:
    # async: FastAPI runs a sync dependency in a worker thread.
    return served_of(request).backends


# What a route takes to reach the backends: `async def route(live: Live)`.
Live = Annotated[Backends, Depends(_backends)]
