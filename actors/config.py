"""Configuration objects the core needs, passed down from `engage.settings.Settings`.

They are plain frozen pydantic models (not settings): the entry point reads the
environment once and hands each part only the sub-object it uses.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from actors.errors import ConfigError
from actors.model.event_time import EventTimeBounds


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaConfig(_Config):
    """How every producer and consumer reaches the broker, and the topic names."""

    bootstrap: str | None = None
    events_topic: str = "engage.events"
    events_dlq_topic: str = "engage.events.dlq"
    actions_topic: str = "engage.actions"
    actions_dlq_topic: str = "engage.actions.dlq"
    # The decision log (actors.model.decision): one record per offer decision.
    decisions_topic: str = "engage.decisions"
    # The catalogue feed (actors.catalog.feed): compacted, keyed by offer id.
    catalog_topic: str = "engage.catalog"
    partitions: int = Field(default=4, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1)
    group_id: str = "engage-ingest"
    client_id: str = "engage"
    # kafka-python's default 10 s session timeout makes group joins slow (≈23 s on the
    # embedded broker); 6 s with a 1 s heartbeat joins in ≈3 s and still survives GC pauses.
    session_timeout_ms: int = Field(default=6000, ge=1000)
    heartbeat_interval_ms: int = Field(default=1000, ge=100)
    # Records per poll. A poll redelivered after a crash is recognised by each customer's
    # marks, whatever its size (actors.model.dedup).
    max_poll_records: int = Field(default=2000, ge=1, le=4096)
    # The group's rebalance timeout: how long a rebalance may wait for a member that does
    # not rejoin (kafka-python's default is 300 s). Ingest polls far more often: a poll's
    # retries end after ENGAGE_ACTORS_INGEST_RETRY_S (20 s) with a rewind, and one call to
    # the shards after 30 s (actors/hosting/router.py).
    max_poll_interval_ms: int = Field(default=60_000, ge=5_000)
    # How long ingest waits for an offset commit before it rewinds the poll (actors/ingest).
    commit_timeout_ms: int = Field(default=5000, ge=100)
    poll_timeout_ms: int = Field(default=200, ge=1)
    # How long the broker may hold a fetch when it has nothing new. Apache Kafka answers
    # as soon as a record arrives; the embedded broker holds every fetch for the whole
    # wait, so each hop costs ~130 ms p50 at 500 ms and ~7 ms at 20 ms (docs/kafka.md).
    fetch_max_wait_ms: int = Field(default=20, ge=0, le=10_000)
    # The wait while a consumer is behind by `catch_up_after_records` or more, and for bulk
    # reads (training, the sink's scan). The embedded broker fills a fetch one record batch
    # at a time until the wait runs out, and each batch costs more the more it holds: past
    # ~300,000 small batches a 20 ms fetch brings one batch, slower than traffic arrives,
    # so a consumer that fell behind never caught up. With records waiting, a longer wait
    # costs no latency on any broker: the answer carries records either way (docs/kafka.md).
    fetch_catch_up_wait_ms: int = Field(default=500, ge=0, le=10_000)
    catch_up_after_records: int = Field(default=200, ge=1)
    catch_up_hold_s: float = Field(default=10.0, ge=0)
    reconnect_backoff_max_ms: int = Field(default=2000, ge=50)
    # kafka-python's own log level (actors.logs): DEBUG logs every request and response.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaConfig:
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism is None:
                raise ConfigError("ENGAGE_KAFKA_SASL_MECHANISM", "required with SASL")
            if not self.sasl_username or self.sasl_password is None:
                raise ConfigError(
                    "ENGAGE_KAFKA_SASL_USERNAME", "username and password required with SASL"
                )
        return self

    def require_bootstrap(self) -> str:
        if not self.bootstrap:
            raise ConfigError("ENGAGE_KAFKA_BOOTSTRAP", "no broker address given")
        return self.bootstrap

    def client_options(self) -> dict[str, object]:
        """Connection and security options shared by every kafka-python client."""
        options: dict[str, object] = {
            "bootstrap_servers": self.require_bootstrap().split(","),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            # kafka-python backs off up to 30 s between reconnects by default: a broker
            # back after a restart would wait that long for engage to notice.
            "reconnect_backoff_max_ms": self.reconnect_backoff_max_ms,
        }
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            password = self.sasl_password
            options["sasl_plain_password"] = password.get_secret_value() if password else None
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_check_hostname"] = self.ssl_check_hostname
            if self.ssl_cafile:
                options["ssl_cafile"] = self.ssl_cafile
            if self.ssl_certfile:
                options["ssl_certfile"] = self.ssl_certfile
            if self.ssl_keyfile:
                options["ssl_keyfile"] = self.ssl_keyfile
        return options


class RedisConfig(_Config):
    url: str | None = None
    prefix: str = "engage"
    # Every Redis call fails after this long instead of waiting for a paused Redis
    # (actors.storage.redis_clients); callers retry with backoff.
    socket_timeout_s: float = Field(default=5.0, gt=0, le=120)

    def require_url(self) -> str:
        if not self.url:
            raise ConfigError("ENGAGE_REDIS_URL", "no Redis URL given")
        return self.url


class ActorConfig(_Config):
    """Virtual actor hosting: shards, slots, activation and passivation."""

    shards: int = Field(default=2, ge=1, le=1024)
    # Fixed forever for a deployment: keys in Redis carry the slot.
    slots: int = Field(default=1024, ge=1, le=65536)
    max_live_customers: int = Field(default=200_000, ge=1)
    # Wall-clock idle time after which a live customer is passivated (memory freed; its
    # state is already in Redis, saved before every ack).
    idle_passivation_s: float = Field(default=900.0, gt=0)
    passivation_sweep_s: float = Field(default=30.0, gt=0)
    reminder_poll_s: float = Field(default=1.0, gt=0)
    # A shard remembers when each of its slots next has a reminder due and reads only
    # those slots each poll; every `reminder_rescan_s` it reads all of them again, which
    # bounds how late a reminder written behind its back (a slot move) can fire.
    reminder_rescan_s: float = Field(default=10.0, gt=0)
    outbox_recovery_s: float = Field(default=5.0, gt=0)
    # After a slot move, how long the new owner leaves an action whose delivery began at
    # the previous owner before it asks the sink and sends it: longer than any sink's
    # own deadline (the Kafka sink waits up to 30 s), so the two never deliver at once.
    handover_grace_s: float = Field(default=35.0, ge=0)
    # Actions waiting for a sink per shard; when full the shard's ack waits (backpressure).
    sink_queue_size: int = Field(default=10_000, ge=1)
    # Actions per shard waiting for the end of quiet hours in memory; past it they wait
    # in the outbox and are offered again by outbox recovery.
    max_deferred_actions: int = Field(default=100_000, ge=1)
    # How long a shard waits for the model server's answer to one scoring call before
    # the batch fails as an outage (and is retried).
    score_timeout_s: float = Field(default=10.0, gt=0, le=300)
    rules_file: str | None = None
    rules_reload_s: float = Field(default=2.0, gt=0)
    # How often a shard or API replica asks Redis whether the offer catalogue moved.
    catalog_poll_s: float = Field(default=1.0, gt=0)
    shard_cpus: float = Field(default=0.0, ge=0)
    shard_memory_limit_mb: int | None = None
    # How long a customer's saved state lives after its last activity: anonymous visitors
    # (`anon:` ids) for `anonymous_ttl_s`, known customers for `customer_retention_s`
    # (None: for ever). Redis expires the state; a later event starts it afresh.
    anonymous_ttl_s: int = Field(default=30 * 86_400, ge=60)
    customer_retention_s: int | None = Field(default=730 * 86_400, ge=86_400)
    # Decision traces (`GET /v1/customers/{id}/timeline`, `engage explain`): the latest
    # `trace_turns` turns of each customer whose trigger has rules (0: none kept), each
    # list kept `trace_retention_s` after its last turn; forgotten with the customer.
    trace_turns: int = Field(default=50, ge=0, le=1000)
    # How long a forgotten customer's tombstone lasts (DELETE /v1/customers/{id}): while it
    # does, their events (and their visitors') are not applied, nothing of them is written
    # back, and export and training leave them out. Keep it at least as long as the event
    # broker keeps events, so no replay can bring a forgotten customer back.
    forget_tombstone_s: int = Field(default=30 * 86_400, ge=60)
    trace_retention_s: int = Field(default=7 * 86_400, ge=60)
    # Event time bounds (actors.model.event_time): beyond them an event is dead-lettered.
    event_max_ahead_s: float = Field(default=300.0, ge=0)
    event_max_age_s: float | None = Field(default=3650 * 86_400.0, gt=0)
    # How long ingest keeps re-sending a poll's batches to a shard that fails (Redis
    # paused, a shard restarting) before it rewinds to the poll's first offsets and polls
    # again; and how often a batch may fail in a way that is not an outage before its
    # events are tried one by one and the ones that still fail are dead-lettered.
    ingest_retry_s: float = Field(default=20.0, gt=0)
    ingest_poison_after: int = Field(default=3, ge=1)
    # How long an ingest replica's polls may keep failing (Redis or the shards out of
    # reach, the slot table unreadable) before its health check fails and Serve restarts
    # it. Until then the stall is reported (`stalled_s` in /v1/ingest, /metrics).
    ingest_stall_restart_s: float = Field(default=300.0, gt=0)

    def event_time_bounds(self) -> EventTimeBounds:
        return EventTimeBounds(max_ahead_s=self.event_max_ahead_s, max_age_s=self.event_max_age_s)


class RabbitMQConfig(_Config):
    """RabbitMQ as the event broker (`ENGAGE_BROKER=rabbitmq`, docs/rabbitmq.md): events
    in through a consistent-hash exchange over `events_queues` queues, invalid ones to
    `events_dlq`; actions out through the amqp sink on `actions_exchange`."""

    url: SecretStr | None = None
    events_exchange: str = "engage.events"
    events_queues: int = Field(default=4, ge=1, le=256)
    events_dlq: str = "engage.events.dlq"
    # Every event published, kept for training and export (`--from rabbitmq`).
    events_log: str = "engage.events.log"
    events_log_max_age: str = Field(default="30D", pattern=r"^\d+[YMDhms]$")
    actions_exchange: str = "engage.actions"
    # Every action published, read back before an unconfirmed one is sent again.
    actions_log: str = "engage.actions.log"
    actions_log_max_age: str = Field(default="7D", pattern=r"^\d+[YMDhms]$")
    actions_dlq: str = "engage.actions.dlq"
    # The decision log: a topic exchange (routed `decision.<rule id>`) and its stream,
    # which off-policy estimates and analysts read from any point.
    decisions_exchange: str = "engage.decisions"
    decisions_log: str = "engage.decisions.log"
    decisions_log_max_age: str = Field(default="90D", pattern=r"^\d+[YMDhms]$")
    # The catalogue feed (actors.brokers.amqp_feed): an exchange and its queue.
    catalog_feed: str = "engage.catalog"
    # Deliveries each queue's consumer holds unacked: at least one poll's worth.
    prefetch: int = Field(default=2000, ge=1, le=65_535)
    timeout_s: float = Field(default=10.0, gt=0)

    def require_url(self) -> str:
        if self.url is None:
            raise ConfigError("ENGAGE_RABBITMQ_URL", "ENGAGE_BROKER=rabbitmq needs a RabbitMQ URL")
        return self.url.get_secret_value()


class SinkConfig(_Config):
    """Where actions can go besides the `engage.actions` topic (which is always on when
    Kafka is configured) and the log. A rule names its sink; an unconfigured one sends
    the action to the dead-letter topic with that reason."""

    webhook_url: str | None = None
    # HMAC-SHA256 key: receivers verify X-Engage-Signature with it.
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "engage@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    # Marketing e-mail's one-click unsubscribe (actors.delivery.mail.unsubscribe): the
    # API's public URL of it (https://engage.example.com/v1/email/unsubscribe) and the
    # secret its links are signed with (the API verifies them with
    # ENGAGE_API_UNSUBSCRIBE_SECRETS). Unset, no marketing e-mail is sent.
    email_unsubscribe_url: str | None = None
    email_unsubscribe_secret: SecretStr | None = None
    # Rules' `sink: amqp`, to a RabbitMQ of your choice (actors.brokers.amqp_sink): actions
    # on a topic exchange, routed by `<type>.<rule id>`, and kept in a stream the sink reads
    # to never publish twice. (On RabbitMQ as the event broker, the default sink already
    # goes to the broker's own actions exchange: ENGAGE_RABBITMQ_ACTIONS_*.)
    amqp_url: SecretStr | None = None
    amqp_exchange: str = "engage.actions"
    amqp_log_stream: str = "engage.actions.log"
    amqp_log_max_age: str = Field(default="7D", pattern=r"^\d+[YMDhms]$")
    amqp_timeout_s: float = Field(default=10.0, gt=0)
    # Delivery attempts before an action is dead-lettered, and the first backoff.
    max_attempts: int = Field(default=5, ge=1, le=50)
    base_backoff_s: float = Field(default=0.5, gt=0)
