"""The CDNOW store's purchase history (1997-98) as engage purchase events.

About 69,000 purchases by about 23,500 customers, shipped as a data file inside the
`lifetimes` wheel. Only the file is read; the package is never imported (it is installed
with `--no-deps`, see the Makefile), so its outdated dependencies never load.
Every row becomes a `Purchase` validated by the same schema as live events.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from actors.errors import EngageError
from actors.model.events import Event, Purchase

DATA_FILE = "lifetimes/datasets/CDNOW_master.txt"


class DatasetMissingError(EngageError):
    def __init__(self, dataset: str, package: str) -> None:
        self.dataset = dataset
        self.package = package


def cdnow_path() -> Path:
    try:
        distribution = importlib.metadata.distribution("lifetimes")
    except importlib.metadata.PackageNotFoundError:
        raise DatasetMissingError(
            "CDNOW", "lifetimes (pip install --no-deps lifetimes==0.11.3)"
        ) from None
    for file in distribution.files or ():
        if str(file) == DATA_FILE:
            return Path(str(distribution.locate_file(file)))
    raise DatasetMissingError("CDNOW", "lifetimes")


def read_cdnow(path: Path | None = None, limit: int | None = None) -> Iterator[Event]:
    """Purchases in file order; timestamps at noon UTC of the purchase date."""
    source = path or cdnow_path()
    with open(source) as rows:
        next(rows)  # header
        for line_number, line in enumerate(rows, start=2):
            if limit is not None and line_number - 2 >= limit:
                return
            customer, day, _cds, dollars = line.split()
            when = datetime.strptime(day, "%Y%m%d").replace(hour=12, tzinfo=UTC)
            yield Purchase(
                event_id=f"cdnow-{line_number}",
                customer_id=f"cdnow-{customer}",
                timestamp=when,
                order_id=f"cdnow-{line_number}",
                total=float(dollars),
            )
