"""The catalogue version a process serves, kept current by polling one Redis key.

Every shard and API replica holds a `CatalogFollower`; `refresh` (called every
`poll_s` by the process's own loop) reads the current version number and, when it moved,
the new version's offers. A version that cannot be read leaves the one in hand serving
and is reported (`status`); nothing on the request path waits for Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from pydantic import ValidationError

from actors.catalog.catalog import Catalog, built_in
from actors.errors import OutageError

log = logging.getLogger(__name__)


class CatalogSource(Protocol):
    def current_version(self) -> int: ...

    def load(self, version: int) -> Catalog: ...


class CatalogFollower:
    def __init__(self, source: CatalogSource | None) -> None:
        self._source = source
        # Version 0 (nothing loaded yet) serves the built-in demo offers.
        self.catalog: Catalog = built_in()
        self.loaded_at: float | None = None
        self.error: str | None = None
        self.swaps = 0

    def refresh(self) -> bool:
        """Take the current version if it moved (blocking: call it off the event loop).
        Returns whether the catalogue served changed."""
        if self._source is None:
            return False
        try:
            version = self._source.current_version()
            if version == self.catalog.version:
                self.error = None
                return False
            catalog = self._source.load(version) if version else built_in()
        except (OutageError, ValidationError) as error:
            # Kept, not raised: the version in hand keeps serving, and status says why it
            # is behind. The next poll tries again.
            self.error = str(error)
            return False
        self.catalog, self.loaded_at, self.error = catalog, time.time(), None
        self.swaps += 1
        log.info("catalogue version %d served (%d offers)", version, len(catalog.offers))
        return True

    async def follow(self, poll_s: float) -> None:
        """Refresh every `poll_s` until cancelled (Redis read in a worker thread)."""
        while True:
            await asyncio.to_thread(self.refresh)
            await asyncio.sleep(poll_s)

    def status(self) -> dict[str, Any]:
        return {
            "version": self.catalog.version,
            "offers": len(self.catalog.offers),
            "loaded_at": self.loaded_at,
            "error": self.error,
        }
