"""One optimistic transaction on Redis, shared by the stores of versioned data (the
catalogue, the rules): WATCH the keys a change builds on, read, write in MULTI/EXEC, and
start again if another writer got there first, a bounded number of times."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis

from actors.errors import StoreUnavailableError

T = TypeVar("T")


def watched(
    client: redis.Redis,
    keys: Sequence[str],
    change: Callable[[Any], T],
    what: str,
    races: int,
    conflict: Callable[[], Exception],
) -> T:
    """`change(pipe)` under WATCH of `keys`: it reads through `pipe`, then calls
    `pipe.multi()` and queues its writes (executed here), or returns without writing. A
    change that loses the race `races` times raises `conflict()`: a retry loop that could
    go on for ever would be a halt."""
    for _ in range(races):
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(*keys)  # type: ignore[no-untyped-call]
                result = change(pipe)
                if pipe.explicit_transaction:
                    pipe.execute()
                else:
                    pipe.unwatch()
            except redis.WatchError:
                continue
            except redis.RedisError as error:
                raise StoreUnavailableError(what, str(error)) from error
            return result
    raise conflict()
