"""`engage train` and `engage models`: what a data scientist runs, against a real Redis."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis

from actors.model.feature_bins import FeatureCounter
from engage.cli import main

pytestmark = pytest.mark.integration


def test_train_evaluates_reports_and_registers(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "fraud", "--customers", "500", "--days", "45", "--reports", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "registered fraud v1" in out.out
    assert re.search(r"labels: \d+/[\d,]+ positive in training", out.out)
    assert "beats its baseline               yes" in out.out
    assert "train fraud" in out.err  # the progress bar
    report = tmp_path / "fraud-v1"
    assert {"report.html", "roc.png", "pr.png", "metrics.json"} <= {
        p.name for p in report.iterdir()
    }
    assert (report / "roc.png").read_bytes()[:4] == b"\x89PNG"
    page = (report / "report.html").read_text()
    assert "baseline_pr_auc" in page
    assert '<img src="pr.png"' in page
    assert '<img src="calibration.png"' in page
    assert "test window" in page
    assert "pending (label window still open)" in page
    assert "&quot;kind&quot;: &quot;generated&quot;" in page  # the data record, escaped


def test_models_list_show_promote_shadow_compare_and_rollback(
    env: str, tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for seed in ("1", "2"):
        args = [
            "train",
            "fraud",
            "--customers",
            "500",
            "--days",
            "45",
            "--seed",
            seed,
            "--reports",
            str(tmp_path),
        ]
        assert main(args) == 0
    assert main(["models", "promote", "fraud", "1"]) == 0
    assert main(["models", "promote", "fraud", "2"]) == 0
    assert main(["models", "shadow", "fraud", "1"]) == 0
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"fraud +v2 +\[champion\] +pr_auc=", listing)
    assert re.search(r"fraud +v1 +\[challenger\]", listing)
    assert main(["models", "show", "fraud"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == 2
    assert shown["aliases"] == {"champion": 2, "challenger": 1}
    # The scorer's shadow log, as the scorer deployment writes it.
    client = redis.Redis.from_url(redis_url)
    for mine, theirs in ((0.9, 0.8), (0.1, 0.6), (0.2, 0.1)):
        record = {
            "at": 1.0,
            "champion": "2",
            "challenger": "1",
            "champion_score": mine,
            "challenger_score": theirs,
        }
        client.lpush(f"{env}:shadow:fraud", json.dumps(record))
    client.close()
    assert main(["models", "compare", "fraud"]) == 0
    comparison = json.loads(capsys.readouterr().out)
    assert comparison["samples"] == 3
    assert comparison["agreement"] == pytest.approx(2 / 3)
    assert main(["models", "rollback", "fraud"]) == 0
    assert "champion is v1 again" in capsys.readouterr().out
    assert main(["models", "shadow", "fraud", "--off"]) == 0


def test_winback_trains_on_cdnow(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "winback", "--from", "cdnow", "--reports", str(tmp_path)]) == 0
    assert "registered winback v1" in capsys.readouterr().out


def test_a_candidate_measured_worse_on_the_recent_window_is_not_promoted_unless_forced(
    env: str, tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    from actors.model.features import FEATURE_SPEC_VERSION, PAYMENT_FEATURES
    from training.registry import ModelRegistry

    args = ["train", "fraud", "--customers", "500", "--days", "45", "--seed", "2"]
    assert main([*args, "--reports", str(tmp_path), "--promote"]) == 0
    # A model that learned noise: what a broken pipeline would register.
    rng = np.random.default_rng(0)
    noise = HistGradientBoostingClassifier(max_iter=20).fit(
        rng.normal(size=(400, len(PAYMENT_FEATURES))), rng.integers(0, 2, 400)
    )
    registry = ModelRegistry(redis_url, env)
    bad = registry.register("fraud", noise, kind="fraud", feature_spec_version=FEATURE_SPEC_VERSION)
    registry.close()
    archive = tmp_path / "recent.parquet"
    export = ["export", "--from", "generated", "--customers", "500", "--days", "45"]
    assert main([*export, "--seed", "3", "--out", str(archive)]) == 0
    capsys.readouterr()

    compare = ["models", "compare", "fraud", "--candidate", str(bad.version)]
    assert main([*compare, "--from", str(archive)]) == 0
    comparison = json.loads(capsys.readouterr().out)
    assert comparison["verdict"] == "worse"
    assert comparison["champion_version"] == 1
    low, high = comparison["metrics"]["pr_auc"]["difference_ci95"]
    assert low <= high < 0
    assert comparison["data"]["kind"] == "file"

    assert main(["models", "promote", "fraud", str(bad.version)]) == 1
    assert "worse than champion v1 on pr_auc" in capsys.readouterr().err
    assert main(["models", "promote", "fraud", str(bad.version), "--force"]) == 0
    assert f"champion v1 -> v{bad.version}" in capsys.readouterr().out


def test_a_source_without_events_is_an_error_not_generated_data(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "none.jsonl"
    empty.write_text('{"type": "page_view"}\n')
    assert main(["train", "fraud", "--from", str(empty)]) == 1
    err = capsys.readouterr().err
    assert "no events in" in err
    assert "1 records rejected" in err
    assert main(["train", "fraud", "--from", str(tmp_path / "missing.jsonl")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_models_drift_flags_the_features_that_moved_from_the_training_window(
    env: str, tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from actors.metrics import Histogram
    from actors.model.features import PAYMENT_FEATURES
    from actors.turn.scoring import SCORE_BUCKETS
    from serving.series import feature_series
    from training.dataset import fraud_rows
    from training.reference import live_scores
    from training.registry import ModelRegistry
    from training.sources import generated

    args = ["train", "fraud", "--customers", "500", "--days", "45", "--promote"]
    assert main([*args, "--reports", str(tmp_path)]) == 0
    registry = ModelRegistry(redis_url, env)
    meta, model = registry.load("fraud", 1)
    registry.close()
    reference = meta.data["reference"]
    assert reference["feature_names"] == list(PAYMENT_FEATURES)
    assert reference["rows"] == meta.data["counts"]["train_rows"]

    # Live traffic as the shards would count it: first the training window's payments
    # again, then the same payments all from new countries.
    rows = fraud_rows(generated(500, 45, 7).events)
    trained_until = meta.data["counts"]["train_until"]
    usual = [x for x, at in zip(rows.X, rows.times, strict=True) if at <= trained_until]
    moved = [list(row) for row in usual]
    for row in moved:
        row[PAYMENT_FEATURES.index("new_country")] = 1.0
    counter = FeatureCounter(PAYMENT_FEATURES)
    scores = Histogram(SCORE_BUCKETS)

    async def count(minute: int, rows: list[list[float]]) -> None:
        counter.observe(rows)
        for value in live_scores("fraud", model, rows):
            scores.observe(value)
        figures = {
            "feature_counts": {"fraud": counter.to_list()},
            "score_distributions": {"fraud": scores.to_dict()},
        }
        series = feature_series(redis_url, env, 60.0)
        try:
            assert await series.record(minute * 60.0, figures)
        finally:
            await series.close()

    asyncio.run(count(1000, []))
    asyncio.run(count(1001, usual))
    capsys.readouterr()
    assert main(["models", "drift", "fraud", "--window", "1m"]) == 0
    steady = capsys.readouterr().out
    assert "fraud v1: the last 60 s" in steady
    assert "MOVED" not in steady

    asyncio.run(count(1002, moved))
    assert main(["models", "drift", "fraud", "--window", "1m", "--json"]) == 4
    result = json.loads(capsys.readouterr().out)
    assert result["drifted_features"][0] == "new_country"
    assert result["features"]["amount_log"] < 0.01
    assert result["live_rows"] == len(moved)


def test_export_with_labels_writes_the_rows_training_joins(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.parquet as pq

    from actors.model.features import PAYMENT_FEATURES
    from training.dataset import fraud_rows
    from training.sources import from_file

    archive = tmp_path / "history.jsonl"
    history = ["--from", "generated", "--customers", "300", "--days", "30", "--seed", "4"]
    assert main(["export", *history, "--out", str(archive)]) == 0
    rows = tmp_path / "fraud.parquet"
    assert main(["export", "--from", str(archive), "--labels", "fraud", "--out", str(rows)]) == 0
    said = capsys.readouterr().out
    table = pq.read_table(rows).to_pydict()
    expected = fraud_rows(from_file(archive).events)
    assert table["payment_id"] == expected.payment_ids
    assert table["label"] == expected.y  # pending rows are there, as null
    assert [table[name][0] for name in PAYMENT_FEATURES] == expected.X[0]
    positive = sum(1 for y in expected.y if y == 1)
    assert positive > 0
    assert f"{positive:,} positive" in said
    with pytest.raises(SystemExit):  # argparse names the choices
        main(["export", *history, "--labels", "winback", "--out", str(rows)])
