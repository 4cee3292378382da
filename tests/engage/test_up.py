"""`engage up`: engage on one machine for your own events, found by commands run beside it,
and stopped by SIGTERM as cleanly as by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actors.model.events import event_to_json
from tests.support import event

pytestmark = pytest.mark.integration

ENGAGE = str(Path(sys.executable).with_name("engage"))


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (children of children included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def own_ray_environment() -> dict[str, str]:
    """This process's environment without its Ray and engage settings: a command run with
    it starts a Ray of its own, never the one this test session may run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "ENGAGE_"))}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists()}


def stop_with_sigterm(process: subprocess.Popen[bytes], directory: Path) -> None:
    """SIGTERM a local run: it exits 0, leaves none of the processes below it running and
    removes what it published for other commands."""
    started = descendants(process.pid)
    assert started, "the broker, Redis and Ray run below the local run"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0
    deadline = time.monotonic() + 30
    while alive(started) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert alive(started) == set(), "no process left behind"
    assert not (directory / ".cache" / "engage-local.json").exists()


def test_engage_up_is_found_by_a_second_command_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    env = own_ray_environment()
    log = (tmp_path / "up.log").open("w+")
    up = subprocess.Popen([ENGAGE, "up"], cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 240
        while "\nready\n" not in (tmp_path / "up.log").read_text():
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, "engage up never became ready"
            time.sleep(1)
        # A second terminal, same directory, nothing set: it finds the running stack.
        listing = subprocess.run(
            [ENGAGE, "models", "list"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert listing.returncode == 0, listing.stderr
        assert "fraud" in listing.stdout
        events = tmp_path / "events.jsonl"
        events.write_text(event_to_json(event("page_view", at=time.time())).decode() + "\n")
        sending = subprocess.run(
            [ENGAGE, "send", str(events)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (sending.returncode, sending.stderr.strip()) == (0, "sent 1 events, 0 refused")
        stop_with_sigterm(up, tmp_path)
        assert "stopped" in (tmp_path / "up.log").read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        log.close()
