"""Rules that reload without a restart: a file watched by its modification time.

A changed file is parsed and validated in full first; if it is refused, the rules in
force stay in force and the error is kept for introspection.
"""

from __future__ import annotations

import logging
from pathlib import Path

from actors.errors import RuleError
from actors.rules.ruleset import RuleSet, load_rules

log = logging.getLogger(__name__)


class RulesFile:
    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.error: str | None = None
        self._mtime = self._stat()
        self.rules = load_rules(self.path)

    def _stat(self) -> float | None:
        if self.path is None:
            return None
        try:
            return self.path.stat().st_mtime_ns / 1e9
        except OSError as error:
            self.error = f"{self.path}: {error.strerror}"
            return None

    def reload(self) -> RuleSet | None:
        """New rules if the file changed and is valid; None otherwise."""
        if self.path is None:
            return None
        mtime = self._stat()
        if mtime is None or mtime == self._mtime:
            return None
        self._mtime = mtime
        try:
            rules = load_rules(self.path)
        except RuleError as error:
            self.error = str(error)
            log.error("rules file refused, the rules in force stay: %s", error)
            return None
        self.error = None
        self.rules = rules
        log.info("rules reloaded from %s (%d rules)", self.path, len(rules.rules))
        return rules
