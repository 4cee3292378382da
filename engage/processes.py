"""Servers engage starts as child processes (a broker, Redis, a RabbitMQ node): on a free
loopback port, with a log of their own, waited for until they listen. Each dies with its
parent, even one killed with SIGKILL (Linux `PR_SET_PDEATHSIG`), so none outlives engage
or a test run."""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from actors.errors import EngageError

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


def die_with_parent() -> None:
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


def start_process(
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
            preexec_fn=die_with_parent,
        )
    server = ServerProcess(name, port, process, log_path, workdir)
    if not _wait_for_port(port, process, timeout_s):
        tail = server.log_tail()
        server.stop()
        raise StartupError(name, f"did not listen on 127.0.0.1:{port} within {timeout_s}s", tail)
    return server
