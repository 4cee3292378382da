"""Bringing engage up and down on Ray: topics, models, shards and the Serve application."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ray
import requests
from pydantic import SecretStr
from ray import serve

from actors.catalog.catalog import DEMO_FILE
from actors.catalog.parsing import read_catalog_file
from actors.catalog.store import CatalogStore
from actors.hosting.shard import shard_name
from actors.hosting.supervisor import supervisor_name
from engage.deploy import application
from engage.local_stack import published, settings_of
from engage.processes import free_port
from engage.settings import Settings
from engage.stack import LocalStack, embedded_stack
from training.pipeline import ensure_models
from training.registry import ModelRegistry

log = logging.getLogger(__name__)


def with_endpoints(settings: Settings, stack: LocalStack) -> Settings:
    """The settings with the broker and Redis the stack resolved."""
    rabbitmq_url = SecretStr(stack.rabbitmq_url) if stack.rabbitmq_url else settings.rabbitmq.url
    return settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"bootstrap": stack.kafka_bootstrap or None}),
            "rabbitmq": settings.rabbitmq.model_copy(update={"url": rabbitmq_url}),
            "redis": settings.redis.model_copy(update={"url": stack.redis_url}),
        }
    )


def port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


# What every Ray process of a local engage inherits from the driver (a cluster sets the
# same on `ray start`, cluster.yaml). No usage reports. Serve's throughput-optimised mode:
# handle calls over gRPC, the router in the caller's event loop and replica code in the
# replica's own loop: a shard's scoring round trip at light load fell from 9.7 to 7.2 ms
# p50 (docs/benchmarks.md).
RAY_ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}


def prepare_ray_environment() -> None:
    """Set `RAY_ENVIRONMENT` where the operator has not chosen otherwise; before `ray.init`."""
    for name, value in RAY_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def start_ray(settings: Settings, quiet: bool = True) -> None:
    if ray.is_initialized():
        return
    # Workers import engage from this interpreter's environment; keep Ray from shipping the
    # working directory or installing anything at run time.
    prepare_ray_environment()
    ray.init(
        address=settings.ray.address,
        namespace=settings.ray.namespace,
        num_cpus=settings.ray.num_cpus if settings.ray.address is None else None,
        include_dashboard=False,
        log_to_driver=not quiet,
        logging_level=logging.WARNING if quiet else logging.INFO,
    )


def deploy(settings: Settings, wait_s: float = 180.0) -> str:
    """Deploy (or update) the Serve application; returns its base URL once it answers."""
    serve.start(http_options={"host": settings.serve.host, "port": settings.serve.port})
    serve.run(application(settings), name=settings.serve.app, route_prefix="/", blocking=False)
    url = f"http://{settings.serve.host}:{settings.serve.port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return url
        time.sleep(0.5)
    raise TimeoutError(f"engage did not answer on {url} within {wait_s}s")


def kill_shards(settings: Settings) -> int:
    """Shards are detached actors: they outlive Serve and must be stopped explicitly."""
    killed = 0
    with contextlib.suppress(ValueError):
        supervisor = ray.get_actor(
            supervisor_name(settings.redis.prefix), namespace=settings.ray.namespace
        )
        ray.kill(supervisor, no_restart=True)
    for index in range(1024):
        try:
            handle = ray.get_actor(
                shard_name(settings.redis.prefix, index), namespace=settings.ray.namespace
            )
        except ValueError:
            if index >= settings.actors.shards:
                break
            continue
        ray.kill(handle, no_restart=True)
        killed += 1
    return killed


def teardown_quietly() -> None:
    """Stop Serve and the local Ray, shards with it (tests, after a failure)."""
    _each_step([("stop Serve", serve.shutdown), ("stop Ray", ray.shutdown)])


def teardown(settings: Settings) -> None:
    _each_step(
        [
            ("stop Serve", serve.shutdown),
            ("stop the shards", lambda: kill_shards(settings)),
            ("stop Ray", ray.shutdown),
        ]
    )


def _each_step(steps: list[tuple[str, Callable[[], object]]]) -> None:
    """Run every step of a teardown even when one fails (a failed Serve shutdown must not
    leave Ray running), and say which failed."""
    for name, step in steps:
        try:
            step()
        except Exception as error:
            log.warning("teardown: could not %s: %s", name, error)


@dataclass
class Running:
    settings: Settings
    url: str
    stack: LocalStack

    @property
    def read_key(self) -> str | None:
        keys = self.settings.api.read_keys
        return keys[0].get_secret_value() if keys else None


def with_generated_keys(settings: Settings) -> Settings:
    """Keys for a local run when none are configured, so the demo is not an open API."""
    api = settings.api
    if api.write_keys or api.read_keys or api.admin_token:
        return settings
    generated = api.model_copy(
        update={
            "write_keys": (SecretStr("wk_" + secrets.token_urlsafe(12)),),
            "read_keys": (SecretStr("rk_" + secrets.token_urlsafe(12)),),
            "admin_token": SecretStr("adm_" + secrets.token_urlsafe(16)),
        }
    )
    return settings.model_copy(update={"api": generated})


def ensure_catalog(settings: Settings) -> None:
    """Load the demo's catalogue file when no catalogue was ever loaded, so that the
    demo's offers are a catalogue version like any shop's (docs/catalog.md)."""
    store = CatalogStore.connect(settings.redis.require_url(), settings.redis.prefix)
    if store.current_version() == 0:
        store.publish(read_catalog_file(DEMO_FILE), by="engage demo", note=str(DEMO_FILE.name))


@contextlib.contextmanager
def running_engage(
    settings: Settings, train_customers: int = 800, quiet: bool = True
) -> Iterator[Running]:
    """Everything `make demo` needs, stopped again on exit (also on Ctrl-C)."""
    rabbitmq_url = settings.rabbitmq.url.get_secret_value() if settings.rabbitmq.url else None
    with embedded_stack(
        settings.kafka.bootstrap, settings.redis.url, settings.broker, rabbitmq_url
    ) as stack:
        resolved = with_generated_keys(with_endpoints(settings, stack))
        if not port_free(resolved.serve.host, resolved.serve.port):
            port = free_port()
            log.warning("port %d is taken; serving on %d", resolved.serve.port, port)
            resolved = resolved.model_copy(
                update={"serve": resolved.serve.model_copy(update={"port": port})}
            )
        resolved.event_broker().prepare()
        registry = ModelRegistry(resolved.redis.require_url(), resolved.redis.prefix)
        try:
            ensure_models(registry, customers=train_customers)
        finally:
            registry.close()
        ensure_catalog(resolved)
        try:
            start_ray(resolved, quiet=quiet)
            url = deploy(resolved)
            # Other `engage` commands started here find this run (engage.local_stack).
            with published(settings_of(resolved)):
                yield Running(resolved, url, stack)
        finally:
            teardown(resolved)
