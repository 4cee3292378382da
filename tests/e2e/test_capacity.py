"""Customers keep being served while shards are added and retired (`engage scale`)."""

from __future__ import annotations

import time
import uuid

import pytest
import ray

from actors.supervisor import supervisor_name
from tests.conftest import WRITE_KEY, App
from tests.serving.test_api import valid_event, wait_context

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_events_are_applied_right_after_shards_are_added_and_retired(engage_app: App) -> None:
    settings = engage_app.settings
    supervisor = ray.get_actor(
        supervisor_name(settings.redis.prefix), namespace=settings.ray.namespace
    )
    shards = settings.actors.shards
    for target in (shards + 1, shards):
        ray.get(supervisor.scale.remote(target), timeout=120)
        customers = [f"rescale-{uuid.uuid4().hex[:8]}" for _ in range(20)]
        started = time.monotonic()
        answer = engage_app.request(
            "POST", "/v1/events", WRITE_KEY, json={"events": [valid_event(c) for c in customers]}
        )
        assert answer.status_code == 200
        for customer in customers:
            context = wait_context(engage_app, customer, lambda c: c["session"]["events"] >= 1)
            assert context["session"]["events"] == 1, (target, customer)
        print(f"{target} shards: 20 customers applied in {time.monotonic() - started:.1f}s")
