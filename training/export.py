"""`engage export`: events to a file a data scientist keeps (object storage, a laptop).

JSON lines are the events exactly as the topic carries them. Parquet keeps one row per
event with the columns a query engine filters on (`event_id`, `type`, `customer_id`,
`timestamp`) and the whole event as JSON in `payload`: one schema for every event type,
and `training.sources.from_file` validates each payload again when it trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from actors.model.events import Event, event_to_json

PARQUET_BATCH = 10_000


def write_events(events: Sequence[Event], path: Path) -> int:
    """Write `events` in event-time order; the format follows the suffix. Returns the count."""
    ordered = sorted(events, key=lambda e: (e.ts, e.event_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if path.suffix == ".parquet":
        _write_parquet(ordered, partial)
    else:
        with open(partial, "wb") as out:
            for event in ordered:
                out.write(event_to_json(event) + b"\n")
    # Only a complete file takes the name: an interrupted export never looks finished.
    partial.replace(path)
    return len(ordered)


def _write_parquet(events: Sequence[Event], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("event_id", pa.string()),
            ("type", pa.string()),
            ("customer_id", pa.string()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("payload", pa.string()),
        ]
    )
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, len(events), PARQUET_BATCH):
            chunk = events[start : start + PARQUET_BATCH]
            columns = [
                [e.event_id for e in chunk],
                [e.type for e in chunk],
                [e.actor_id for e in chunk],
                [int(e.ts * 1_000_000) for e in chunk],
                [event_to_json(e).decode() for e in chunk],
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
