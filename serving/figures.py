"""The live figures of a running engage, gathered for the dashboard and /metrics.

Ingest replicas publish their figures to Redis (serving.ingest); shards answer
`introspect`; the scorer answers `status`. Everything here is a snapshot in time: rates
are computed by whoever reads two snapshots (the dashboard's page, Prometheus).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from actors.metrics import Histogram
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect


def ingest_figures(url: str, prefix: str) -> list[dict[str, Any]]:
    """The figures of every ingest replica that published lately: two reads whatever the
    size of the keyspace (replicas register themselves, see serving.ingest)."""
    keys = Keys(prefix)
    client = connect(url)
    try:
        members: list[bytes] = list(client.zrange(keys.ingest_replicas(), 0, -1))  # type: ignore[arg-type]
        replicas = [m.decode() for m in members]
        rows = client.mget([keys.ingest_figures(r) for r in replicas]) if replicas else []
    finally:
        client.close()
    out = []
    for replica, row in zip(replicas, rows, strict=True):
        if row:
            figures = json.loads(row)
            figures["replica"] = replica
            out.append(figures)
    return out


def summarize(
    ingest: list[dict[str, Any]], shards: list[dict[str, Any]], models: dict[str, Any]
) -> dict[str, Any]:
    """One document with what operators watch."""
    actions: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    dispatch: Counter[str] = Counter()
    turn, scoring, action = Histogram(), Histogram(), Histogram()
    distributions: dict[str, Histogram] = {}
    feature_counts: dict[str, list[int]] = {}
    for shard in shards:
        for model, counts in shard.get("feature_counts", {}).items():
            mine = feature_counts.setdefault(model, [0] * len(counts))
            if len(mine) == len(counts):  # shards of another feature spec mid-upgrade: skip
                feature_counts[model] = [a + b for a, b in zip(mine, counts, strict=True)]
        for model, data in shard.get("score_distributions", {}).items():
            histogram = Histogram.from_dict(data)
            if model in distributions:
                distributions[model].merge(histogram)
            else:
                distributions[model] = histogram
        actions.update(shard.get("actions_by_type", {}))
        by_rule.update(shard.get("actions_by_rule", {}))
        dispatch.update(shard.get("dispatch", {}))
        if "turn_ms" in shard:
            turn.merge(Histogram.from_dict(shard["turn_ms"]))
        if "scoring_ms" in shard:
            scoring.merge(Histogram.from_dict(shard["scoring_ms"]))
        if "action_latency_ms" in shard:
            action.merge(Histogram.from_dict(shard["action_latency_ms"]))
    return {
        "events_in": sum(int(i.get("records", 0)) for i in ingest),
        "events_processed": sum(int(s.get("events", 0)) for s in shards),
        "events_duplicate": sum(int(s.get("duplicates", 0)) for s in shards),
        "events_rejected": sum(int(i.get("dead_lettered", 0)) for i in ingest),
        "consumer_lag": sum(int(i.get("total_lag", 0)) for i in ingest),
        # The longest any replica's polls have kept failing (0: every replica progresses).
        "ingest_stalled_s": max((float(i.get("stalled_s", 0.0)) for i in ingest), default=0.0),
        "ingest_replicas": len(ingest),
        "live_customers": sum(int(s.get("live_customers", 0)) for s in shards),
        "shards": [
            {
                "shard": s.get("shard"),
                "live_customers": s.get("live_customers", 0),
                "events": s.get("events", 0),
                "mailbox_depth": s.get("mailbox_depth", 0),
                "turn_ms_p99": s.get("turn_ms_p99", 0.0),
                "started_at": s.get("started_at"),
                "error": s.get("error"),
            }
            for s in shards
        ],
        "actions_by_type": dict(sorted(actions.items())),
        "actions_by_rule": dict(sorted(by_rule.items())),
        "dispatch": dict(sorted(dispatch.items())),
        "turn_ms": turn.to_dict(),
        "scoring_ms": scoring.to_dict(),
        "action_latency_ms": action.to_dict(),
        "score_distributions": {m: h.to_dict() for m, h in sorted(distributions.items())},
        "feature_counts": dict(sorted(feature_counts.items())),
        "models": models.get("versions", {}),
    }
