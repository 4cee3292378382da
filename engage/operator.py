"""Who runs a command that changes shared data (the catalogue, the rules): recorded with
the change, so that every change is attributable."""

from __future__ import annotations

import getpass
import socket


def operator(given: str | None = None) -> str:
    """`given` (a `--by` option), or user@host of this shell."""
    return given or f"{getpass.getuser()}@{socket.gethostname()}"
