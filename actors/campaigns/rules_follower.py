"""The rules a shard runs: the version in force in the store, switched between batches.

`refresh` (every `rules_reload_s`, off the event loop) reads the version in force and,
when it moved, compiles the new version and stages it. The staged rules go into force
only when no batch is under way (`batch_started` / `batch_ended` bracket each batch), so
no batch runs under two versions. A version that cannot be read or compiled leaves the
rules in force running, and `status` says so. While nothing has been pushed (version 0),
the deployment's rules file is in force and followed as before (actors.rules.source).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from actors.campaigns.rules_store import RulesVersion
from actors.errors import OutageError, RuleError
from actors.rules.ruleset import RuleSet
from actors.rules.source import RulesFile

log = logging.getLogger(__name__)


class RulesSource(Protocol):
    def current_version(self) -> int: ...

    def load(self, version: int) -> RulesVersion: ...


class RulesFollower:
    def __init__(
        self,
        source: RulesSource | None,
        file: RulesFile,
        put_in_force: Callable[[RuleSet], None],
    ) -> None:
        self._source = source
        self._file = file
        self._put_in_force = put_in_force
        self.rules = file.rules
        self.version = 0
        self.error: str | None = None
        self.switches = 0
        self._staged: tuple[int, RuleSet] | None = None
        self._batches = 0

    # ---- reading (blocking: call it off the event loop) ------------------------------

    def refresh(self) -> None:
        """Stage the version in force if it moved and compiles; otherwise say why not."""
        try:
            version = self._source.current_version() if self._source is not None else 0
        except OutageError as error:
            self.error = f"the version in force could not be read: {error}"
            return
        if version == 0:
            rules = self._file.reload()
            if rules is not None:
                self._staged = (0, rules)
            self.error = self._file.error
            return
        if version == self.version or (self._staged and self._staged[0] == version):
            return
        assert self._source is not None
        try:
            rules = self._source.load(version).compile()
        except (OutageError, RuleError) as error:
            # Kept, not raised: the rules in force keep running, and status says why they
            # are behind. The next poll tries again.
            self.error = f"version {version} not taken: {error}"
            log.error("rules %s", self.error)
            return
        self._staged = (version, rules)
        self.error = None

    # ---- switching (on the event loop) ----------------------------------------------

    def batch_started(self) -> None:
        if self._batches == 0:
            self.switch_if_idle()
        self._batches += 1

    def batch_ended(self) -> None:
        self._batches -= 1
        if self._batches == 0:
            self.switch_if_idle()

    def switch_if_idle(self) -> bool:
        """Put the staged rules in force if no batch is under way."""
        if self._staged is None or self._batches:
            return False
        (self.version, self.rules), self._staged = self._staged, None
        self._put_in_force(self.rules)
        self.switches += 1
        log.info("rules version %d in force (%d rules)", self.version, len(self.rules.rules))
        return True

    async def follow(self, poll_s: float) -> None:
        """Refresh and switch every `poll_s` until cancelled (for a process without batches:
        an API replica, whose answers read the rules' policy)."""
        while True:
            await asyncio.to_thread(self.refresh)
            self.switch_if_idle()
            await asyncio.sleep(poll_s)

    def status(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "source": self.rules.source,
            "rules": len(self.rules.rules),
            "staged": self._staged[0] if self._staged else None,
            "error": self.error,
        }
