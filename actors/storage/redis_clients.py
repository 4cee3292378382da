"""Every Redis client engage opens, with deadlines on every call.

redis-py waits forever by default: a Redis that is paused (SIGSTOP, a long fork, a full
network buffer) keeps its connections open and never answers, so a call without a
socket timeout hangs its caller for as long as the pause lasts. Here every call fails
with a `redis.TimeoutError` after `timeout_s` and is retried a bounded number of times;
the adapters above translate that into `StoreUnavailableError`, which their callers
retry with backoff and a bound of their own.

A call that timed out may still be carried out when Redis resumes. engage's writes are
safe to see twice: state commits compare-and-set on a version, outbox and idempotency
marks are keyed sets.
"""

from __future__ import annotations

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0
# Retries of one call after a timeout or a dropped connection (redis-py's own default is
# 3 with backoff up to 10 s, which turns one 5 s timeout into nearly a minute).
RETRIES = 1


def connect(url: str, timeout_s: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A blocking client whose every call ends within about 2 x `timeout_s`."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=min(timeout_s, CONNECT_TIMEOUT_S),
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
    )


def connect_async(url: str, timeout_s: float = SOCKET_TIMEOUT_S) -> aioredis.Redis:
    """The asyncio twin of `connect` (bytes in, bytes out)."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=timeout_s,
        socket_connect_timeout=min(timeout_s, CONNECT_TIMEOUT_S),
        retry=AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
    )
