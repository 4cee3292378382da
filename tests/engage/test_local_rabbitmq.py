"""engage on one machine with RabbitMQ as its broker: `make demo BROKER=rabbitmq` and
`engage up` start a RabbitMQ node of their own, the demo's summary adds up, commands in a
second terminal (`engage simulate`, `engage send --to rabbitmq`) reach it, and SIGTERM
leaves no process behind (the node and its port mapper included)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from actors.model.events import event_to_json
from tests.engage.test_up import (
    ENGAGE,
    alive,
    descendants,
    own_ray_environment,
    stop_with_sigterm,
)
from tests.eventually import eventually
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.rabbitmq]


def on_rabbitmq() -> dict[str, str]:
    return {**own_ray_environment(), "ENGAGE_BROKER": "rabbitmq"}


def wait_for(path: Path, text: str, process: subprocess.Popen[bytes], timeout_s: float) -> str:
    def probe() -> str | None:
        log = path.read_text()
        if text in log:
            return log
        assert process.poll() is None, log[-3000:]
        return None

    return eventually(probe, timeout_s, f"{text!r} in {path.name}", 0.5)


def test_the_demo_on_rabbitmq_applies_every_event_it_sent(tmp_path: Path) -> None:
    output = tmp_path / "demo.log"
    with output.open("w") as log:
        demo = subprocess.Popen(
            [ENGAGE, "demo", "--duration", "12", "--rate", "100", "--customers", "40"],
            cwd=tmp_path,
            env=on_rabbitmq(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            banner = wait_for(output, "Ctrl-C stops everything", demo, 300)
            assert "RabbitMQ 127.0.0.1:" in banner  # the address, never the credentials
            started = descendants(demo.pid)
            assert demo.wait(timeout=300) == 0, output.read_text()[-3000:]
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
    summary = json.loads(output.read_text().strip().splitlines()[-1])
    assert summary["events_sent"] > 500  # about 12 s at 100 events per second
    assert summary["events_processed"] == summary["events_sent"]
    assert sum(summary["actions_by_type"].values()) > 0
    deadline = time.monotonic() + 30
    while alive(started) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert alive(started) == set(), "no process left behind"


def test_engage_up_on_rabbitmq_takes_a_second_terminals_traffic(tmp_path: Path) -> None:
    env = on_rabbitmq()
    path = tmp_path / "up.log"
    with path.open("w") as log:
        up = subprocess.Popen([ENGAGE, "up"], cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        banner = wait_for(path, "\nready\n", up, 240)
        url = re.search(r"engage is running at (\S+)", banner)
        key = re.search(r"read (rk_\S+)", banner)
        assert url
        assert key
        # A second terminal, same directory, nothing set but the environment it was given.
        simulated = subprocess.run(
            [ENGAGE, "simulate", "--rate", "100", "--customers", "30", "--duration", "3"],
            cwd=tmp_path,
            env=own_ray_environment(),  # the broker too is found from the running stack
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert simulated.returncode == 0, simulated.stderr
        sent = int(re.findall(r"sent ([\d,]+) events", simulated.stderr)[-1].replace(",", ""))
        events = tmp_path / "events.jsonl"
        events.write_text(event_to_json(event("page_view", at=time.time())).decode() + "\n")
        sending = subprocess.run(
            [ENGAGE, "send", str(events), "--to", "rabbitmq"],
            cwd=tmp_path,
            env=own_ray_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (sending.returncode, sending.stderr.strip()) == (0, "sent 1 events, 0 refused")

        def processed() -> int:
            shards = requests.get(
                f"{url[1]}/v1/shards", headers={"Authorization": f"Bearer {key[1]}"}, timeout=10
            ).json()["shards"]
            return sum(int(s.get("events", 0)) for s in shards)

        deadline = time.monotonic() + 60
        while processed() < sent + 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processed() == sent + 1
        stop_with_sigterm(up, tmp_path)  # the RabbitMQ node and its port mapper included
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
