"""Counters and latency histograms kept by shards, ingest and the API.

Plain Python, cheap to update on the hot path, snapshot as dicts that travel over Ray and
render as Prometheus text in `serving.metrics`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Milliseconds; covers a 0.1 ms turn up to a 10 s stall.
DEFAULT_BUCKETS_MS: tuple[float, ...] = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    10000.0,
)


@dataclass
class Histogram:
    buckets: tuple[float, ...] = DEFAULT_BUCKETS_MS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def merge(self, other: Histogram) -> None:
        for i, c in enumerate(other.counts):
            self.counts[i] += c
        self.total += other.total
        self.count += other.count

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding the q-quantile (Prometheus-style estimate)."""
        if self.count == 0:
            return 0.0
        rank = q * self.count
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return self.buckets[i] if i < len(self.buckets) else self.buckets[-1]
        return self.buckets[-1]

    def to_dict(self) -> dict[str, object]:
        return {
            "buckets": list(self.buckets),
            "counts": list(self.counts),
            "sum": self.total,
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Histogram:
        buckets = data["buckets"]
        counts = data["counts"]
        total = data["sum"]
        count = data["count"]
        if not (
            isinstance(buckets, list)
            and isinstance(counts, list)
            and isinstance(total, int | float)
            and isinstance(count, int)
        ):
            raise ValueError(f"not a histogram: {sorted(data)}")
        return cls(tuple(float(b) for b in buckets), [int(c) for c in counts], float(total), count)
