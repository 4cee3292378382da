"""Customers keep being served while shards are added and retired (`engage scale`)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import ray

from actors.shard import shard_name
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
        result: Any = ray.get(supervisor.scale.remote(target), timeout=120)
        if target == shards:  # scaled down: the newest shard drained and stopped
            assert (result["retired"], result["undrained"]) == ([shards], [])
            assert stopped(shard_name(settings.redis.prefix, shards), settings.ray.namespace)
        else:
            assert result["added"] == [shards]
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


def stopped(name: str, namespace: str, timeout_s: float = 15.0) -> bool:
    """Whether the named actor is gone within `timeout_s` (a kill takes a moment)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:
            return True
        time.sleep(0.2)
    return False
