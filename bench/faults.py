"""The fault-injection comparison as a benchmark: figures of one run of the schedule.

Starts engage as `make demo` does (embedded broker and Redis, local Ray), with rules whose
decisions do not depend on the hour or the customer id (quiet hours on for New York's
time zone), a slow webhook and a failing SMTP server as the rules' other sinks, then runs
engage.chaos: the seeded stream undisturbed, then under the fault schedule, and compares.
(The test, tests/e2e/test_faults.py, also gives the actions topic quiet partitions of
history, which needs the broker before engage creates its topics.)

    .venv/bin/python bench/faults.py [--customers 2000] [--broker apache]

`--broker apache` runs on the Apache Kafka that `make test-kafka` assembles, and adds
the broker fault (stopped for 30 s, restarted with its log). The last line printed is one
JSON object of figures (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import ray
from ray import serve

from actors.hosting.router import ShardRouter
from actors.hosting.supervisor import supervisor_name
from engage.chaos.rules import write_deterministic_rules
from engage.chaos.schedule import Broker, Target, run
from engage.chaos.sinks import RefusingSmtp, SlowWebhook
from engage.chaos.stream import StreamSpec
from engage.runtime import running_engage
from engage.settings import load_settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument("--broker", choices=("embedded", "apache"), default="embedded")
    args = parser.parse_args()
    with ExitStack() as stack:
        rules = write_deterministic_rules(
            Path(stack.enter_context(tempfile.TemporaryDirectory())) / "rules.yaml",
            quiet_now=time.time(),
            extra_sinks=True,
        )
        webhook = SlowWebhook(delay_s=0.3).start()
        stack.callback(webhook.stop)
        smtp = RefusingSmtp().start()
        stack.callback(smtp.stop)
        overrides: dict[str, Any] = {
            "actors": {"rules_file": rules},
            "sinks": {
                "webhook_url": webhook.url,
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "max_attempts": 3,
                "base_backoff_s": 0.2,
            },
        }
        broker: Broker | None = None
        if args.broker == "apache":
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests import apache_kafka

            kafka = apache_kafka.start()
            stack.callback(kafka.stop)
            broker = kafka
            overrides["kafka"] = {"bootstrap": kafka.bootstrap}
        settings = load_settings(**overrides)
        running = stack.enter_context(running_engage(settings))
        settings = running.settings
        (redis_server,) = [s for s in running.stack.servers if s.name == "redis"]
        router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
        stack.callback(router.close)
        ingest = serve.get_deployment_handle("Ingest", app_name=settings.serve.app)
        supervisor = ray.get_actor(
            supervisor_name(settings.redis.prefix), namespace=settings.ray.namespace
        )
        target = Target(
            settings=settings,
            redis_pid=redis_server.process.pid,
            shard_pid=lambda shard: int(ray.get(router.handle(shard).pid.remote(), timeout=60)),
            ingest_pid=lambda: int(ingest.pid.remote().result(timeout_s=60)),
            scale=lambda shards: ray.get(supervisor.scale.remote(shards), timeout=120),
            broker=broker,
            webhook=webhook,
            failing_sink=True,
        )
        spec = StreamSpec(customers=args.customers, events_per_customer=args.events_per_customer)
        report = run(target, spec, say=lambda line: print(line, file=sys.stderr))
    figures = report.to_dict()
    figures["broker"] = args.broker
    print(json.dumps(figures))
    clean = (
        report.lost_events
        == report.double_applied
        == report.states_differing
        == report.missing_actions
        == report.unexpected_actions
        == report.duplicate_actions
        == report.merges_differing
        == report.deferred_missing
        == report.deferred_unexpected
        == report.slow_sink_missing
        == report.failing_sink_missing
        == 0
    )
    return 0 if clean and report.dlq_hostile == report.hostile_sent else 1


if __name__ == "__main__":
    sys.exit(main())
