"""What the end-to-end tests share beyond tests/conftest.py."""

from __future__ import annotations

import pytest

from tests.conftest import App


@pytest.fixture
def cli(engage_app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """`engage` commands run in the test process reach the running app's Redis."""
    settings = engage_app.settings
    monkeypatch.setenv("ENGAGE_REDIS_URL", settings.redis.require_url())
    monkeypatch.setenv("ENGAGE_REDIS_PREFIX", settings.redis.prefix)
