"""Training data from files: JSON lines and Parquet as `engage export` writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.errors import TrainingDataError
from actors.model.events import event_to_json
from tests.support import T0, event
from training.dataset import fingerprint
from training.export import write_events
from training.sources import from_file, generated


def test_an_export_reads_back_the_same_events_in_either_format(tmp_path: Path) -> None:
    data = generated(customers=40, days=10, seed=5)
    for name in ("events.jsonl", "events.parquet"):
        path = tmp_path / name
        assert write_events(data.events, path) == len(data.events)
        back = from_file(path)
        assert fingerprint(back.events) == fingerprint(
            sorted(data.events, key=lambda e: (e.ts, e.event_id))
        )
        assert back.rejected == 0
        assert back.source["kind"] == "file"
        assert back.as_of == data.as_of
        assert not (tmp_path / f"{name}.partial").exists()


def test_invalid_lines_are_counted_with_the_first_reason_and_the_rest_is_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mixed.jsonl"
    good = [event("page_view", at=T0), event("page_view", at=T0 + 60)]
    path.write_bytes(event_to_json(good[0]) + b"\n{not json\n\n" + event_to_json(good[1]) + b"\n")
    data = from_file(path)
    assert [e.event_id for e in data.events] == [e.event_id for e in good]
    assert data.rejected == 1
    assert data.first_rejection is not None
    assert data.first_rejection.startswith(f"{path}:2")
    assert data.provenance()["rejected"] == 1


def test_an_event_time_range_keeps_what_is_inside_and_ends_the_data_at_until(
    tmp_path: Path,
) -> None:
    path = tmp_path / "range.jsonl"
    events = [event("page_view", at=T0 + i * 100) for i in range(10)]
    path.write_bytes(b"".join(event_to_json(e) + b"\n" for e in events))
    data = from_file(path, since=T0 + 200, until=T0 + 500)
    assert [e.ts for e in data.events] == [T0 + 200, T0 + 300, T0 + 400, T0 + 500]
    assert data.as_of == T0 + 500


def test_no_events_or_no_file_or_a_foreign_parquet_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="no such file"):
        from_file(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(TrainingDataError, match="no events"):
        from_file(empty)
    import pyarrow as pa
    import pyarrow.parquet as pq

    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    with pytest.raises(TrainingDataError, match="not an engage export"):
        from_file(foreign)


def test_forgotten_customers_and_their_visitors_are_left_out_and_counted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    kept = event("page_view", customer="c2", at=T0)
    gone = [
        event("page_view", customer="c1", at=T0),
        event("page_view", customer=None, anonymous_id="v9", at=T0 + 1),
        event("identify", customer="c3", anonymous_id="v9", at=T0 + 2),  # names the visitor
    ]
    path.write_bytes(b"\n".join(event_to_json(e) for e in [kept, *gone]) + b"\n")
    data = from_file(path, forgotten={"c1", "anon:v9"})
    assert [e.event_id for e in data.events] == [kept.event_id]
    assert data.forgotten == 3
    assert data.provenance()["forgotten"] == 3
