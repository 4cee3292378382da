"""`make test` names every missing system package at once, with the command to install it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / ".ci" / "system-packages"


def test_without_root_the_missing_packages_are_named_with_the_install_command(
    tmp_path: Path,
) -> None:
    # A PATH with a shell and a non-root `id`, and none of the tools the tests need.
    (tmp_path / "id").write_text("#!/bin/sh\necho 1000\n")
    (tmp_path / "id").chmod(0o755)
    os.symlink("/bin/bash", tmp_path / "bash")
    answer = subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert answer.returncode == 1
    lines = answer.stderr.splitlines()
    assert lines[0].startswith("make test needs system packages that are missing:")
    for package in ("chromium", "chromium-driver", "openssh-client", "rsync", "nodejs", "npm"):
        assert package in lines[0].split(":", 1)[1].split()
    assert lines[1].startswith("install them with: sudo apt-get install chromium")


@pytest.mark.integration  # needs the machine `make test` prepares
def test_with_everything_present_it_does_nothing() -> None:
    answer = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert (answer.returncode, answer.stderr) == (0, "")


def test_rabbitmq_is_asked_for_only_by_the_rabbitmq_tests(tmp_path: Path) -> None:
    (tmp_path / "id").write_text("#!/bin/sh\necho 1000\n")
    (tmp_path / "id").chmod(0o755)
    os.symlink("/bin/bash", tmp_path / "bash")

    def missing(*args: str) -> list[str]:
        answer = subprocess.run(
            ["/bin/bash", str(SCRIPT), *args],
            env={"PATH": str(tmp_path), "RABBITMQ_SERVER": str(tmp_path / "rabbitmq-server")},
            capture_output=True,
            text=True,
            timeout=30,
        )
        return answer.stderr.splitlines()[0].split(":", 1)[1].split()

    assert "rabbitmq-server" not in missing()
    assert "rabbitmq-server" in missing("--rabbitmq")
