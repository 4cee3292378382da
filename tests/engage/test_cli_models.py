"""`engage train` and `engage models`: what a data scientist runs, against a real Redis."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis

from engage.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, redis_url: str, prefix: str) -> str:
    monkeypatch.setenv("ENGAGE_REDIS_URL", redis_url)
    monkeypatch.setenv("ENGAGE_REDIS_PREFIX", prefix)
    return prefix


def test_train_evaluates_reports_and_registers(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "fraud", "--customers", "400", "--days", "30", "--reports", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "registered fraud v1" in out.out
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


def test_models_list_show_promote_shadow_compare_and_rollback(
    env: str, tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for seed in ("1", "2"):
        args = [
            "train",
            "fraud",
            "--customers",
            "300",
            "--days",
            "20",
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
    assert main(["train", "winback", "--data", "cdnow", "--reports", str(tmp_path)]) == 0
    assert "registered winback v1" in capsys.readouterr().out
