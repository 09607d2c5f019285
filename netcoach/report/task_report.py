"""Report sections of the binary, multi-label and regression tasks, built from the run's
test predictions (``predictions.safetensors``) and the task's stored state (the threshold)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from netcoach.report import html as h
from netcoach.report.draw import figure, guarded
from netcoach.report.records import RunRecord, load_predictions
from netcoach.report.task_plots import plot_regression, plot_roc_pr
from netcoach.tasks.multilabel import THRESHOLD, label_names, per_label_auc

MAX_TARGETS = 3  # regression targets plotted (one figure each)


def regression_section(rec: RunRecord, out: Path, task) -> str:
    """Predicted-vs-true and residual plots of the test split, in the targets' units."""
    pred = load_predictions(rec.path, rec.notes, key="values")
    if pred is None:
        return h.absent("no test predictions recorded (predictions.safetensors absent or without values)")
    values = pred["values"].astype(np.float64).reshape(len(pred["labels"]), -1)
    labels = pred["labels"].astype(np.float64).reshape(len(values), -1)
    names = list((rec.data or {}).get("class_names") or [])
    names = names if len(names) == values.shape[1] else [f"target {i}" for i in range(values.shape[1])]
    parts = []
    for t in range(min(values.shape[1], MAX_TARGETS)):
        err = values[:, t] - labels[:, t]
        ss_tot = float(((labels[:, t] - labels[:, t].mean()) ** 2).sum())
        r2 = 1 - float((err ** 2).sum()) / ss_tot if ss_tot > 0 else math.nan
        png = guarded(rec.notes, f"regression plots of {names[t]}", plot_regression, labels[:, t],
                      values[:, t], out / f"regression_{t}.png", names[t])
        parts.append(f"<h3>{h.esc(names[t])}</h3><p>{len(err):,} test samples: RMSE "
                     f"{h.fmt(float(np.sqrt((err ** 2).mean())))}, MAE {h.fmt(float(np.abs(err).mean()))}, "
                     f"R² {h.fmt(r2)}.</p>"
                     + figure(png, f"predicted vs true {names[t]}", "regression plots could not be drawn"))
    if values.shape[1] > MAX_TARGETS:
        parts.append(h.note(f"showing {MAX_TARGETS} of {values.shape[1]} targets"))
    return "".join(parts)


def roc_pr_section(rec: RunRecord, out: Path, task) -> str:
    """ROC and precision-recall curves of the test split with the threshold chosen on the
    validation split, and the confusion counts at that threshold."""
    pred = load_predictions(rec.path, rec.notes, key="probs")
    if pred is None:
        return h.absent("no test predictions recorded (predictions.safetensors absent)")
    p, y = pred["probs"].astype(np.float64).reshape(-1), pred["labels"].astype(np.int64).reshape(-1)
    t = float(getattr(task, "threshold", 0.5))
    rule = getattr(task, "threshold_rule", "")
    if len(np.unique(y)) < 2:
        return h.absent("the test split holds one class only: no ROC or precision-recall curve")
    png = guarded(rec.notes, "ROC and precision-recall curves", plot_roc_pr, y, p, t, out / "roc_pr.png")
    names = list((rec.data or {}).get("class_names") or ["0", "1"])
    decided = p >= t
    counts = [[f"true {names[c]}", int(((~decided) & (y == c)).sum()), int((decided & (y == c)).sum())]
              for c in (0, 1)]
    table = h.table(["", f"predicted {names[0]}", f"predicted {names[1]}"], counts)
    return (f"<p>Threshold {h.esc(h.fmt(t))} ({h.esc(rule)}): a sample is predicted "
            f"<b>{h.esc(names[1])}</b> when its probability reaches it. The dot marks it on both "
            "curves.</p>" + figure(png, "ROC and precision-recall curves", "curves could not be drawn")
            + "<h3>Test counts at the threshold</h3>" + table)


def per_label_section(rec: RunRecord, out: Path, task) -> str:
    """Per label of the test split: positives, precision, recall and F1 at 1/2, ROC AUC."""
    from sklearn.metrics import precision_recall_fscore_support

    pred = load_predictions(rec.path, rec.notes, key="probs")
    if pred is None:
        return h.absent("no test predictions recorded (predictions.safetensors absent)")
    p, y = pred["probs"].astype(np.float64), pred["labels"].astype(np.int64)
    decided = (p >= THRESHOLD).astype(np.int64)
    precision, recall, f1, support = precision_recall_fscore_support(y, decided, average=None, zero_division=0)
    aucs = per_label_auc(y, p)
    names = label_names((rec.data or {}).get("class_names") or [], y.shape[1])
    rows = [[names[k], int(support[k]), float(precision[k]), float(recall[k]), float(f1[k]), None if math.isnan(aucs[k]) else aucs[k]]
            for k in range(y.shape[1])]
    return (f"<p>{len(y):,} test samples, {y.shape[1]} labels; a label is predicted present at "
            f"probability ≥ {THRESHOLD}. AUC is — for a label with one value only in the test split.</p>"
            + h.table(["label", "positives", "precision", "recall", "F1", "ROC AUC"], rows))


# report_sections name -> (section id, title, builder(rec, out, task) -> html)
SECTIONS = {
    "regression": ("regression", "Predicted vs true", regression_section),
    "roc_pr": ("roc-pr", "ROC and precision-recall curves", roc_pr_section),
    "per_label": ("per-label", "Per-label metrics", per_label_section),
}
