"""The rules' versions in Redis: a push validated in full is a new version that every
shard runs within a poll; each version is kept with who pushed it, when and why.

Layout (`actors.storage.keys.Keys.rules`): `v:<n>` version n (JSON: the YAML text and who,
when, why), `current` the version in force, `history` the versions in force in turn (the
last is current; a rollback pops it), `kept` every version pushed, in order (a rolled-back
version stays listed), `rollbacks` who rolled back from which version, when and why,
`next` the version counter. A push or a rollback is one MULTI/EXEC under
WATCH of `current` and `history`: two writers at once cannot both build on one version,
and a reader never sees `current` name a version not yet written. Version 0 (nothing
pushed yet) means the deployment's rules file (`ENGAGE_ACTORS_RULES_FILE`) is in force:
the file seeds a fresh deployment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis

from actors.errors import EngageError, StoreUnavailableError
from actors.rules.ruleset import RuleSet, parse_rules
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect
from actors.storage.watched import watched

# Versions kept for rollback and for reading back; older ones are deleted.
KEEP_VERSIONS = 50
MAX_RACES = 5


class RulesConflictError(EngageError):
    """Another writer kept changing the rules; nothing of this change was written."""

    def __init__(self, action: str) -> None:
        self.action = action


class NoPreviousRulesError(EngageError):
    """A rollback with no earlier version kept."""


@dataclass(frozen=True, slots=True)
class RulesVersion:
    version: int
    text: str
    by: str
    at: float
    comment: str
    action: str = "push"

    def meta(self) -> dict[str, Any]:
        """Everything but the text, for listings."""
        out = asdict(self)
        del out["text"]
        return out

    def compile(self) -> RuleSet:
        return parse_rules(self.text, f"version {self.version}")


class RulesStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._keys = Keys(prefix)

    @classmethod
    def connect(cls, redis_url: str, prefix: str) -> RulesStore:
        return cls(connect(redis_url), prefix)

    def _key(self, part: str) -> str:
        return self._keys.rules(part)

    def current_version(self) -> int:
        """The version in force (0: the rules file). One GET: what shards poll."""
        raw = self._call(lambda: self._redis.get(self._key("current")))
        return int(raw) if raw else 0

    def load(self, version: int) -> RulesVersion:
        found: RulesVersion = self._call(lambda: self._load_with(self._redis, version))
        return found

    def registered_models(self) -> frozenset[str]:
        """Every model name the registry (in the same Redis) holds a version of."""
        names = self._call(lambda: self._redis.smembers(self._keys.models()))
        return frozenset(n.decode() if isinstance(n, bytes) else n for n in names)

    def versions(self, limit: int = 20) -> list[RulesVersion]:
        """The versions pushed and kept, newest first, rolled-back ones too (the one in
        force is `current_version`)."""
        ids = self._call(lambda: self._redis.lrange(self._key("kept"), -limit, -1))
        return [self.load(int(v)) for v in reversed(ids)]

    def rollbacks(self, limit: int = 20) -> list[dict[str, Any]]:
        """Who rolled back from which version, when and why; newest first."""
        rows = self._call(lambda: self._redis.lrange(self._key("rollbacks"), 0, limit - 1))
        return [json.loads(row) for row in rows]

    def push(self, text: str, by: str, comment: str = "") -> tuple[RulesVersion, bool]:
        """Put `text` in force as a new version, after validating it in full (raises
        RuleError, RulesRefusedError naming every fault: nothing is written). A rule
        reading `scores.<name>` of a model the registry does not know is such a fault. The
        same text as the version in force is no new version: (that version, False)."""
        parse_rules(text, "<push>", self.registered_models())

        def write(pipe: Any, history: list[int], current: int) -> RulesVersion | None:
            if current and self._load_with(pipe, current).text == text:
                return None
            kept = [int(v) for v in pipe.lrange(self._key("kept"), 0, -1)]
            version = int(pipe.incr(self._key("next")))
            pushed = RulesVersion(version, text, by, time.time(), comment)
            pipe.multi()
            pipe.set(self._key(f"v:{version}"), json.dumps(asdict(pushed)))
            pipe.set(self._key("current"), version)
            for listing in ("history", "kept"):
                pipe.rpush(self._key(listing), version)
                pipe.ltrim(self._key(listing), -KEEP_VERSIONS, -1)
            # A version goes once neither listing names it any more.
            still = {*[*history, version][-KEEP_VERSIONS:], *[*kept, version][-KEEP_VERSIONS:]}
            for dropped in {*history, *kept} - still:
                pipe.delete(self._key(f"v:{dropped}"))
            return pushed

        return self._change("push", write)

    def rollback(self, by: str, comment: str = "") -> RulesVersion:
        """Put the version in force before the current one back in force. It stays the
        version it was (its text, author and time); the rollback is a history entry."""

        def write(pipe: Any, history: list[int], current: int) -> RulesVersion:
            if len(history) < 2:
                raise NoPreviousRulesError()
            previous = self._load_with(pipe, history[-2])
            pipe.multi()
            pipe.rpop(self._key("history"))
            pipe.set(self._key("current"), previous.version)
            note = {"by": by, "at": time.time(), "from": current, "comment": comment}
            pipe.lpush(self._key("rollbacks"), json.dumps(note))
            pipe.ltrim(self._key("rollbacks"), 0, KEEP_VERSIONS - 1)
            return previous

        found, _ = self._change("rollback", write)
        return found

    def _change(
        self, action: str, write: Callable[[Any, list[int], int], RulesVersion | None]
    ) -> tuple[RulesVersion, bool]:
        def change(pipe: Any) -> tuple[RulesVersion, bool]:
            history = [int(v) for v in pipe.lrange(self._key("history"), 0, -1)]
            raw = pipe.get(self._key("current"))
            current = int(raw) if raw else 0
            written = write(pipe, history, current)
            if written is None:
                return self._load_with(pipe, current), False
            return written, True

        keys = [self._key("current"), self._key("history")]
        return watched(
            self._redis, keys, change, "rules", MAX_RACES, lambda: RulesConflictError(action)
        )

    def _load_with(self, client: Any, version: int) -> RulesVersion:
        raw = client.get(self._key(f"v:{version}"))
        if raw is None:
            raise StoreUnavailableError("rules", f"version {version} is missing")
        return RulesVersion(**json.loads(raw))

    def _call(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except redis.RedisError as error:
            raise StoreUnavailableError("rules", str(error)) from error
