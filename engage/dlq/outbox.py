"""Where a replayed action goes: its customer's outbox in Redis, as a turn would have
left it, so the shard that owns the slot delivers it with every guardrail judged at
delivery (consent, quiet hours, caps) as for any action (actors.delivery.outbox).

A replayed action has an idempotency key of its own, derived from the dead one's: the
dead action was marked finished when it was dead-lettered, so its own key would never be
sent again; the derived key is the same on every replay of that record, so the sent marks
keep a replay that is repeated from being delivered twice.
"""

from __future__ import annotations

import hashlib
import time
from typing import Protocol

import redis

from actors.errors import StoreUnavailableError
from actors.model.actions import Action, action_id_for, action_to_json
from actors.storage.keys import Keys
from actors.storage.slots import slot_of


def replay_key(idempotency_key: str) -> str:
    """The key of an action's replay: stable, 32 hex digits as every action key."""
    return hashlib.sha256(f"{idempotency_key}\x1freplay".encode()).hexdigest()[:32]


def replayed(action: Action) -> Action:
    key = replay_key(action.idempotency_key)
    return action.model_copy(update={"idempotency_key": key, "action_id": action_id_for(key)})


class Outbox(Protocol):
    def known(self, customer_id: str) -> bool:
        """Whether engage still keeps the customer (not forgotten, not expired)."""
        ...

    def put(self, action: Action) -> None: ...


class MemoryOutbox:
    """For unit tests."""

    def __init__(self, customers: set[str]) -> None:
        self.customers = customers
        self.actions: dict[str, Action] = {}

    def known(self, customer_id: str) -> bool:
        return customer_id in self.customers

    def put(self, action: Action) -> None:
        self.actions[action.idempotency_key] = action


class RedisOutbox:
    def __init__(self, client: redis.Redis, prefix: str, slots: int) -> None:
        self._redis = client
        self._keys = Keys(prefix)
        self._slots = slots

    def known(self, customer_id: str) -> bool:
        slot = slot_of(customer_id, self._slots)
        try:
            exists = self._redis.exists(self._keys.state(slot, customer_id))
            # A forgotten customer's state key is a tombstone until this time.
            tombstone_until = self._redis.zscore(self._keys.forgotten(), customer_id)
        except redis.RedisError as error:
            raise StoreUnavailableError("customer look-up", repr(error)) from error
        return bool(exists) and (tombstone_until is None or float(tombstone_until) < time.time())

    def put(self, action: Action) -> None:
        slot = slot_of(action.customer_id, self._slots)
        try:
            self._redis.hset(
                self._keys.outbox(slot), action.idempotency_key, action_to_json(action)
            )
        except redis.RedisError as error:
            raise StoreUnavailableError("outbox", repr(error)) from error
