"""Hot swap under load: promote and roll back while events and queries flow."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
import requests

from tests.conftest import READ_KEY, App
from tests.kafka_support import produce
from tests.support import event
from training.pipeline import train
from training.registry import ModelRegistry
from training.sources import generated

pytestmark = pytest.mark.integration


class Load:
    """Next-best-offer queries from a few clients, and a stream of events, until stopped."""

    def __init__(self, app: App, clients: int = 3) -> None:
        self.app = app
        self.stop = threading.Event()
        self.answers: list[tuple[float, int, str | None]] = []
        self.sent_events = 0
        self.threads = [threading.Thread(target=self._query, daemon=True) for _ in range(clients)]
        self.threads.append(threading.Thread(target=self._events, daemon=True))

    def _query(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {READ_KEY}"
        customer = f"swap-{uuid.uuid4().hex[:6]}"
        while not self.stop.is_set():
            try:
                answer = session.get(
                    f"{self.app.url}/v1/customers/{customer}/next-best-offer", timeout=10
                )
                version = answer.json()["model"]["version"] if answer.status_code == 200 else None
                self.answers.append((time.monotonic(), answer.status_code, version))
            except requests.RequestException:
                self.answers.append((time.monotonic(), 0, None))

    def _events(self) -> None:
        n = 0
        while not self.stop.is_set():
            batch = [
                event("product_view", customer=f"swapev-{(n + i) % 50}", at=time.time())
                for i in range(20)
            ]
            produce(self.app.kafka, batch)
            n += 20
            self.sent_events = n
            time.sleep(0.2)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def wait_for_version(load: Load, version: str, since: float, timeout_s: float = 10) -> float:
    deadline = since + timeout_s
    while time.monotonic() < deadline:
        if any(t > since and v == version for t, _, v in load.answers[-20:]):
            return next(t for t, _, v in load.answers if t > since and v == version) - since
        time.sleep(0.05)
    raise AssertionError(f"version {version} not served within {timeout_s}s")


def test_three_promotions_and_rollbacks_with_zero_failed_requests(engage_app: App) -> None:
    settings = engage_app.settings
    registry = ModelRegistry(settings.redis.url or "", settings.redis.prefix)
    old = str(registry.alias("recommender", "champion"))
    new = str(
        train("recommender", registry, generated(300, 30, 99), report_dir=None).version.version
    )
    visible: list[float] = []
    with Load(engage_app) as load:
        time.sleep(2.0)
        for _ in range(3):
            started = time.monotonic()
            # A swap, whatever the candidate's quality: forced past the registry's guard.
            registry.promote("recommender", int(new), force=True)
            visible.append(wait_for_version(load, new, started))
            time.sleep(1.0)
            started = time.monotonic()
            registry.rollback("recommender")
            visible.append(wait_for_version(load, old, started))
            time.sleep(1.0)
    registry.close()
    statuses = Counter(status for _, status, _ in load.answers)
    versions = Counter(v for _, _, v in load.answers)
    assert statuses == {200: len(load.answers)}, f"failed requests: {statuses}"
    assert set(versions) == {old, new}
    assert max(visible) < 5.0, f"swap took {max(visible):.2f}s"
    assert len(load.answers) > 100
    assert load.sent_events > 100
