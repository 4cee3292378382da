"""Shared fixtures.

Unit tests (everything not marked `integration`) may not start Ray: `ray.init` raises.
Integration tests share one real broker, one Redis and one local Ray for the session,
each started on free loopback ports and stopped when the session ends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from actors.config import ActorConfig, KafkaConfig, RedisConfig, SinkConfig
from engage.processes import ServerProcess, free_port
from engage.settings import RayConfig, Settings
from engage.stack import start_broker, start_redis
from serving.config import ApiConfig, ServeConfig
from tests.mailbox import Mailbox, smtp_server


@pytest.fixture(autouse=True)
def _refuse_ray_in_unit_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("integration") is None:
        import ray

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("unit tests must not start Ray; mark the test `integration`")

        monkeypatch.setattr(ray, "init", refuse)


BROKER = os.environ.get("ENGAGE_TEST_BROKER", "embedded")
# Where the browser SDK tests serve their pages (tests/sdk_pages): an origin engage's CORS
# allows, as a site's operator would configure it.
SDK_PAGES_PORT = free_port()
SDK_PAGES_ORIGIN = f"http://127.0.0.1:{SDK_PAGES_PORT}"


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Any]:
    """The broker of the session: the embedded Tansu broker (`make test`), or a real
    Apache Kafka assembled from Maven Central (`make test-kafka` sets
    ENGAGE_TEST_BROKER=apache). The Kafka-facing tests run unchanged on both."""
    if BROKER == "apache":
        from tests import apache_kafka

        kafka = apache_kafka.start()
        yield kafka
        kafka.stop()
        return
    server = start_broker()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bootstrap(kafka_broker: Any) -> str:
    if BROKER == "apache":
        return str(kafka_broker.bootstrap)
    return f"127.0.0.1:{kafka_broker.port}"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServerProcess]:
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: ServerProcess) -> str:
    return f"redis://127.0.0.1:{redis_server.port}/0"


@pytest.fixture
def prefix() -> str:
    """A Redis key prefix of its own for one test."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_config(redis_url: str, prefix: str) -> RedisConfig:
    return RedisConfig(url=redis_url, prefix=prefix)


