"""engage's figures on the node's Ray metrics export, beside Ray's own: what Prometheus
scraping a Ray cluster, and Ray's Grafana dashboards, read."""

from __future__ import annotations

import time

import pytest
import ray
import requests

from tests.conftest import App
from tests.e2e.test_retrain_loop import processed, send_and_wait
from tests.eventually import eventually
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def exported() -> str:
    (node,) = [n for n in ray.nodes() if n["Alive"]]  # type: ignore[no-untyped-call]
    port = node["MetricsExportPort"]
    return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def total(text: str, name: str) -> float:
    """The sum of every series of `name` (each worker and tag set is one)."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name
    )


def test_shards_ingest_and_the_scorer_report_through_rays_metrics(engage_app: App) -> None:
    customer = f"rm-{time.time_ns()}"
    now = time.time()
    send_and_wait(engage_app, [event("page_view", customer=customer, at=now + i) for i in range(5)])
    applied = processed(engage_app)

    def caught_up() -> str | None:
        text = exported()
        done = total(text, "ray_engage_shard_events_total") >= applied
        return text if done and total(text, "ray_engage_ingest_records_total") >= 5 else None

    # Ray's agent exports what workers reported every few seconds.
    text = eventually(caught_up, 90, "the shards' and ingest's figures exported", interval_s=2)
    names = {line.split("{")[0].split()[0] for line in text.splitlines() if line[:1] != "#"}
    assert {n for n in names if n.startswith("ray_") and not n.startswith("ray_engage_")}
    assert total(text, "ray_engage_shard_live_customers") >= 1
    assert total(text, "ray_engage_scorer_registry_epoch") >= 1
    assert total(text, "ray_engage_scorer_swap_failing") == 0
