"""Evaluation reports: a metrics table, ROC and precision-recall plots, one HTML page.

Written to `reports/<model>-v<version>/` (report.html, roc.png, pr.png, metrics.json), for
a data scientist to read before promoting a model.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI

import matplotlib.pyplot as plt
from sklearn.metrics import precision_recall_curve, roc_curve

from training.registry import ModelVersion

Curve = tuple[str, Sequence[int], Sequence[float]]


def _plot(curves: Sequence[Curve], kind: str, path: Path, title: str) -> None:
    figure, axes = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    for label, y, scores in curves:
        if kind == "roc":
            x, v, _ = roc_curve(y, scores)
            axes.plot(x, v, label=label)
        else:
            precision, recall, _ = precision_recall_curve(y, scores)
            axes.plot(recall, precision, label=label)
    if kind == "roc":
        axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
        axes.set_xlabel("false positive rate")
        axes.set_ylabel("true positive rate")
    else:
        axes.set_xlabel("recall")
        axes.set_ylabel("precision")
    axes.set_title(title)
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_report(meta: ModelVersion, curves: Sequence[Curve], root: Path) -> Path:
    """Write the report of a registered version; returns the HTML page's path."""
    folder = root / f"{meta.name}-v{meta.version}"
    folder.mkdir(parents=True, exist_ok=True)
    usable = [c for c in curves if 0 < sum(c[1]) < len(c[1])]
    if usable:
        _plot(usable, "roc", folder / "roc.png", f"{meta.name} v{meta.version}: ROC")
        _plot(usable, "pr", folder / "pr.png", f"{meta.name} v{meta.version}: precision-recall")
    (folder / "metrics.json").write_text(json.dumps(meta.metrics, indent=2, sort_keys=True))
    rows = "\n".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>"
        for k, v in sorted(meta.metrics.items())
    )
    params = html.escape(json.dumps(meta.params, indent=2, sort_keys=True))
    images = "".join(
        f'<figure><img src="{name}" alt="{name}"></figure>'
        for name in ("roc.png", "pr.png")
        if usable
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(meta.name)} v{meta.version}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}
table{{border-collapse:collapse}}td{{border:1px solid #ccc;padding:.25rem .6rem}}
figure{{display:inline-block;margin:0 1rem 1rem 0}}</style></head>
<body>
<h1>{html.escape(meta.name)} version {meta.version}</h1>
<p>{html.escape(meta.description)}</p>
<p>Feature spec v{meta.feature_spec_version} &middot; data {html.escape(meta.data_fingerprint)}
&middot; artifact sha256 {html.escape(meta.artifact_sha256[:16])}&hellip;</p>
<h2>Metrics (held-out data; <code>baseline_*</code> is what it must beat)</h2>
<table>{rows}</table>
<h2>Curves</h2>{images}
<h2>Parameters</h2><pre>{params}</pre>
</body></html>
"""
    path = folder / "report.html"
    path.write_text(page)
    return path
