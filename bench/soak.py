"""A soak: simulated traffic for a long while, with a fault every few minutes; does
anything grow without bound, does the tail drift?

Starts engage as `make demo` does (embedded broker and Redis, local Ray, the shipped
rules) and sends `engage simulate`'s traffic at `--rate` events per second for
`--minutes`. Every `--fault-every` minutes one fault, in turn: every Redis client
connection killed, Redis paused past every client timeout, a shard SIGKILLed, the ingest
replica SIGKILLed. Each five-minute window records the event-to-action p99 (from the
shards' own histograms of ingest read to sink acceptance: the upper bound of the bucket,
as Prometheus estimates it), the events applied, Redis's memory and the largest saved
state; the first and last window record every process's memory (RSS: the Ray actors,
Redis, the broker).

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 300] [--fault-every 4]
        [--broker apache]

`--broker apache` runs on the Apache Kafka that `make test-kafka` assembles (the embedded
broker keeps every record in memory and scans to serve a fetch: docs/kafka.md); the
broker's own process is then measured as the embedded one is.

The last line printed is one JSON object: the windows, the processes' memory at the start
and the end, and the growth figures (`rss_growth` of each process, `redis_growth`,
`max_state_bytes`, `p99_drift`: the last window's p99 over the first's).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import ray
import redis
import requests
from ray import serve

from actors.hosting.router import ShardRouter
from actors.metrics import Histogram
from engage.chaos.injectors import kill_process, kill_redis_clients, pause_process
from engage.runtime import running_engage
from engage.settings import Settings, load_settings
from engage.simulate import TrafficProducer


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def processes(servers: list[Any]) -> dict[str, int]:
    """RSS (kB) of every Ray worker of the run that hosts an actor (its process title is
    `ray::<Class>`, idle workers' `ray::IDLE`) and of the servers it started; keyed by
    title and pid, so a process restarted by a fault is a new entry."""
    out: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if not title.startswith("ray::") or title.startswith("ray::IDLE"):
            continue
        rss = rss_kb(int(entry.name))
        if rss is not None:
            # `ray::CustomerShard.process` while it runs a method: keyed by class and pid.
            out[f"{title.split()[0].split('.')[0]}:{entry.name}"] = rss
    for server in servers:
        rss = rss_kb(server.process.pid)
        if rss is not None:
            out[server.name] = rss
    return out


def redis_figures(settings: Settings) -> tuple[int, int]:
    """Redis's used memory, and the largest saved customer state (bytes)."""
    client = redis.Redis.from_url(settings.redis.url or "", socket_timeout=30)
    try:
        used = int(client.info("memory")["used_memory"])
        largest = 0
        pattern = f"{settings.redis.prefix}:{{*}}:s:*"
        for key in client.scan_iter(match=pattern, count=2000):
            largest = max(largest, int(client.hstrlen(key, "d")))
        return used, largest
    finally:
        client.close()


def latency_histograms(url: str, key: str | None) -> dict[str, Histogram]:
    """Each shard incarnation's cumulative event-to-action histogram."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    shards = requests.get(f"{url}/v1/shards", headers=headers, timeout=30).json()["shards"]
    return {
        f"{s['shard']}@{s.get('started_at')}": Histogram.from_dict(s["action_latency_ms"])
        for s in shards
        if "action_latency_ms" in s
    }


def window_p99(before: dict[str, Histogram], after: dict[str, Histogram]) -> tuple[float, int]:
    """The p99 (ms) of what the shards observed between two readings, and how many."""
    window = Histogram()
    for name, histogram in after.items():
        earlier = before.get(name)
        if earlier is not None:  # the same incarnation: what it added since
            histogram = Histogram(
                histogram.buckets,
                [a - b for a, b in zip(histogram.counts, earlier.counts, strict=True)],
                histogram.total - earlier.total,
                histogram.count - earlier.count,
            )
        window.merge(histogram)
    return window.quantile(0.99), window.count


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--fault-every", type=float, default=4.0, help="minutes")
    parser.add_argument("--window", type=float, default=5.0, help="minutes")
    parser.add_argument("--broker", choices=("embedded", "apache"), default="embedded")
    args = parser.parse_args()
    with ExitStack() as stack:
        overrides: dict[str, Any] = {}
        broker_servers: list[Any] = []
        if args.broker == "apache":
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests import apache_kafka

            kafka = apache_kafka.start()
            stack.callback(kafka.stop)
            broker_servers.append(kafka.server)
            overrides["kafka"] = {"bootstrap": kafka.bootstrap}
        running = stack.enter_context(running_engage(load_settings(**overrides)))
        settings = running.settings
        servers = list(running.stack.servers) + broker_servers
        (redis_server,) = [s for s in servers if s.name == "redis"]
        router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
        stack.callback(router.close)
        ingest = serve.get_deployment_handle("Ingest", app_name=settings.serve.app)
        faults: list[tuple[str, Callable[[], object]]] = [
            ("redis clients killed", lambda: kill_redis_clients(settings.redis.url or "")),
            ("redis paused", lambda: pause_process(redis_server.process.pid, 8.0)),
            (
                "shard killed",
                lambda: kill_process(int(ray.get(router.handle(0).pid.remote(), timeout=60))),
            ),
            ("ingest killed", lambda: kill_process(int(ingest.pid.remote().result(timeout_s=60)))),
        ]
        traffic = TrafficProducer(settings, rate=args.rate, customers=args.customers)
        traffic.start()
        stack.callback(traffic.stop)
        started = time.monotonic()
        end = started + args.minutes * 60
        first_processes = processes(servers)
        used, largest = redis_figures(settings)
        windows: list[dict[str, Any]] = []
        readings = latency_histograms(running.url, running.read_key)
        next_window = started + args.window * 60
        next_fault = started + args.fault_every * 60
        fault_index = 0
        injected: list[tuple[float, str]] = []
        while time.monotonic() < end:
            time.sleep(1.0)
            now = time.monotonic()
            if now >= next_fault:
                name, fault = faults[fault_index % len(faults)]
                fault_index += 1
                say(f"[{now - started:6.0f}s] fault: {name}")
                try:
                    fault()
                except Exception as error:  # recorded: a fault that could not be injected
                    say(f"  could not inject {name}: {error!r}")
                injected.append((round(now - started, 1), name))
                next_fault += args.fault_every * 60
            if now >= next_window or now >= end:
                current = latency_histograms(running.url, running.read_key)
                p99, actions = window_p99(readings, current)
                readings = current
                used, largest = redis_figures(settings)
                windows.append(
                    {
                        "ended_s": round(now - started, 1),
                        "action_p99_ms": p99,
                        "actions": actions,
                        "events_sent": traffic.sent,
                        "redis_used_bytes": used,
                        "max_state_bytes": largest,
                    }
                )
                say(f"[{now - started:6.0f}s] window: {json.dumps(windows[-1])}")
                next_window += args.window * 60
        last_processes = processes(servers)
        traffic.stop()
    growth = {
        name: round(last_processes[name] / kb, 3)
        for name, kb in first_processes.items()
        if name in last_processes and kb
    }
    figures = {
        "broker": args.broker,
        "minutes": args.minutes,
        "rate": args.rate,
        "faults": injected,
        "windows": windows,
        "processes_start_kb": first_processes,
        "processes_end_kb": last_processes,
        "rss_growth": growth,
        "max_rss_growth": max(growth.values(), default=0.0),
        "redis_growth": round(windows[-1]["redis_used_bytes"] / windows[0]["redis_used_bytes"], 3)
        if windows
        else 0.0,
        "max_state_bytes": max((w["max_state_bytes"] for w in windows), default=0),
        "p99_drift": round(windows[-1]["action_p99_ms"] / windows[0]["action_p99_ms"], 3)
        if windows and windows[0]["action_p99_ms"]
        else 0.0,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    raise SystemExit(main())
