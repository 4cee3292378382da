"""A team's own model, the data scientist's way: rows of its view exported from the
replay, fitted in a notebook, registered (from a skops file or MLflow), read by rules.
Against a real Redis, and MLflow's own embedded store."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from actors.campaigns.rules_store import RulesStore
from actors.errors import RulesRefusedError
from actors.model.feature_views import engine_row, positions
from actors.model.features import CUSTOMER_FEATURES
from engage.cli import main
from serving.models import load_served
from training.registry import OWN, ModelRegistry

pytestmark = pytest.mark.integration

VIEW = "orders,spend_log,days_since_purchase,session_page_views,hours_since_last_event"
COLUMNS = VIEW.split(",")
GENERATED = ["--from", "generated", "--customers", "300", "--days", "40"]


def export_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "rows.parquet"
    args = ["export", *GENERATED, "--view", VIEW, "--asked-on", "login,page_view"]
    assert main([*args, "--outcome", "purchase", "--label-window", "7d", "--out", str(out)]) == 0
    assert "with purchase within the window" in capsys.readouterr().out
    return out


def notebook_fit(rows: Path) -> tuple[np.ndarray, np.ndarray]:
    """What a notebook does with the export: the labelled rows, as a matrix."""
    table = pq.read_table(rows).to_pylist()
    labelled = [r for r in table if r["label"] is not None]
    x = np.asarray([[r[c] for c in COLUMNS] for r in labelled], dtype=float)
    y = np.asarray([r["label"] for r in labelled])
    return x, y


def test_a_notebook_model_is_registered_on_its_view_and_served_from_the_engine_row(
    env: str, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = notebook_fit(export_rows(tmp_path, capsys))
    assert 0 < y.sum() < len(y)  # both outcomes: something to learn
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    file = tmp_path / "repurchase.skops"
    sio.dump(model, file)
    args = ["models", "register", "repurchase", str(file), "--features", VIEW]
    assert main([*args, "--reference", str(tmp_path / "rows.parquet"), "--promote"]) == 0
    out = capsys.readouterr().out
    assert "repurchase v1: 5 features" in out
    assert "scores.repurchase" in out
    assert "champion none -> v1" in out

    registry = ModelRegistry(redis_url, env)
    meta = registry.get("repurchase", 1)
    assert (meta.kind, meta.features) == (OWN, COLUMNS)
    assert meta.data["source"]["kind"] == "skops"
    assert meta.data["reference"]["rows"] == len(pq.read_table(tmp_path / "rows.parquet"))
    served = load_served(registry, "repurchase", 1)
    row = engine_row(np.random.default_rng(1).normal(size=len(CUSTOMER_FEATURES)).tolist(), None)
    taken = np.asarray([row])[:, positions(COLUMNS)]
    assert served.predict([row])[0][0] == pytest.approx(model.predict_proba(taken)[0, 1])

    assert main(["models", "show", "repurchase"]) == 0
    assert json.loads(capsys.readouterr().out)["features"] == COLUMNS


@pytest.mark.parametrize(
    ("name", "view", "says"),
    [
        ("fraud", VIEW, "engage's own"),
        ("Repurchase", VIEW, "a model name matches"),
        ("repurchase", "orders,spend_log", "fitted on 5 columns; the view"),
        ("repurchase", "orders,lifetime_value", "no view or feature named 'lifetime_value'"),
    ],
)
def test_a_model_that_could_not_serve_is_refused_before_anything_is_registered(
    env: str,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    view: str,
    says: str,
) -> None:
    rng = np.random.default_rng(2)
    model = LogisticRegression().fit(rng.normal(size=(40, 5)), np.arange(40) % 2)
    file = tmp_path / "m.skops"
    sio.dump(model, file)
    assert main(["models", "register", name, str(file), "--features", view]) == 1
    assert says in capsys.readouterr().err
    assert ModelRegistry(redis_url, env).names() == []


def test_columns_fitted_in_another_order_are_refused_naming_the_first_that_differs(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    model = LogisticRegression().fit(rng.normal(size=(40, 2)), np.arange(40) % 2)
    model.feature_names_in_ = np.asarray(["spend_log", "orders"], dtype=object)
    file = tmp_path / "m.skops"
    sio.dump(model, file)
    assert main(["models", "register", "ltv", str(file), "--features", "orders,spend_log"]) == 1
    assert "column 0 is 'spend_log' where the view has 'orders'" in capsys.readouterr().err


def test_an_artifact_of_types_engage_does_not_trust_needs_each_named(
    env: str, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import operator

    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(4)
    model = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression())
    model.fit(rng.normal(size=(40, 1)), np.arange(40) % 2)
    file = tmp_path / "m.skops"
    sio.dump(model, file)
    assert main(["models", "register", "ltv", str(file), "--features", "orders"]) == 1
    assert "untrusted types: ['_operator.neg']" in capsys.readouterr().err
    assert ModelRegistry(redis_url, env).names() == []
    trust = ["--trust", "_operator.neg"]
    assert main(["models", "register", "ltv", str(file), "--features", "orders", *trust]) == 0
    registry = ModelRegistry(redis_url, env)
    assert registry.get("ltv", 1).trusted_types == ["_operator.neg"]
    assert load_served(registry, "ltv", 1).predict([engine_row([1.0] * 85, None)])[0]


def test_rules_read_a_registered_model_and_a_misspelt_one_is_refused_at_push(
    env: str, redis_url: str, tmp_path: Path
) -> None:
    model = RandomForestClassifier(n_estimators=3, random_state=0)
    model.fit(np.random.default_rng(5).normal(size=(40, 1)), np.arange(40) % 2)
    file = tmp_path / "m.skops"
    sio.dump(model, file)
    assert main(["models", "register", "churn", str(file), "--features", "orders"]) == 0
    rules = """
