"""`engage demo` / `make demo` and `engage up`: the whole engine on one machine.

Starts the embedded broker and Redis (unless ENGAGE_KAFKA_BOOTSTRAP / ENGAGE_REDIS_URL
point elsewhere; with ENGAGE_BROKER=rabbitmq a RabbitMQ node of its own unless
ENGAGE_RABBITMQ_URL is set), local Ray, trains first models if the registry is empty and deploys the
Serve application. The demo then sends synthetic retail, banking and media traffic and
prints live figures; `engage up` waits for your own events. Ctrl-C or SIGTERM (or the end
of `--duration`) stops everything it started.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, TextIO

import requests

from engage.runtime import Running, running_engage
from engage.settings import Settings
from engage.simulate import TrafficProducer


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def shard_figures(url: str, key: str | None) -> dict[str, Any]:
    """Processed events, live customers and actions by type, summed over shards."""
    try:
        shards = requests.get(f"{url}/v1/shards", headers=_auth(key), timeout=5).json()["shards"]
    except (requests.RequestException, ValueError, KeyError):
        return {"events": 0, "live": 0, "actions": {}}
    actions: Counter[str] = Counter()
    for shard in shards:
        actions.update(shard.get("actions_by_type", {}))
    return {
        "events": sum(int(s.get("events", 0)) for s in shards),
        "live": sum(int(s.get("live_customers", 0)) for s in shards),
        "actions": dict(sorted(actions.items())),
        "shards": len(shards),
    }


def _line(
    elapsed: float, sent: int, figures: dict[str, Any], rate_in: float, rate_done: float
) -> str:
    actions = ", ".join(f"{k} {v}" for k, v in figures["actions"].items()) or "none yet"
    return (
        f"[{elapsed:5.0f}s] sent {sent:,} ({rate_in:,.0f}/s)  processed {figures['events']:,} "
        f"({rate_done:,.0f}/s)  live customers {figures['live']:,}  actions: {actions}"
    )


@contextlib.contextmanager
def stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM (a service manager, `kill`) stops a local run as Ctrl-C does: through the
    same cleanup, leaving no process behind. Entered again once Ray runs: `ray.init`
    installs its own SIGTERM handler, which aborts the process without any cleanup."""

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut cleanup
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _banner(running: Running, customer: str | None, out: TextIO) -> None:
    url = running.url
    api = running.settings.api
    read = running.read_key or ""
    header = f"-H 'Authorization: Bearer {read}' " if read else ""
    print(f"\nengage is running at {url}", file=out)
    settings = running.settings
    broker = settings.event_broker()
    print(f"  {broker.title} {broker.address}   Redis {settings.redis.url}", file=out)
    if read:
        write = api.write_keys[0].get_secret_value() if api.write_keys else ""
        admin = api.admin_token.get_secret_value() if api.admin_token else ""
        print(f"  keys: write {write}   read {read}   admin {admin}", file=out)
    if customer is not None:
        print("  next-best-offer for a customer of the simulated traffic:", file=out)
        print(f"    curl -s {header}'{url}/v1/customers/{customer}/next-best-offer?k=3'", file=out)
        print(f"  context:   curl -s {header}'{url}/v1/customers/{customer}/context'", file=out)
    else:
        print("  send events: engage send events.jsonl   (JSON lines, one event each)", file=out)
    print("  other engage commands run from this directory find this run", file=out)
    print(f"  dashboard: {url}/dashboard?key={read}", file=out)
    print(f"  API docs:  {url}/docs     Ctrl-C stops everything\n", file=out)


def run_demo(
    settings: Settings,
    duration_s: float | None = None,
    rate: float = 200.0,
    customers: int = 500,
    out: TextIO = sys.stdout,
) -> int:
    print("starting engage: broker, Redis, Ray, models, Serve ...", file=out, flush=True)
    summary: dict[str, Any] = {}
    with stopped_by_sigterm(), running_engage(settings) as running, stopped_by_sigterm():
        traffic = TrafficProducer(running.settings, rate=rate, customers=customers)
        sample = traffic.traffic.population[0].customer_id
        _banner(running, sample, out)
        traffic.start()
        started = time.monotonic()
        last = (started, 0, 0)
        try:
            while duration_s is None or time.monotonic() - started < duration_s:
                time.sleep(2.0)
                figures = shard_figures(running.url, running.read_key)
                now = time.monotonic()
                span = max(now - last[0], 1e-6)
                rate_in = (traffic.sent - last[1]) / span
                rate_done = (figures["events"] - last[2]) / span
                last = (now, traffic.sent, figures["events"])
                print(
                    _line(now - started, traffic.sent, figures, rate_in, rate_done),
                    file=out,
                    flush=True,
                )
        except KeyboardInterrupt:
            print("\nstopping ...", file=out, flush=True)
        finally:
            traffic.stop()
        figures = _settle(running.url, running.read_key, traffic.sent)
        active = sorted(traffic.traffic.introduced) or [sample]
        offer = _next_best_offer(running.url, running.read_key, active[0])
        summary = {
            "events_sent": traffic.sent,
            "events_processed": figures["events"],
            "live_customers": figures["live"],
            "actions_by_type": figures["actions"],
            "next_best_offer": offer,
            "duration_s": round(time.monotonic() - started, 1),
            "url": running.url,
        }
    print("\nsummary:", file=out)
    print(
        f"  events sent {summary['events_sent']:,}, processed {summary['events_processed']:,}",
        file=out,
    )
    print(f"  actions by type: {summary['actions_by_type']}", file=out)
    print(json.dumps(summary, sort_keys=True), file=out, flush=True)
    return 0 if summary.get("events_processed", 0) > 0 else 1


def _settle(url: str, key: str | None, sent: int, timeout_s: float = 30.0) -> dict[str, Any]:
    """Wait until processing catches up with what was sent (or stops moving)."""
    deadline = time.monotonic() + timeout_s
    figures = shard_figures(url, key)
    stable = 0
    while time.monotonic() < deadline and figures["events"] < sent:
        time.sleep(1.0)
        fresh = shard_figures(url, key)
        stable = stable + 1 if fresh["events"] == figures["events"] else 0
        figures = fresh
        if stable >= 5:
            break
    return figures


def _next_best_offer(url: str, key: str | None, customer_id: str) -> dict[str, Any]:
    try:
        answer = requests.get(
            f"{url}/v1/customers/{customer_id}/next-best-offer?k=3", headers=_auth(key), timeout=10
        )
        body: dict[str, Any] = answer.json()
        return body
    except (requests.RequestException, ValueError) as error:
        return {"error": str(error), "customer_id": customer_id}


def run_up(settings: Settings, out: TextIO = sys.stdout) -> int:
    """engage on one machine for your own data: the demo's stack without its traffic,
    until Ctrl-C or SIGTERM."""
    print("starting engage: broker, Redis, Ray, models, Serve ...", file=out, flush=True)
    try:
        with stopped_by_sigterm(), running_engage(settings) as running, stopped_by_sigterm():
            _banner(running, None, out)
            print("ready", file=out, flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopped", file=out, flush=True)
    return 0
