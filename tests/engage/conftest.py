"""What the CLI tests share: the settings a command reads from the environment."""

from __future__ import annotations

import pytest


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, redis_url: str, prefix: str) -> str:
    """A real Redis for the command, under a prefix of the test's own."""
    monkeypatch.setenv("ENGAGE_REDIS_URL", redis_url)
    monkeypatch.setenv("ENGAGE_REDIS_PREFIX", prefix)
    return prefix
