"""A real RabbitMQ for the tests: Debian's rabbitmq-server (installed by .ci/system-packages),
started on free loopback ports with a data directory of its own and stopped at the end,
with the Erlang port mapper it needs (its own too, so nothing outlives the tests)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engage.stack import ServerProcess, StartupError, _start, free_port

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # runs as the caller (the sbin one su's)
EPMD = shutil.which("epmd") or "/usr/bin/epmd"


@dataclass(frozen=True)
class RabbitMQ:
    url: str
    port: int
    pid: int  # the broker's own process (SIGSTOP it to freeze the broker)


def _vm_pid(path: Path, timeout_s: float = 30.0) -> int:
    """The Erlang VM's pid, which the node writes once booted (the server script we
    start is its parent shell, not the broker)."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = path.read_text().strip() if path.exists() else ""
        if text.isdigit():
            return int(text)
        if time.monotonic() > deadline:
            raise StartupError("rabbitmq", f"no pid in {path} within {timeout_s}s")
        time.sleep(0.1)


def available() -> bool:
    return os.path.exists(SERVER)


@contextmanager
def rabbitmq(timeout_s: float = 90.0) -> Iterator[RabbitMQ]:
    if not available():
        raise StartupError("rabbitmq", f"{SERVER} is missing: .ci/system-packages installs it")
    home = Path(tempfile.mkdtemp(prefix="engage-rabbitmq-"))
    port, dist, epmd_port = free_port(), free_port(), free_port()
    (home / "enabled_plugins").write_text("[rabbitmq_consistent_hash_exchange].\n")
    (home / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"
    )
    env = {
        **os.environ,
        "HOME": str(home),
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
    servers: list[ServerProcess] = []
    try:
        # Its own port mapper in the foreground, started first: the node registers with
        # it instead of starting a daemon that would outlive the test run.
        servers.append(_start("epmd", [EPMD, "-port", str(epmd_port)], epmd_port, 10.0, env=env))
        servers.append(_start("rabbitmq", [SERVER], port, timeout_s, env=env))
        yield RabbitMQ(f"amqp://guest:guest@127.0.0.1:{port}/%2F", port, _vm_pid(home / "pid"))
    finally:
        for server in reversed(servers):
            server.stop(timeout_s=30.0)
        shutil.rmtree(home, ignore_errors=True)