@pytest.fixture
def kafka_config(bootstrap: str, prefix: str) -> KafkaConfig:
    """Topics and consumer group of their own for one test."""
    return KafkaConfig(
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


@pytest.fixture
def actor_config() -> ActorConfig:
    return ActorConfig(shards=2, slots=64, reminder_poll_s=0.2, outbox_recovery_s=0.5)


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One local Ray for the whole session; Serve and shards live in it."""
    import logging

    import ray

    from engage.runtime import prepare_ray_environment

    prepare_ray_environment()  # the Ray of the tests is configured as engage's own
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        namespace="engage-tests",
    )
    yield
    from engage.runtime import teardown_quietly

    teardown_quietly()


WRITE_KEY, READ_KEY, ADMIN_TOKEN = "test-write-key", "test-read-key", "test-admin-token"
CLIENT_KEY = "test-client-key"
# Marketing e-mail's unsubscribe links (docs/email.md): signed by the e-mail sink,
# verified by the API; the address is a placeholder, a test posts its path to the app.
UNSUBSCRIBE_SECRET = "test-unsubscribe-secret-of-32-bytes!!"
UNSUBSCRIBE_URL = "https://engage.test/v1/email/unsubscribe"
# A rule that mails the customer's cart when a page says "Mail My Cart" (tests/e2e/test_email.py).
MAIL_RULE: dict[str, Any] = {
    "id": "mail_cart",
    "kind": "marketing",
    "triggers": ["custom"],
    "when": "event.name == 'Mail My Cart'",
    "priority": 30,
    "action": {
        "type": "cart_reminder",
        "channel": "email",
        "sink": "email",
        "template": "{cart.items} item(s) in your cart",
    },
}


@dataclass
class App:
    """The engage Serve application deployed once for the session's end-to-end tests."""

    settings: Settings
    url: str

    @property
    def kafka(self) -> KafkaConfig:
        return self.settings.kafka

    def request(
        self, method: str, path: str, key: str | None = READ_KEY, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=15, **kwargs)

    def get(self, path: str, key: str | None = READ_KEY, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, key, **kwargs)


@pytest.fixture(scope="session")
def fast_rules(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped rules with a 3-second cart reminder for customers named `rem-*` (so the
    reminder tests can watch it fire, while the crash test's two runs, which compare
    states, see no wall-clock-driven turns), and without guardrails that depend on the
    hour or on who is held out: end-to-end tests must give the same answer at any time of
    day and for any customer id. Guardrails have tests of their own."""
    import yaml

    from engage.chaos.rules import deterministic_rules

    rules = deterministic_rules()
    rules["rules"].append(MAIL_RULE)
    for reminder in rules["reminders"]:
        if reminder["kind"] == "cart_abandonment":
            reminder["after"] = "3s"
            reminder["when"] = "'rem-' in customer.customer_id"
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    return str(path)


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[Any]:
    """A real RabbitMQ of the session's own (engage.rabbitmq_server), for tests marked rabbitmq."""
    from engage.rabbitmq_server import rabbitmq as start

    with start() as broker:
        yield broker


def deploy_test_app(
    prefix: str, redis_url: str, fast_rules: str, api: ApiConfig, **parts: Any
) -> App:
    """engage as the end-to-end tests run it: two shards over 64 slots, the test rules,
    bootstrap champions trained as a first start does; `parts` set the event broker and
    any other part of the settings (sinks, say)."""
    from engage.runtime import deploy
    from training.pipeline import ensure_models
    from training.registry import ModelRegistry

    settings = Settings(
        **parts,
        redis=RedisConfig(url=redis_url, prefix=prefix),
        ray=RayConfig(namespace="engage-tests"),
        actors=ActorConfig(
            shards=2, slots=64, reminder_poll_s=0.2, outbox_recovery_s=0.5, rules_file=fast_rules
        ),
        serve=ServeConfig(port=free_port(), app=prefix),
        api=api,
    )
    registry = ModelRegistry(redis_url, prefix)
    ensure_models(registry, customers=500, days=45)
    registry.close()
    return App(settings, deploy(settings))


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    """The SMTP server the shared engage mails to (a real one: aiosmtpd)."""
    with smtp_server() as (box, port):
        assert box.port == port
        yield box


@pytest.fixture(scope="session")
def engage_app(
    ray_local: None, bootstrap: str, redis_url: str, fast_rules: str, mailbox: Mailbox
) -> App:
    from actors.brokers.kafka import ensure_topics

    prefix = f"app{uuid.uuid4().hex[:6]}"
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
    ensure_topics(kafka)
    api = ApiConfig(
        write_keys=(SecretStr(WRITE_KEY),),
        client_keys=(SecretStr(CLIENT_KEY),),
        rate_limit_per_address_per_s=5,
        rate_limit_per_address_burst=20,
        client_address_header="X-Forwarded-For",
        read_keys=(SecretStr(READ_KEY),),
        admin_token=SecretStr(ADMIN_TOKEN),
        rate_limit_per_s=2000,
        rate_limit_burst=4000,
        cors_origins=("https://shop.example", SDK_PAGES_ORIGIN),
        # Live feature counts every 2 s: drift is measured within a test's minutes.
        feature_sample_s=2.0,
        unsubscribe_secrets=(SecretStr(UNSUBSCRIBE_SECRET),),
    )
    sinks = SinkConfig(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_from="offers@shop.example",
        email_unsubscribe_url=UNSUBSCRIBE_URL,
        email_unsubscribe_secret=SecretStr(UNSUBSCRIBE_SECRET),
    )
    return deploy_test_app(prefix, redis_url, fast_rules, api, kafka=kafka, sinks=sinks)
