"""A team's own model into the registry: a scikit-learn estimator fitted elsewhere (a
notebook, an MLflow run), with the feature view it reads.

Registering checks what would otherwise fail live, one customer turn at a time: the name
is one a rule can read and not one of engage's own; the artifact holds only trusted
types; the estimator answers `predict_proba` with two classes for a row of its view's
width; and when it was fitted on a named table, its columns are the view's, in the same
order. The version is then an ordinary registry entry of kind `own`: promoted, shadowed,
compared, rolled back and watched for drift like the built-in models.

A reference table (the rows it was fitted on, with the view's columns named) gives drift
its training window: counts per feature bin and score tenth, as training records them for
the built-in models (`training.reference`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actors.errors import ModelError
from actors.metrics import Histogram
from actors.model.feature_bins import FeatureCounter
from actors.model.feature_views import ENGINE_COLUMNS, FeatureViewError, positions, resolve
from actors.model.features import FEATURE_SPEC_VERSION
from actors.model.model_names import MODEL_NAME, RESERVED, is_own_model
from actors.turn.scoring import SCORE_BUCKETS
from training.registry import OWN, ModelRegistry, ModelVersion, load_artifact


@contextmanager
def asked_by_position() -> Iterator[None]:
    """An estimator fitted on a named table is asked with an array of the same columns in
    the same order (checked when it was registered): scikit-learn's warning that the
    array has no names says nothing here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        yield


@dataclass(frozen=True)
class OwnModel:
    """A checked estimator and the columns it reads, ready to register."""

    name: str
    estimator: Any
    columns: tuple[str, ...]
    trusted_types: tuple[str, ...] = ()


def check_name(name: str) -> None:
    if name in RESERVED:
        raise ModelError(
            name,
            f"{name!r} is engage's own (built-in models and the recommender's score "
            "fields); register yours under a name of its own",
        )
    if not is_own_model(name):
        raise ModelError(name, f"a model name matches {MODEL_NAME} (a rule reads scores.<name>)")


def checked(name: str, estimator: Any, view: str, trusted_types: Sequence[str] = ()) -> OwnModel:
    """`estimator` as a model of one's own reading `view`, or ModelError saying why not."""
    check_name(name)
    try:
        columns = resolve(view)
    except FeatureViewError as error:
        raise ModelError(name, str(error)) from None
    if not hasattr(estimator, "predict_proba"):
        raise ModelError(name, f"{type(estimator).__name__} has no predict_proba")
    width = getattr(estimator, "n_features_in_", None)
    if width is not None and int(width) != len(columns):
        raise ModelError(
            name,
            f"fitted on {int(width)} columns; the view {view!r} has {len(columns)}",
        )
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None:
        fitted = [str(c) for c in fitted_names]
        if fitted != list(columns):
            differ = next(
                (i for i, (a, b) in enumerate(zip(fitted, columns, strict=False)) if a != b),
                min(len(fitted), len(columns)),
            )
            raise ModelError(
                name,
                f"fitted on columns that are not the view's in order: column {differ} is "
                f"{_at(fitted, differ)!r} where the view has {_at(list(columns), differ)!r}",
            )
    classes = getattr(estimator, "classes_", None)
    if classes is not None and len(classes) != 2:
        raise ModelError(name, f"a classifier of {len(classes)} classes; a score needs two")
    try:
        with asked_by_position():
            probe = np.asarray(estimator.predict_proba(np.zeros((1, len(columns)))))
    except Exception as error:  # whatever the estimator raises, it cannot serve
        raise ModelError(name, f"cannot score a row of its view: {error!r}") from None
    if probe.shape != (1, 2):
        raise ModelError(name, f"predict_proba answers shape {probe.shape}, not (1, 2)")
    return OwnModel(name, estimator, columns, tuple(trusted_types))


def _at(items: list[str], i: int) -> str | None:
    return items[i] if i < len(items) else None


def read_skops(name: str, path: Path, trusted_types: Sequence[str] = ()) -> Any:
    """The estimator in a skops file, refusing types neither engage nor `trusted_types`
    trusts (ModelError names them: pass them with `--trust` after reading them)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelError(name, f"{path}: {error.strerror or error}") from None
    return load_artifact(name, data, trusted_types)


def read_reference(path: Path, columns: Sequence[str]) -> np.ndarray:
    """The reference rows of `path` (parquet or CSV, the view's columns named) as a matrix
    in the view's column order."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path) if path.suffix == ".parquet" else pcsv.read_csv(path)
    except (OSError, ValueError) as error:  # pyarrow's parse errors are ValueErrors
        raise ModelError("reference", f"{path}: {error}") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ModelError("reference", f"{path} lacks the view's columns {', '.join(missing[:5])}")
    return np.column_stack(
        [np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=float) for c in columns]
    )


def reference_of(model: OwnModel, rows: np.ndarray) -> dict[str, Any]:
    """The training window as drift reads it, in the layout of the live counts: the
    engine row, the columns outside the view not counted."""
    engine = np.full((len(rows), len(ENGINE_COLUMNS)), np.nan)
    engine[:, positions(model.columns)] = rows
    counter = FeatureCounter(ENGINE_COLUMNS)
    counter.observe(engine.tolist())
    scores = Histogram(SCORE_BUCKETS)
    with asked_by_position():
        scored = np.asarray(model.estimator.predict_proba(rows))[:, 1]
    for value in scored:
        scores.observe(float(value))
    return {
        "feature_names": list(counter.names),
        "features": counter.to_list(),
        "scores": list(scores.counts),
        "rows": counter.rows,
    }


def register_own(
    registry: ModelRegistry,
    model: OwnModel,
    *,
    reference: np.ndarray | None = None,
    source: dict[str, Any] | None = None,
    description: str = "",
) -> ModelVersion:
    """A new version of `model.name`, of kind `own`; not yet champion."""
    data: dict[str, Any] = {"source": dict(source or {})}
    if reference is not None:
        data["reference"] = reference_of(model, reference)
    return registry.register(
        model.name,
        model.estimator,
        kind=OWN,
        feature_spec_version=FEATURE_SPEC_VERSION,
        params=_params(model.estimator),
        description=description or f"{type(model.estimator).__name__} registered by a team",
        data=data,
        features=model.columns,
        trusted_types=model.trusted_types,
    )


def _params(estimator: Any) -> dict[str, Any]:
    get = getattr(estimator, "get_params", None)
    if get is None:
        return {}
    # Deep parameters of a pipeline name every step; the top level says what it is.
    params: dict[str, Any] = get(deep=False)
    return {k: v for k, v in params.items() if isinstance(v, str | int | float | bool | None)}
