"""CPU time per kind of process on this machine, read from /proc, for benchmarks.

A benchmark takes `snapshot()` before and after a phase; `by_part(before, after)` says how
many CPU seconds each part of the system spent in between: the broker, Redis, the customer
shards, the ingest replicas, the scorer, the API, Ray's own processes, and the rest.
"""

from __future__ import annotations

import os
from pathlib import Path

# First match wins: (fragment of the command line, part).
PARTS: list[tuple[str, str]] = [
    ("ray::CustomerShard", "shards"),
    (":Ingest", "ingest"),
    (":Scorer", "scorer"),
    (":Api", "api"),
    ("tansu", "broker"),
    ("kafka.Kafka", "broker"),
    ("beam.smp", "broker"),  # RabbitMQ's Erlang VM
    ("redis-server", "redis"),
    ("ray::", "ray workers (Serve controller, proxy, supervisor, idle)"),
    ("raylet", "ray runtime (raylet, GCS, agents)"),
    ("gcs_server", "ray runtime (raylet, GCS, agents)"),
    ("dashboard", "ray runtime (raylet, GCS, agents)"),
    ("ray/_private", "ray runtime (raylet, GCS, agents)"),
]
OTHER = "other"


def _part(cmdline: str) -> str:
    for fragment, part in PARTS:
        if fragment in cmdline:
            return part
    return OTHER


def snapshot() -> dict[int, tuple[str, float]]:
    """pid -> (part, CPU seconds so far) for every process that can be read."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        utime, stime = int(fields[11]), int(fields[12])
        name = cmdline or stat[stat.index("(") + 1 : stat.rindex(")")]
        found[int(entry.name)] = (_part(name), (utime + stime) / tick)
    return found


def by_part(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds per part between two snapshots (a process born in between counts whole;
    one that ended in between is lost, which the machine-wide figure still includes)."""
    spent: dict[str, float] = {}
    for pid, (part, cpu) in after.items():
        start = before.get(pid, (part, 0.0))[1]
        spent[part] = spent.get(part, 0.0) + max(0.0, cpu - start)
    return spent
