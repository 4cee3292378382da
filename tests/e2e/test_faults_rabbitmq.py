"""The fault schedule on RabbitMQ (`ENGAGE_BROKER=rabbitmq`): the same comparison as on
Kafka (tests/e2e/test_faults.py), with the stream published to the events exchange,
actions read back from the actions log stream and dead letters from their queues. The
broker is not stopped here (the schedule stops only a broker that keeps its log through a
restart, Apache Kafka's); Redis, a shard, the ingest replica and a slot move are."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
import ray
from pydantic import SecretStr
from ray import serve

from actors.config import RabbitMQConfig, SinkConfig
from actors.hosting.router import ShardRouter
from actors.hosting.supervisor import supervisor_name
from engage.chaos.channels import RabbitChannels
from engage.chaos.rules import write_deterministic_rules
from engage.chaos.schedule import Target, run
from engage.chaos.sinks import RefusingSmtp, SlowWebhook
from engage.chaos.stream import StreamSpec
from engage.processes import ServerProcess
from engage.rabbitmq_server import RabbitMQ
from serving.config import ApiConfig
from tests.conftest import ADMIN_TOKEN, READ_KEY, WRITE_KEY, App, deploy_test_app
from tests.e2e.test_faults import assert_nothing_lost_or_doubled, assert_other_sinks_agree

# The fault schedule runs for minutes on purpose.
pytestmark = [pytest.mark.integration, pytest.mark.rabbitmq, pytest.mark.timeout(1800)]

SPEC = StreamSpec(customers=1000, linked_before=50, linked_during=50, veterans=20)


@pytest.fixture(scope="module")
def rabbit_fault_app(
    ray_local: None,
    rabbitmq: RabbitMQ,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[App, SlowWebhook]]:
    serve.shutdown()  # type: ignore[no-untyped-call]  # an application of its own at "/"
    webhook = SlowWebhook(delay_s=0.3).start()
    smtp = RefusingSmtp().start()
    prefix = f"rfl{uuid.uuid4().hex[:6]}"
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
    app = deploy_test_app(
        prefix,
        redis_url,
        rules,
        api,
        broker="rabbitmq",
        rabbitmq=RabbitMQConfig(
            url=SecretStr(rabbitmq.url),
            events_exchange=f"{prefix}.events",
            events_dlq=f"{prefix}.events.dlq",
            events_log=f"{prefix}.events.log",
            actions_exchange=f"{prefix}.actions",
            actions_log=f"{prefix}.actions.log",
            actions_dlq=f"{prefix}.actions.dlq",
            events_queues=3,
        ),
        sinks=sinks,
    )
    try:
        yield app, webhook
    finally:
        webhook.stop()
        smtp.stop()
        # Its application holds "/": the session's other RabbitMQ tests deploy their own.
        serve.shutdown()  # type: ignore[no-untyped-call]


def test_the_fault_schedule_on_rabbitmq_loses_doubles_and_halts_nothing(
    rabbit_fault_app: tuple[App, SlowWebhook], redis_server: ServerProcess
) -> None:
    app, webhook = rabbit_fault_app
    settings = app.settings
    router = ShardRouter(settings.ray.namespace, settings.actors, settings.redis)
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
        channels=RabbitChannels(
            settings.rabbitmq, settings.redis.require_url(), settings.redis.prefix
        ),
        webhook=webhook,
        failing_sink=True,
    )
    try:
        report = run(target, SPEC)
    finally:
        router.close()
    print(json.dumps(report.to_dict()))
    assert report.faults == [
        "redis clients killed",
        "redis paused",
        "shard killed",
        "ingest killed",
        "slot move",
    ]
    assert_nothing_lost_or_doubled(report)
    assert_other_sinks_agree(report)
