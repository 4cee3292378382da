"""The faults: each one started, held for a while, and ended, with its times recorded.

Every fault here is one a real deployment meets: Redis clients cut off (a failover, an
idle-connection reaper), Redis paused longer than every client timeout (a stuck fork, a
VM pause), a shard or ingest process killed (OOM killer, a node lost), the broker down, a
slot move while traffic flows.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis


@dataclass
class FaultLog:
    """What was injected, and when each fault ended (monotonic seconds)."""

    faults: list[tuple[str, float, float]] = field(default_factory=list)

    def record(self, name: str, started: float, ended: float) -> None:
        self.faults.append((name, started, ended))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.faults]


def kill_redis_clients(url: str) -> int:
    """Close every client connection Redis has (but this one); returns how many."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        killed = client.execute_command(  # type: ignore[no-untyped-call]
            "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"
        )
        return int(killed)
    finally:
        client.close()


def pause_process(pid: int, seconds: float, during: Callable[[], None] | None = None) -> None:
    """SIGSTOP a process for `seconds` (running `during` meanwhile), then SIGCONT it."""
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + seconds
        if during is not None:
            during()
        time.sleep(max(0.0, deadline - time.monotonic()))
    finally:
        os.kill(pid, signal.SIGCONT)


def kill_process(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
