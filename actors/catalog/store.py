"""The catalogue's versions in Redis: every load, change or removal is a new version,
served by every process within a poll; the previous one is a rollback away.

Layout (`actors.storage.keys.Keys.catalog`): `v:<n>` the offers of version n (JSON),
`current` the version served, `history` the versions served in turn (the last is current),
`next` the version counter, `audit` who changed what and when (newest first). A change is
one MULTI/EXEC under WATCH of `current`: two writers at once cannot both build on the
same version, and a reader never sees `current` name a version not yet written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from actors.catalog.catalog import Catalog, CatalogChange, built_in
from actors.catalog.offer import CatalogOffer
from actors.errors import EngageError, StoreUnavailableError
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect
from actors.storage.watched import watched

# Versions kept for rollback; older ones are deleted as new ones are written.
KEEP_VERSIONS = 20
AUDIT_LENGTH = 1_000
# A change that keeps losing the race to another writer gives up (and says so) rather
# than retrying for ever.
MAX_RACES = 5


class CatalogConflictError(EngageError):
    """Another writer kept changing the catalogue; nothing of this change was written."""

    def __init__(self, action: str) -> None:
        self.action = action


class NoPreviousVersionError(EngageError):
    """A rollback with no earlier version kept."""


class UnknownOfferError(EngageError):
    def __init__(self, offer_id: str) -> None:
        self.offer_id = offer_id


@dataclass(frozen=True, slots=True)
class Published:
    version: int
    change: CatalogChange


class CatalogStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._keys = Keys(prefix)

    @classmethod
    def connect(cls, redis_url: str, prefix: str) -> CatalogStore:
        return cls(connect(redis_url), prefix)

    def _key(self, part: str) -> str:
        return self._keys.catalog(part)

    def current_version(self) -> int:
        """The version served (0: no catalogue loaded). One GET: what followers poll."""
        raw = self._call("read", lambda: self._redis.get(self._key("current")))
        return int(raw) if raw else 0

    def load(self, version: int) -> Catalog:
        catalog: Catalog = self._call("read", lambda: self._load_with(self._redis, version))
        return catalog

    def current(self) -> Catalog:
        return self.load(self.current_version())

    def publish(
        self, offers: list[CatalogOffer], by: str, action: str = "load", note: str = ""
    ) -> Published:
        """Serve `offers` as a new version (the whole catalogue: a load replaces it). The
        same offers as the current version publish nothing (version unchanged)."""
        return self._change(action, by, note, lambda _: offers)

    def put_offer(self, offer: CatalogOffer, by: str) -> Published:
        def edit(offers: tuple[CatalogOffer, ...]) -> list[CatalogOffer]:
            kept = [o for o in offers if o.offer_id != offer.offer_id]
            replaced = len(kept) < len(offers)
            if not replaced:
                return [*offers, offer]
            return [offer if o.offer_id == offer.offer_id else o for o in offers]

        return self._change("put", by, offer.offer_id, edit)

    def delete_offer(self, offer_id: str, by: str) -> Published:
        def edit(offers: tuple[CatalogOffer, ...]) -> list[CatalogOffer]:
            kept = [o for o in offers if o.offer_id != offer_id]
            if len(kept) == len(offers):
                raise UnknownOfferError(offer_id)
            return kept

        return self._change("delete", by, offer_id, edit)

    def apply_feed(
        self, puts: list[CatalogOffer], retired: set[str], by: str, note: str = ""
    ) -> Published:
        """A feed's batch as one version: each offer of `puts` added or replaced, each id
        of `retired` removed (one the catalogue does not hold is no change: a feed may
        retire what it never sent). Nothing changed publishes nothing, so a batch read
        again after a crash changes nothing twice."""

        def edit(offers: tuple[CatalogOffer, ...]) -> list[CatalogOffer]:
            given = {offer.offer_id: offer for offer in puts}
            kept = [given.pop(o.offer_id, o) for o in offers if o.offer_id not in retired]
            return [*kept, *given.values()]

        return self._change("feed", by, note, edit)

    def rollback(self, by: str) -> Published:
        """Serve the version served before the current one again."""

        def change(pipe: Any) -> Published:
            history = [int(v) for v in pipe.lrange(self._key("history"), 0, -1)]
            if len(history) < 2:
                raise NoPreviousVersionError()
            current, previous = history[-1], history[-2]
            before = self._load_with(pipe, current)
            after = self._load_with(pipe, previous)
            pipe.multi()
            pipe.rpop(self._key("history"))
            pipe.set(self._key("current"), previous)
            pipe.delete(self._key(f"v:{current}"))  # no longer reachable
            self._audit(pipe, previous, "rollback", by, f"from {current}", before, after)
            return Published(previous, before.change_to(after))

        return self._watched("rollback", change)

    def audit(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._call("read", lambda: self._redis.lrange(self._key("audit"), 0, limit - 1))
        return [json.loads(row) for row in rows]

    def _change(
        self,
        action: str,
        by: str,
        note: str,
        edit: Callable[[tuple[CatalogOffer, ...]], list[CatalogOffer]],
    ) -> Published:
        def change(pipe: Any) -> Published:
            history = [int(v) for v in pipe.lrange(self._key("history"), 0, -1)]
            raw = pipe.get(self._key("current"))
            before = self._load_with(pipe, int(raw) if raw else 0)
            after = Catalog.of(0, edit(before.offers))
            if before.version and after.digest() == before.digest():
                return Published(before.version, CatalogChange())
            version = int(pipe.incr(self._key("next")))
            pipe.multi()
            pipe.set(self._key(f"v:{version}"), after.to_json())
            pipe.set(self._key("current"), version)
            pipe.rpush(self._key("history"), version)
            self._audit(pipe, version, action, by, note, before, after)
            # Versions that fall out of the kept history go with their offers
            # (a rollback that far back is a load of the owner's file).
            pipe.ltrim(self._key("history"), -KEEP_VERSIONS, -1)
            for dropped in [*history, version][:-KEEP_VERSIONS]:
                pipe.delete(self._key(f"v:{dropped}"))
            return Published(version, before.change_to(after))

        return self._watched(action, change)

    def _watched(self, action: str, change: Callable[[Any], Published]) -> Published:
        keys = [self._key("current"), self._key("history")]
        conflict = lambda: CatalogConflictError(action)  # noqa: E731
        return watched(self._redis, keys, change, "catalog", MAX_RACES, conflict)

    def _load_with(self, client: Any, version: int) -> Catalog:
        """A version's offers, read with `client` (the connection, or a watching pipe)."""
        if version == 0:  # nothing loaded yet: the built-in offers are served
            return built_in()
        raw = client.get(self._key(f"v:{version}"))
        if raw is None:
            raise StoreUnavailableError("catalog", f"version {version} is missing")
        return Catalog.from_json(version, raw)

    def _audit(
        self,
        pipe: Any,
        version: int,
        action: str,
        by: str,
        note: str,
        before: Catalog,
        after: Catalog,
    ) -> None:
        change = before.change_to(after)
        entry = {
            "version": version,
            "at": time.time(),
            "by": by,
            "action": action,
            "note": note,
            "offers": len(after.offers),
            **{k: v[:100] for k, v in change.summary().items()},  # the first 100 ids each
            "counts": {k: len(v) for k, v in change.summary().items()},
        }
        pipe.lpush(self._key("audit"), json.dumps(entry))
        pipe.ltrim(self._key("audit"), 0, AUDIT_LENGTH - 1)

    def _call(self, operation: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except redis.RedisError as error:
            raise StoreUnavailableError(f"catalog {operation}", str(error)) from error
