"""A model a team keeps in MLflow, fetched for engage's registry (`engage models import`).

`mlflow:/NAME@ALIAS` (or `mlflow:/NAME/VERSION`; MLflow's own `models:/...` is read the
same) names a version in an MLflow model registry: by default MLflow's own embedded store,
the SQLite file `mlflow.db` in the working directory, where a notebook's MLflow also
writes when nothing else is set; `--tracking-uri` or `MLFLOW_TRACKING_URI` name another.

Only the scikit-learn flavour is served. A model logged with
`serialization_format="skops"` is read with engage's own trusted types, so importing it
runs no code from the store. A pickled one is refused unless the importer says they trust
the store (`allow_pickle`): unpickling runs whatever the file holds. Either way engage
keeps it as skops from then on. The feature view is the model's signature, when it was
logged with named inputs.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actors.errors import ModelError
from training.registry import load_artifact

URI = re.compile(r"^(?:mlflow|models):/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


@dataclass(frozen=True)
class Fetched:
    """What an MLflow model version holds, and where it came from."""

    estimator: Any
    source: dict[str, Any]
    # The input columns of its signature, in order; None without a named signature.
    columns: tuple[str, ...] | None = None
    trusted_types: tuple[str, ...] = field(default_factory=tuple)


def parse(uri: str) -> tuple[str, str | None, int | None]:
    """(model name, alias, version): exactly one of alias and version is set."""
    found = URI.match(uri)
    if found is None:
        raise ModelError(uri, "an MLflow model is named mlflow:/NAME@ALIAS or mlflow:/NAME/VERSION")
    version = found["version"]
    return found["name"], found["alias"], int(version) if version else None


def fetch(
    uri: str,
    tracking_uri: str | None = None,
    *,
    trusted_types: Sequence[str] = (),
    allow_pickle: bool = False,
) -> Fetched:
    """The scikit-learn model `uri` names, loaded (see the module's docstring)."""
    try:
        import mlflow
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
    except ImportError:
        raise ModelError(uri, "MLflow is not installed: pip install 'engage[mlflow]'") from None
    name, alias, version = parse(uri)
    store = tracking_uri or mlflow.get_tracking_uri() or DEFAULT_TRACKING_URI
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    try:
        found = (
            client.get_model_version_by_alias(name, alias)
            if alias is not None
            else client.get_model_version(name, str(version))
        )
        with tempfile.TemporaryDirectory(prefix="engage-mlflow-") as folder:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{found.version}",
                    dst_path=folder,
                    tracking_uri=store,
                    registry_uri=store,
                )
            )
            described = yaml.safe_load((local / "MLmodel").read_text())
            estimator, trusted = _load(uri, local, described, trusted_types, allow_pickle)
    except MlflowException as error:
        raise ModelError(uri, f"MLflow ({store}): {error.message}") from None
    source = {
        "kind": "mlflow",
        "uri": uri,
        "tracking_uri": store,
        "mlflow_name": name,
        "mlflow_version": int(found.version),
        "alias": alias,
        "run_id": found.run_id,
    }
    return Fetched(estimator, source, _signature_columns(described), trusted)


def _load(
    uri: str,
    local: Path,
    described: dict[str, Any],
    trusted_types: Sequence[str],
    allow_pickle: bool,
) -> tuple[Any, tuple[str, ...]]:
    flavor = (described.get("flavors") or {}).get("sklearn")
    if flavor is None:
        kinds = ", ".join(sorted(described.get("flavors") or {})) or "none"
        raise ModelError(uri, f"not a scikit-learn model (flavours: {kinds})")
    path = local / str(flavor.get("pickled_model", "model.pkl"))
    form = flavor.get("serialization_format")
    if form == "skops":
        return load_artifact(uri, path.read_bytes(), trusted_types), tuple(trusted_types)
    if not allow_pickle:
        raise ModelError(
            uri,
            f"logged as {form}: loading it runs code from the file. Log it with "
            "serialization_format='skops', or import with --allow-pickle if you trust the store",
        )
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(local)), tuple(trusted_types)


def _signature_columns(described: dict[str, Any]) -> tuple[str, ...] | None:
    inputs = (described.get("signature") or {}).get("inputs")
    if not inputs:
        return None
    specs = json.loads(inputs) if isinstance(inputs, str) else inputs
    names = [spec.get("name") for spec in specs if isinstance(spec, dict)]
    if not names or any(not n for n in names):
        return None
    return tuple(str(n) for n in names)
