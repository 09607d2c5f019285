"""Plots of the non-softmax tasks (matplotlib, Agg canvas, PNG files; the conventions of
``report.plots``): predicted against true values and residuals for regression, ROC and
precision-recall curves with the chosen threshold for binary classification."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from netcoach.report.plots import lean_y, new_figure, save_png, set_title

MAX_POINTS = 5000  # scatter points drawn (a random subset of a larger test split)


def _subset(n: int) -> np.ndarray:
    idx = np.arange(n)
    return idx if n <= MAX_POINTS else np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))


def plot_regression(y: np.ndarray, pred: np.ndarray, path: str | Path, name: str = "target") -> Path:
    """Predicted against true values (the diagonal is perfect) and residuals (predicted -
    true) against the predicted value (a trend or funnel shows what the model misses)."""
    idx = _subset(len(y))
    y, pred = y[idx], pred[idx]
    fig, (ax_fit, ax_res) = new_figure(9.0, 3.6, 2)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax_fit.scatter(y, pred, s=8, alpha=0.6, linewidths=0)
    ax_fit.plot([lo, hi], [lo, hi], color="crimson", linewidth=1, label="predicted = true")
    ax_fit.set_xlabel(f"true {name}")
    ax_fit.set_ylabel(f"predicted {name}")
    ax_fit.legend(fontsize=7, loc="upper left")
    set_title(ax_fit, "predicted vs true")
    residual = pred - y
    ax_res.scatter(pred, residual, s=8, alpha=0.6, linewidths=0)
    ax_res.axhline(0.0, color="crimson", linewidth=1)
    ax_res.set_xlabel(f"predicted {name}")
    ax_res.set_ylabel("residual (predicted - true)")
    set_title(ax_res, "residuals")
    for ax in (ax_fit, ax_res):
        lean_y(ax)
        ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.15, top=0.9, wspace=0.3)
    return save_png(fig, path)


def plot_roc_pr(y: np.ndarray, p: np.ndarray, threshold: float, path: str | Path) -> Path:
    """The ROC curve (true vs false positive rate) and the precision-recall curve of the
    positive class (scikit-learn's curves), each with the operating point of ``threshold``."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    pred = p >= threshold
    pos, neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    point_fpr, point_tpr = fp / neg, tp / pos
    point_prec = tp / max(tp + fp, 1)
    fig, (ax_roc, ax_pr) = new_figure(9.0, 3.6, 2)
    ax_roc.plot(fpr, tpr, linewidth=1.5, label="model")
    ax_roc.plot([0, 1], [0, 1], ":", color="0.5", label="chance")
    ax_roc.plot([point_fpr], [point_tpr], "o", color="crimson", label=f"threshold {threshold:.3g}")
    ax_roc.set_xlabel("false positive rate")
    ax_roc.set_ylabel("true positive rate (recall)")
    ax_roc.legend(fontsize=7, loc="lower right")
    set_title(ax_roc, "ROC curve")
    ax_pr.plot(recall, precision, linewidth=1.5, label="model")
    ax_pr.axhline(y.mean(), linestyle=":", color="0.5", label="chance (positive rate)")
    ax_pr.plot([point_tpr], [point_prec], "o", color="crimson", label=f"threshold {threshold:.3g}")
    ax_pr.set_xlabel("recall")
    ax_pr.set_ylabel("precision")
    ax_pr.legend(fontsize=7, loc="lower left")
    set_title(ax_pr, "precision-recall curve")
    for ax in (ax_roc, ax_pr):
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.15, top=0.9, wspace=0.3)
    return save_png(fig, path)
