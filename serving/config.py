"""Configuration of the Serve application and its HTTP surface."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from serving.consent_banner import DEFAULT_CATEGORIES, check_categories


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# The scorer's batching, named once: the settings' defaults, the deployment's and its
# reconfiguration's.
SCORER_MAX_BATCH = 256
# How long the scorer holds a request for others to join its batch. Shards already send
# one request per model per batch, so waiting only adds latency: 0 still batches the
# requests that queued while the previous batch was scored (docs/benchmarks.md).
SCORER_BATCH_WAIT_S = 0.0


class ServeConfig(_Part):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    app: str = "engage"
    ingest_replicas: int = Field(default=1, ge=1, le=256)
    scorer_replicas: int = Field(default=1, ge=1, le=256)
    api_replicas: int = Field(default=1, ge=1, le=256)
    scorer_max_batch: int = Field(default=SCORER_MAX_BATCH, ge=1)
    scorer_batch_wait_s: float = Field(default=SCORER_BATCH_WAIT_S, ge=0)
    # Where customer shards score. "serve": rows go to the Scorer deployment, one model
    # server for every shard. "embedded": each shard process loads the same registry
    # models and scores in place (no round trip per scored event; more memory per shard).
    # See docs/architecture.md.
    shard_scoring: Literal["serve", "embedded"] = "serve"
    log: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class ApiConfig(_Part):
    """HTTP surface security and limits. Empty key lists mean open (local development)."""

    # Follow the broker's catalogue feed (actors.catalog.feed): `engage.catalog` on
    # Kafka, the `engage.catalog` exchange and queue on RabbitMQ. One replica at a time
    # applies it; false where the catalogue comes only from files and the HTTP API.
    catalog_feed: bool = True

    # Server sources: send anything. Client sources (browsers, apps, the pixel): only what
    # a visitor does while browsing (serving.sources).
    write_keys: tuple[SecretStr, ...] = ()
    client_keys: tuple[SecretStr, ...] = ()
    read_keys: tuple[SecretStr, ...] = ()
    admin_token: SecretStr | None = None
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_event_bytes: int = Field(default=32_768, ge=256)
    max_batch_events: int = Field(default=500, ge=1)
    rate_limit_per_s: float = Field(default=200.0, gt=0)
    rate_limit_burst: int = Field(default=400, ge=1)
    # Client keys are limited per client address instead: one abuser of a key embedded in
    # a page must not get every honest visitor sending with it a 429.
    rate_limit_per_address_per_s: float = Field(default=20.0, gt=0)
    rate_limit_per_address_burst: int = Field(default=100, ge=1)
    # Behind a load balancer, the header naming the client's address, e.g. X-Forwarded-For;
    # unset, the address of the connection. The client is the right-most entry no trusted
    # proxy wrote (serving.web.client_address): the connection's peer, and the networks of
    # `trusted_proxies` (CIDRs of proxies in front of that one, e.g. a CDN's).
    client_address_header: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    # Events from crawlers and headless browsers (serving.screening) are counted and kept
    # out of the stream, so they trigger no rule, fill no holdout and teach no model;
    # true sends them on like any other.
    keep_bots: bool = False
    # Signed visitors (serving.user_signature): set, a client key acts for a customer only
    # with the JWT the site's server minted for them with one of these (HS256); unset, a
    # client key may name any customer (docs/collect.md says what that allows).
    user_signing_secrets: tuple[SecretStr, ...] = ()
    # A consent banner's categories (`context.consent.categoryPreferences`) as engage's
    # consent keys (serving.consent_banner), e.g. {"C0004": ["*.marketing"]}.
    consent_categories: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_CATEGORIES)
    )
    # What verifies marketing e-mails' one-click unsubscribe links: the secret the e-mail
    # sink signs them with (ENGAGE_SINKS_EMAIL_UNSUBSCRIBE_SECRET), and earlier ones while
    # they rotate (actors.delivery.mail.unsubscribe).
    unsubscribe_secrets: tuple[SecretStr, ...] = ()
    # IP addresses in events are cut to their network (IPv4 /24, IPv6 /48) before they
    # reach the broker; true keeps them whole (for a fraud model that needs them).
    full_ip_addresses: bool = False

    @field_validator("consent_categories")
    @classmethod
    def _consent_keys(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        check_categories(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as error:
                raise ValueError(f"{network!r} is not an address or a network: {error}") from None
        return value

    # How often the live feature counts are sampled for drift against the training window
    # (serving.series); `engage models drift` windows are multiples of it.
    feature_sample_s: float = Field(default=60.0, ge=1.0, le=3600.0)
