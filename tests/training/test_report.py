"""The training report: a page, its metrics and its charts; on a lean node without
matplotlib (`engage[train]`), the same page and metrics, saying how to get the charts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from training.registry import ModelVersion
from training.report import NO_CHARTS, write_report

CURVES = [("fraud v3", [0, 1, 0, 1, 1, 0], [0.1, 0.8, 0.3, 0.7, 0.9, 0.2])]


def version() -> ModelVersion:
    return ModelVersion(
        name="fraud", version=3, kind="fraud", feature_spec_version=1, created_at=0.0,
        metrics={"roc_auc": 0.91},
    )  # fmt: skip


def test_the_report_has_its_page_metrics_and_charts(tmp_path: Path) -> None:
    page = write_report(version(), CURVES, tmp_path)
    folder = page.parent
    assert json.loads((folder / "metrics.json").read_text()) == {"roc_auc": 0.91}
    for chart in ("roc.png", "pr.png", "calibration.png"):
        assert (folder / chart).stat().st_size > 1000
        assert f'src="{chart}"' in page.read_text()


def test_without_matplotlib_the_report_says_how_to_get_its_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # an import of it now fails
    page = write_report(version(), CURVES, tmp_path)
    folder = page.parent
    assert json.loads((folder / "metrics.json").read_text()) == {"roc_auc": 0.91}
    assert not list(folder.glob("*.png"))
    assert NO_CHARTS in page.read_text()
    assert "0.9100" in page.read_text()
