"""Customers keep being served while shards are added and retired (`engage scale`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
import ray

from actors.hosting.shard import shard_name
from actors.hosting.supervisor import supervisor_name
from tests.conftest import WRITE_KEY, App
from tests.eventually import NeverHappenedError, eventually
from tests.serving.test_api import valid_event, wait_context

# The capacity runs load engage for minutes on purpose.
pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(1800)]


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


def test_engage_scale_adds_and_retires_shards_from_the_command_line(engage_app: App) -> None:
    """`engage scale --shards N` as an operator runs it, in a process of its own that joins
    the running Ray: up by one, then back down, the retired shard drained and stopped."""
    settings = engage_app.settings
    env = {
        **os.environ,
        "ENGAGE_RAY_ADDRESS": ray.get_runtime_context().gcs_address,
        "ENGAGE_RAY_NAMESPACE": settings.ray.namespace,
        "ENGAGE_REDIS_URL": settings.redis.require_url(),
        "ENGAGE_REDIS_PREFIX": settings.redis.prefix,
    }
    shards = settings.actors.shards

    def scale(target: int) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "engage.cli", "scale", "--shards", str(target)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return answer

    assert scale(shards + 1)["added"] == [shards]
    down = scale(shards)
    assert (down["retired"], down["undrained"]) == ([shards], [])
    assert stopped(shard_name(settings.redis.prefix, shards), settings.ray.namespace)
    customer = f"rescale-{uuid.uuid4().hex[:8]}"
    answer = engage_app.request(
        "POST", "/v1/events", WRITE_KEY, json={"events": [valid_event(customer)]}
    )
    assert answer.status_code == 200
    assert wait_context(engage_app, customer, lambda c: c["session"]["events"] >= 1)["known"]


def stopped(name: str, namespace: str, timeout_s: float = 15.0) -> bool:
    """Whether the named actor is gone within `timeout_s` (a kill takes a moment)."""

    def gone() -> bool:
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:
            return True
        return False

    try:
        return eventually(gone, timeout_s, f"{name} stopped", 0.2)
    except NeverHappenedError:
        return False
