"""Champion against challenger, from the scorer's shadow log (`engage models compare`).

While a challenger is set, every request the scorer answers with the champion is also
scored by the challenger, off the answer's path; the pairs are kept in a capped Redis list.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from actors.storage.keys import Keys
from actors.storage.redis_clients import connect


def read_shadow(url: str, prefix: str, name: str, limit: int = 10_000) -> list[dict[str, Any]]:
    client = connect(url)
    try:
        raw: list[bytes] = client.lrange(Keys(prefix).shadow(name), 0, limit - 1)  # type: ignore[assignment]
    finally:
        client.close()
    return [json.loads(r) for r in raw]


def compare(records: list[dict[str, Any]], threshold: float = 0.5) -> dict[str, Any]:
    """Agreement and score differences; per pair of versions, newest pair first."""
    if not records:
        return {"samples": 0}
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        pairs.setdefault((record["champion"], record["challenger"]), []).append(record)
    (champion, challenger), sample = next(iter(pairs.items()))
    diffs = [r["challenger_score"] - r["champion_score"] for r in sample]
    if "champion_top" in sample[0]:
        agree = sum(r["champion_top"] == r["challenger_top"] for r in sample)
        agreement = "same top offer"
    else:
        agree = sum(
            (r["champion_score"] >= threshold) == (r["challenger_score"] >= threshold)
            for r in sample
        )
        agreement = f"same side of {threshold}"
    return {
        "champion": champion,
        "challenger": challenger,
        "samples": len(sample),
        "agreement": agree / len(sample),
        "agreement_means": agreement,
        "mean_score_change": statistics.fmean(diffs),
        "mean_abs_score_change": statistics.fmean(abs(d) for d in diffs),
        "champion_mean_score": statistics.fmean(r["champion_score"] for r in sample),
        "challenger_mean_score": statistics.fmean(r["challenger_score"] for r in sample),
    }
