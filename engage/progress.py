"""Progress bars for the long CLI commands: tqdm's where `engage[train]` is installed
(a data scientist's machine), none on a lean node, where the commands run the same."""

from __future__ import annotations

from typing import Any


class Silent:
    """A bar that shows nothing, with the parts of tqdm's the commands use."""

    n = 0

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, n: float = 1) -> None:
        self.n += int(n)

    def set_postfix_str(self, _text: str) -> None:
        return None


def progress(**options: Any) -> Any:
    """tqdm(**options), or a `Silent` bar when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return Silent()
    return tqdm(**options)
