"""How `engage` commands in another terminal find the stack `make demo` or `engage up` runs.

While a local run lasts it publishes where its parts listen (the event broker in use,
Redis, the HTTP port) and its generated keys as `ENGAGE_*` settings in
`.cache/engage-local.json`, under the directory it was started from, with its process id.
Any other `engage` command started from that directory takes those settings for whatever
its own environment does not set (an explicit setting always wins), so `engage train
fraud` or `engage report` work as the README writes them. The file goes when the run ends;
a file left by a run that was killed names a process that is gone and is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

from pydantic import SecretStr

from engage.settings import Settings

FILE = Path(".cache") / "engage-local.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


@contextlib.contextmanager
def published(settings: Mapping[str, str], path: Path = FILE) -> Iterator[Path]:
    """Publish `settings` for other commands while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps({"pid": os.getpid(), "settings": dict(settings)}, indent=2))
    partial.chmod(0o600)  # it holds the run's keys
    partial.replace(path)  # whole or absent, never half-written
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):  # removed already: nothing to undo
            if _owner(path) == os.getpid():
                path.unlink()


def _owner(path: Path) -> int | None:
    try:
        pid = json.loads(path.read_text()).get("pid")
    except (OSError, ValueError):
        return None
    return pid if isinstance(pid, int) else None


def discovered(path: Path = FILE) -> dict[str, str]:
    """The settings a running local stack published, or {} (none, or its run is gone)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    pid, settings = data.get("pid"), data.get("settings")
    if not isinstance(pid, int) or not isinstance(settings, dict) or not _alive(pid):
        return {}
    return {str(k): str(v) for k, v in settings.items() if str(k).startswith("ENGAGE_")}


def settings_of(settings: Settings) -> dict[str, str]:
    """What another command needs to reach this run: where its parts listen, its keys."""
    api = settings.api

    def secrets(values: tuple[SecretStr, ...]) -> str:
        return json.dumps([v.get_secret_value() for v in values])

    published = {
        "ENGAGE_BROKER": settings.broker,
        "ENGAGE_REDIS_URL": settings.redis.require_url(),
        "ENGAGE_SERVE_HOST": settings.serve.host,
        "ENGAGE_SERVE_PORT": str(settings.serve.port),
        "ENGAGE_API_WRITE_KEYS": secrets(api.write_keys),
        "ENGAGE_API_READ_KEYS": secrets(api.read_keys),
    }
    published.update(settings.event_broker().environment())
    if api.admin_token is not None:
        published["ENGAGE_API_ADMIN_TOKEN"] = api.admin_token.get_secret_value()
    return published


def adopt(environ: MutableMapping[str, str] | None = None, path: Path = FILE) -> list[str]:
    """Fill the settings the environment lacks from a running local stack; returns the
    names taken."""
    env = os.environ if environ is None else environ
    taken = []
    for name, value in discovered(path).items():
        if name not in env:
            env[name] = value
            taken.append(name)
    return taken
