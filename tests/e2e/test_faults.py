"""Nothing lost, nothing doubled, nothing halted: one seeded stream of about 30,000 events
(customers of every kind, visitors merged into customers before and while the faults run,
veterans with months of history) run undisturbed and then under the fault schedule of
engage.chaos (Redis connections killed, Redis paused past every timeout, a shard and an
ingest replica SIGKILLed, a slot move, hostile records; on Apache Kafka also the broker
stopped for 30 s), with quiet hours on, a slow webhook and a failing e-mail server beside
the actions topic, and an actions topic whose partitions hold days of quiet history. Both
runs must end in the same customer states, merges and actions, each once."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import ray
from pydantic import SecretStr
from ray import serve

from actors.brokers.kafka import ensure_topics
from actors.config import KafkaConfig, SinkConfig
from actors.delivery.sinks.email import EmailSink
from actors.delivery.sinks.webhook import WebhookSink
from actors.hosting.router import ShardRouter
from actors.hosting.supervisor import supervisor_name
from engage.chaos.channels import quiet_actions_topic
from engage.chaos.report import Report
from engage.chaos.rules import write_deterministic_rules
from engage.chaos.schedule import Target, run
from engage.chaos.sinks import RefusingSmtp, SlowWebhook
from engage.chaos.stream import StreamSpec
from engage.processes import ServerProcess
from serving.config import ApiConfig
from tests.conftest import ADMIN_TOKEN, BROKER, READ_KEY, WRITE_KEY, App, deploy_test_app

# The fault schedule runs for minutes on purpose.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.kafka,
    pytest.mark.faults,
    pytest.mark.timeout(1800),
]

# Ingest must move again within this long after a fault ends. The slowest recovery is a
# killed ingest replica: Serve restarts it within 2 s, then the consumer group hands its
# partitions to the new member: about 14 s on the embedded broker, 39-45 s measured on
# Apache Kafka 4.1.1 (docs/reliability.md).
MAX_STALL_S = 90.0 if BROKER == "apache" else 45.0


@pytest.fixture(scope="module")
def fault_app(
    ray_local: None, bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[App, SlowWebhook]]:
    # One application serves at "/", on the port Serve first started with: the fault
    # suite's own takes the place of any other deployed in this process (the session's,
    # for the capacity test before this one), on a Serve of its own.
    serve.shutdown()  # type: ignore[no-untyped-call]
    webhook = SlowWebhook(delay_s=0.3).start()
    smtp = RefusingSmtp().start()
    prefix = f"flt{uuid.uuid4().hex[:6]}"
    kafka = KafkaConfig(
        bootstrap=bootstrap,
        events_topic=f"{prefix}.events",
        events_dlq_topic=f"{prefix}.events.dlq",
        actions_topic=f"{prefix}.actions",
        actions_dlq_topic=f"{prefix}.actions.dlq",
        decisions_topic=f"{prefix}.decisions",
        catalog_topic=f"{prefix}.catalog",
        group_id=f"{prefix}-ingest",
        partitions=4,
    )
    quiet_actions_topic(kafka)
    ensure_topics(kafka)
    # Quiet hours hold now for customers in New York's time zone, for the next 90 minutes.
    rules = write_deterministic_rules(
        tmp_path_factory.mktemp("rules") / "rules.yaml", quiet_now=time.time(), extra_sinks=True
    )
    api = ApiConfig(
        write_keys=(SecretStr(WRITE_KEY),),
        read_keys=(SecretStr(READ_KEY),),
        admin_token=SecretStr(ADMIN_TOKEN),
    )
    sinks = SinkConfig(
        webhook_url=webhook.url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        max_attempts=3,
        base_backoff_s=0.2,
    )
    app = deploy_test_app(prefix, redis_url, rules, api, kafka=kafka, sinks=sinks)
    yield app, webhook
    webhook.stop()
    smtp.stop()


def test_the_fault_schedule_loses_doubles_and_halts_nothing(
    fault_app: tuple[App, SlowWebhook], redis_server: ServerProcess, kafka_broker: Any
) -> None:
    app, webhook = fault_app
    settings = app.settings
    router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
    ingest = serve.get_deployment_handle("Ingest", app_name=settings.serve.app)
    supervisor = ray.get_actor(
        supervisor_name(settings.redis.prefix), namespace=settings.ray.namespace
    )

    def shard_pid(shard: int) -> int:
        return int(ray.get(router.handle(shard).pid.remote(), timeout=60))

    target = Target(
        settings=settings,
        redis_pid=redis_server.process.pid,
        shard_pid=shard_pid,
        ingest_pid=lambda: int(ingest.pid.remote().result(timeout_s=60)),
        scale=lambda shards: ray.get(supervisor.scale.remote(shards), timeout=120),
        broker=kafka_broker if BROKER == "apache" else None,
        webhook=webhook,
        failing_sink=True,
    )
    try:
        report = run(target, StreamSpec())
    finally:
        router.close()
    print(json.dumps(report.to_dict()))

    expected_faults = ["redis clients killed", "redis paused", "shard killed"]
    expected_faults += ["ingest killed", "slot move"]
    if BROKER == "apache":
        expected_faults.append("broker stopped")
    assert report.faults == expected_faults
    assert_nothing_lost_or_doubled(report)
    # collection needs the broker only: a paused Redis does not hold it (it held one
    # request 12.9 s while the API's event loop waited for Redis)
    assert report.collect_s_during_redis_pause is not None
    assert report.collect_s_during_redis_pause < 3.0
    assert_other_sinks_agree(report)


def assert_nothing_lost_or_doubled(report: Report) -> None:
    """What every run of the schedule must show, on any broker."""
    assert report.lost_events == 0
    assert report.double_applied == 0
    assert report.states_differing == 0, report.first_difference
    assert report.merges > 0
    assert report.merges_differing == 0
    assert report.expected_actions > 100
    assert report.missing_actions == 0, report.missing_examples
    assert report.unexpected_actions == 0, report.unexpected_examples
    assert report.duplicate_actions == 0
    assert report.deferred_expected > 0  # quiet hours held some back
    assert (report.deferred_missing, report.deferred_unexpected) == (0, 0)
    assert report.hostile_missing == []
    assert report.dlq_hostile == report.hostile_sent
    assert 0 < report.max_cart_lines <= 100
    assert report.max_stall_s < MAX_STALL_S, report.stalls_s


# A webhook or an SMTP server cannot be asked what it has: what is in flight to it when a
# shard is killed may arrive twice, with its idempotency key: one batch, and one more
# delivered just before Redis paused whose marks were still owed at the kill.
MAX_WEBHOOK_COPIES = 2 * WebhookSink.batch_size
MAX_EMAIL_COPIES = 2 * EmailSink.batch_size


def assert_other_sinks_agree(report: Report) -> None:
    assert report.slow_sink_expected > 0
    assert (report.slow_sink_missing, report.slow_sink_unexpected) == (0, 0)
    assert report.slow_sink_duplicates <= MAX_WEBHOOK_COPIES
    assert report.failing_sink_expected > 0
    assert (report.failing_sink_missing, report.failing_sink_unexpected) == (0, 0)
    assert report.failing_sink_copies <= MAX_EMAIL_COPIES
