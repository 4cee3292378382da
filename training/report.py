"""Evaluation reports: what a data scientist reads before promoting a model.

One HTML page per version in `reports/<model>-v<version>/`: where the data came from and
its time ranges, the label counts, the metrics against the baseline, the comparison with
the champion on the same recent window (with bootstrap intervals), and ROC,
precision-recall and calibration plots (report.html, roc.png, pr.png, calibration.png,
metrics.json).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sklearn.metrics import precision_recall_curve, roc_curve

from training.metrics import calibration_bins
from training.registry import ModelVersion

Curve = tuple[str, Sequence[int], Sequence[float]]

# Without matplotlib (a lean node: `engage[train]` brings it) the report has no charts.
NO_CHARTS = "<p>Charts need matplotlib: <code>pip install 'engage[train]'</code>.</p>"


def _pyplot() -> Any:
    """matplotlib's pyplot drawing to files only, or None when it is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")  # files only; no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def _plot(plt: Any, curves: Sequence[Curve], kind: str, path: Path, title: str) -> None:
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


def _plot_calibration(
    plt: Any, y: Sequence[int], scores: Sequence[float], path: Path, title: str
) -> None:
    figure, axes = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    bins = calibration_bins(y, scores)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    axes.plot([b[0] for b in bins], [b[1] for b in bins], marker="o", label="observed")
    axes.set_xlabel("mean score in the decile")
    axes.set_ylabel("share of positives")
    axes.set_title(title)
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _table(rows: Sequence[tuple[str, str]]) -> str:
    return (
        "<table>"
        + "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
        + "</table>"
    )


def data_section(data: dict[str, Any]) -> str:
    """Source, time ranges and label counts, from the version's `data` record."""
    if not data:
        return "<p>No data record (registered before data records were kept).</p>"
    counts = data.get("counts", {})
    label = data.get("label", {})
    source = {
        k: v for k, v in data.items() if k not in ("counts", "label", "comparison", "reference")
    }
    rows = [
        ("source", json.dumps(source, sort_keys=True, default=str)),
        ("label", f"{label.get('outcome', '—')} within {_span(label.get('window_s', 0))}"),
        (
            "training window",
            f"{_when(counts.get('train_from'))} → {_when(counts.get('train_until'))}",
        ),
        ("test window", f"{_when(counts.get('test_from'))} → {_when(counts.get('test_until'))}"),
        ("data as of", _when(counts.get("as_of"))),
        (
            "training rows (positives)",
            f"{counts.get('train_rows', 0):,} ({counts.get('train_positives', 0):,})",
        ),
        (
            "test rows (positives)",
            f"{counts.get('test_rows', 0):,} ({counts.get('test_positives', 0):,})",
        ),
        ("pending (label window still open)", f"{counts.get('pending', 0):,}"),
        (
            "labels from client sources",
            "left out (servers' only)"
            if label.get("client_labels") is False
            else f"used; {counts.get('client_positives', 0):,} positives rest on them only",
        ),
        ("left out at the split (window crosses it)", f"{counts.get('embargoed', 0):,}"),
        ("records rejected as invalid", f"{data.get('rejected', 0):,}"),
        ("code version", str(data.get("code_version", "—"))),
    ]
    return _table(rows)


def comparison_section(comparison: dict[str, Any] | None) -> str:
    if not comparison:
        return "<p>No champion to compare with.</p>"
    if "metrics" not in comparison:
        reason = html.escape(str(comparison.get("reason")))
        return f"<p>Champion v{comparison.get('champion_version')}: {reason}</p>"

    def ci(pair: Any) -> str:
        return f"[{pair[0]:.4f}, {pair[1]:.4f}]" if pair else "—"

    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{m['candidate']:.4f} {ci(m['candidate_ci95'])}</td>"
        f"<td>{m['champion']:.4f} {ci(m['champion_ci95'])}</td>"
        f"<td>{ci(m['difference_ci95'])}</td><td>{html.escape(m['verdict'])}</td></tr>"
        for name, m in comparison["metrics"].items()
    )
    caveat = (
        "<p><strong>The champion was trained on rows inside this window</strong>: its "
        "figures here are optimistic.</p>"
        if comparison.get("champion_saw_window")
        else ""
    )
    return (
        f"<p>Against champion v{comparison['champion_version']} on the same "
        f"{comparison['rows']:,} recent rows ({comparison['positives']:,} positives), "
        f"{comparison['resamples']} paired bootstrap resamples. Verdict on "
        f"{html.escape(comparison['primary'])}: <strong>{html.escape(comparison['verdict'])}"
        f"</strong>.</p>{caveat}<table><tr><th>metric</th><th>candidate (95% CI)</th>"
        f"<th>champion (95% CI)</th><th>difference 95% CI</th><th>verdict</th></tr>{body}</table>"
    )


def write_report(meta: ModelVersion, curves: Sequence[Curve], root: Path) -> Path:
    """Write the report of a registered version; returns the HTML page's path."""
    folder = root / f"{meta.name}-v{meta.version}"
    folder.mkdir(parents=True, exist_ok=True)
    usable = [c for c in curves if 0 < sum(c[1]) < len(c[1])]
    plt = _pyplot() if usable else None
    drawn = plt is not None
    if plt is not None:
        name = f"{meta.name} v{meta.version}"
        _plot(plt, usable, "roc", folder / "roc.png", f"{name}: ROC")
        _plot(plt, usable, "pr", folder / "pr.png", f"{name}: precision-recall")
        _, y, scores = usable[0]
        _plot_calibration(plt, y, scores, folder / "calibration.png", f"{name}: calibration")
    (folder / "metrics.json").write_text(json.dumps(meta.metrics, indent=2, sort_keys=True))
    rows = "\n".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>"
        for k, v in sorted(meta.metrics.items())
    )
    params = html.escape(json.dumps(meta.params, indent=2, sort_keys=True))
    images = "".join(
        f'<figure><img src="{name}" alt="{name}"></figure>'
        for name in ("roc.png", "pr.png", "calibration.png")
        if drawn
    )
    if usable and not drawn:
        images = NO_CHARTS
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(meta.name)} v{meta.version}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.25rem .6rem}}
figure{{display:inline-block;margin:0 1rem 1rem 0}}</style></head>
<body>
<h1>{html.escape(meta.name)} version {meta.version}</h1>
<p>{html.escape(meta.description)}</p>
<p>Feature spec v{meta.feature_spec_version} &middot; data {html.escape(meta.data_fingerprint)}
&middot; artifact sha256 {html.escape(meta.artifact_sha256[:16])}&hellip;</p>
<h2>Data</h2>{data_section(meta.data)}
<h2>Metrics (the most recent window; <code>baseline_*</code> is what it must beat)</h2>
<table>{rows}</table>
<h2>Against the champion</h2>{comparison_section(meta.data.get("comparison"))}
<h2>Curves</h2>{images}
<h2>Parameters</h2><pre>{params}</pre>
</body></html>
"""
    path = folder / "report.html"
    path.write_text(page)
    return path