version: 1
rules:
  - id: keep
    kind: service
    triggers: [login]
    when: scores.{name} > 0.7
    action: {{type: content_recommendation, channel: email}}
"""
    checked = tmp_path / "rules.yaml"
    checked.write_text(rules.format(name="chrun"))
    assert main(["rules", "check", str(checked)]) == 1
    checked.write_text(rules.format(name="churn"))
    assert main(["rules", "check", str(checked)]) == 0
    store = RulesStore.connect(redis_url, env)
    version, created = store.push(rules.format(name="churn"), "ds")
    assert created
    assert version.version == 1
    with pytest.raises(RulesRefusedError, match="no model named 'chrun' is registered"):
        store.push(rules.format(name="chrun"), "ds")
    assert store.current_version() == 1


def _log_to_mlflow(tmp_path: Path, serialization: str) -> None:
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    rng = np.random.default_rng(6)
    frame = pd.DataFrame(rng.normal(size=(60, 2)), columns=["orders", "spend_log"])
    model = LogisticRegression().fit(frame, (frame["orders"] > 0).astype(int))
    # The notebook's side: MLflow's own warnings about its logging are not engage's.
    with warnings.catch_warnings(), mlflow.start_run():
        warnings.simplefilter("ignore")
        mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name="churn",
            serialization_format=serialization,
            signature=infer_signature(frame, model.predict_proba(frame)[:, 1]),
        )
    mlflow.MlflowClient().set_registered_model_alias("churn", "champion", "1")


@pytest.fixture
def mlflow_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MLflow's default store for this test: ./mlflow.db, artifacts in ./mlruns."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_a_champion_kept_in_mlflows_embedded_store_is_imported_with_its_signatures_view(
    env: str, redis_url: str, mlflow_here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path = mlflow_here
    _log_to_mlflow(tmp_path, "skops")
    assert (tmp_path / "mlflow.db").exists()
    assert main(["models", "import", "mlflow:/churn@champion", "--promote"]) == 0
    assert "churn v1: 2 features (orders, spend_log)" in capsys.readouterr().out
    meta = ModelRegistry(redis_url, env).get("churn", 1)
    assert meta.features == ["orders", "spend_log"]
    assert meta.data["source"]["mlflow_version"] == 1
    assert meta.data["source"]["tracking_uri"].startswith("sqlite:")


def test_a_pickled_mlflow_model_is_refused_unless_the_store_is_trusted(
    env: str, redis_url: str, mlflow_here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _log_to_mlflow(mlflow_here, "cloudpickle")
    assert main(["models", "import", "mlflow:/churn@champion", "--name", "attrition"]) == 1
    assert "runs code from the file" in capsys.readouterr().err
    assert ModelRegistry(redis_url, env).names() == []
    args = ["models", "import", "mlflow:/churn/1", "--name", "attrition", "--allow-pickle"]
    assert main(args) == 0
    assert ModelRegistry(redis_url, env).get("attrition", 1).data["source"]["run_id"]
    assert main(["models", "import", "mlflow:/churn@nope"]) == 1
    assert "MLflow" in capsys.readouterr().err
