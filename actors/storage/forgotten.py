"""Who was forgotten lately, for readers outside the shards (export, training).

Shards honour the tombstone in each forgotten actor's state key (actors.storage.store);
readers of the event broker's history cannot see those keys cheaply, so `forget` also
keeps an index of the forgotten ids, scored by when each tombstone ends.
"""

from __future__ import annotations

import time

import redis

from actors.errors import StoreUnavailableError
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect


def forgotten_actors(url: str, prefix: str, now: float | None = None) -> set[str]:
    """The ids whose tombstone still lasts (customers and their visitors, `anon:` ids)."""
    client = connect(url)
    at = time.time() if now is None else now
    try:
        members = client.zrangebyscore(Keys(prefix).forgotten(), f"({at}", "+inf")
    except redis.RedisError as error:
        raise StoreUnavailableError("forgotten", str(error)) from error
    finally:
        client.close()
    return {m.decode() if isinstance(m, bytes) else str(m) for m in members}
