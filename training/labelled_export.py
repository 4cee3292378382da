"""`engage export --labels MODEL`: the rows a model trains on, for a notebook.

One row per card payment (`fraud`) or per offer shown (`recommender`), built by the same
replay training uses (`training.dataset`), so the features are the live actors' own and
the labels are joined exactly as training joins them: 1 when the outcome came within the
label window, 0 once the window closed without it, and empty (null) while the window is
still open at the end of the data. Pending rows are written too, so that nothing is
silently left out; training skips them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from actors.model import model_names
from actors.model.events import Event
from actors.model.features import PAYMENT_FEATURES
from actors.model.labels import FRAUD, OFFER
from actors.model.offer_features import RECOMMENDER_FEATURES
from training.dataset import fraud_rows, offer_training_rows

LABELLED = (model_names.FRAUD, model_names.RECOMMENDER)


@dataclass(frozen=True)
class LabelledTable:
    columns: dict[str, list[object]]

    @property
    def rows(self) -> int:
        return len(self.columns["label"])

    def count(self, label: int | None) -> int:
        return sum(1 for value in self.columns["label"] if value == label)


def labelled_table(events: Sequence[Event], model: str, window_s: float | None) -> LabelledTable:
    if model == model_names.FRAUD:
        fraud = fraud_rows(events, FRAUD.with_window(window_s))
        columns: dict[str, list[object]] = {
            "customer_id": list(fraud.customers),
            "time": list(fraud.times),
            "payment_id": list(fraud.payment_ids),
        }
        names, X, y = PAYMENT_FEATURES, fraud.X, fraud.y
    elif model == model_names.RECOMMENDER:
        offers = offer_training_rows(events, OFFER.with_window(window_s))
        columns = {
            "customer_id": list(offers.customers),
            "time": list(offers.times),
            "offer_id": list(offers.offer_ids),
        }
        names, X, y = RECOMMENDER_FEATURES, offers.X, offers.y
    else:
        raise ValueError(f"labels are joined for {', '.join(LABELLED)}, not {model!r}")
    for index, name in enumerate(names):
        columns[name] = [row[index] for row in X]
    columns["label"] = list(y)
    return LabelledTable(columns)


def write_labelled(table: LabelledTable, path: Path) -> None:
    """Parquet for a `.parquet` name, else CSV; only a complete file takes the name."""
    import pyarrow as pa

    arrow = pa.table(
        {
            **{k: v for k, v in table.columns.items() if k != "time"},
            "time": pa.array(
                [int(float(t) * 1_000_000) for t in table.columns["time"]],  # type: ignore[arg-type]
                pa.timestamp("us", tz="UTC"),
            ),
            "label": pa.array(table.columns["label"], pa.int8()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(arrow, partial, compression="zstd")
    else:
        import pyarrow.csv as pcsv

        pcsv.write_csv(arrow, partial)
    partial.replace(path)
