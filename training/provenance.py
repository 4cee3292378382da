"""The code a model was trained with: the package version and, in a checkout, the commit.

Recorded with every model version (with the data range, label counts and seed) so that a
run can be repeated. A tree with uncommitted changes is marked `+dirty`: its commit alone
does not say what ran.
"""

from __future__ import annotations

import functools
import importlib.metadata
import subprocess
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def code_version() -> str:
    try:
        version = importlib.metadata.version("engage")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    commit = _git("rev-parse", "--short=12", "HEAD")
    if commit is None:
        return version
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{version}+{commit}{'+dirty' if dirty else ''}"


def _git(*args: str) -> str | None:
    """Output of a git command in the source tree; None outside a checkout or without git."""
    if not (_ROOT / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()
