"""`make demo` (`engage demo --duration N`): simulated traffic through the whole of engage,
then a summary whose figures add up, and nothing left running."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.engage.test_up import ENGAGE, alive, descendants, own_ray_environment

pytestmark = pytest.mark.integration


def test_the_demo_summarises_a_run_in_which_every_event_sent_was_applied(
    tmp_path: Path,
) -> None:
    env = own_ray_environment()
    output = tmp_path / "demo.log"
    with output.open("w") as log:
        demo = subprocess.Popen(
            [ENGAGE, "demo", "--duration", "12", "--rate", "100", "--customers", "40"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            started: set[int] = set()
            deadline = time.monotonic() + 300
            while demo.poll() is None:
                assert time.monotonic() < deadline, output.read_text()[-3000:]
                if not started and "engage is running at" in output.read_text():
                    started = descendants(demo.pid)
                time.sleep(0.5)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
    text = output.read_text()
    assert demo.returncode == 0, text[-3000:]
    summary = json.loads(text.strip().splitlines()[-1])
    assert summary["events_sent"] > 500  # about 12 s at 100 events per second
    assert summary["events_processed"] == summary["events_sent"]
    assert sum(summary["actions_by_type"].values()) > 0
    assert summary["next_best_offer"]["offers"]
    assert f"events sent {summary['events_sent']:,}, processed" in text
    assert started, "the broker, Redis and Ray ran below the demo"
    deadline = time.monotonic() + 30
    while alive(started) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert alive(started) == set(), "no process left behind"
