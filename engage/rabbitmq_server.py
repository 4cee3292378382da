"""A RabbitMQ of engage's own on free loopback ports: `make demo BROKER=rabbitmq`,
`engage up` on RabbitMQ, and the RabbitMQ tests.

RabbitMQ is not a wheel: it is Debian's `rabbitmq-server` package (`sudo apt-get install
rabbitmq-server`), run here as the calling user with a data directory, node name and Erlang
port mapper of its own (the mapper started first, in the foreground, so the node registers
with it instead of starting an epmd daemon that would outlive engage). Like the embedded
broker and Redis, both processes die with engage (`engage.stack`), and the data directory
goes when the run ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from engage.processes import ServerProcess, StartupError, free_port, start_process

# The node itself, run as the caller (the /usr/sbin wrapper switches to the rabbitmq user).
SERVER = os.environ.get("RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server")
INSTALL = "sudo apt-get install rabbitmq-server"


@dataclass
class RabbitMQ:
    url: str
    port: int
    pid: int  # the Erlang VM's own process (SIGSTOP it to freeze the broker)
    servers: list[ServerProcess] = field(default_factory=list)
    # Devices publish events here (RabbitMQ's MQTT plugin; actors.brokers.amqp_mqtt).
    mqtt_port: int = 0


def available() -> bool:
    return os.access(SERVER, os.X_OK)


def _vm_pid(path: Path, timeout_s: float) -> int:
    """The Erlang VM's pid, which the node writes once booted (the script started is the
    VM's parent shell, not the broker)."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = path.read_text().strip() if path.exists() else ""
        if text.isdigit():
            return int(text)
        if time.monotonic() > deadline:
            raise StartupError("rabbitmq", f"no pid in {path} within {timeout_s}s")
        time.sleep(0.1)


@contextmanager
def rabbitmq(timeout_s: float = 90.0) -> Iterator[RabbitMQ]:
    """A RabbitMQ node with the consistent-hash exchange plugin engage's events need and
    the MQTT plugin devices publish through; stopped, and its data removed, on exit."""
    if not available():
        raise StartupError(
            "rabbitmq",
            f"{SERVER} is not installed: {INSTALL}, or set ENGAGE_RABBITMQ_URL to a running "
            "RabbitMQ",
        )
    epmd = shutil.which("epmd") or "/usr/bin/epmd"
    home = Path(tempfile.mkdtemp(prefix="engage-rabbitmq-"))
    port, dist, epmd_port, mqtt = free_port(), free_port(), free_port(), free_port()
    (home / "enabled_plugins").write_text("[rabbitmq_consistent_hash_exchange,rabbitmq_mqtt].\n")
    (home / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"
        f"mqtt.listeners.tcp.default = 127.0.0.1:{mqtt}\n"
    )
    env = {
        **os.environ,
        "HOME": str(home),  # the node's Erlang cookie is written here
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODENAME": f"engage-{uuid.uuid4().hex[:8]}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq"),
        "RABBITMQ_PID_FILE": str(home / "pid"),
    }
    broker = RabbitMQ(f"amqp://guest:guest@127.0.0.1:{port}/%2F", port, 0, mqtt_port=mqtt)
    try:
        broker.servers.append(
            start_process("epmd", [epmd, "-port", str(epmd_port)], epmd_port, 10.0, env=env)
        )
        broker.servers.append(start_process("rabbitmq", [SERVER], port, timeout_s, env=env))
        broker.pid = _vm_pid(home / "pid", timeout_s)
        yield broker
    finally:
        for server in reversed(broker.servers):
            server.stop(timeout_s=30.0)
        shutil.rmtree(home, ignore_errors=True)
