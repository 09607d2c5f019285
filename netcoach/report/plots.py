"""Curve plots of a run (matplotlib, Agg canvas, PNG files).

Figures are built with ``matplotlib.figure.Figure`` and an Agg canvas rather than
``pyplot``: no global figure state, no GUI backend lookup, and nothing to close.
Every function takes plain records (as read from the run folder) and a target
path, writes the PNG atomically, and returns the path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Optional, Sequence

from netcoach.utils.io import atomic_path

DPI = 80
# Keys of a metrics line that are not learning-curve values.
NOT_CURVES = {"epoch", "lr", "epoch_time", "samples_per_s"}
# The course's rule of thumb: per-step update / weight ratio around 1e-3.
UPDATE_RATIO_TARGET = 1e-3


def new_figure(width: float, height: float, ncols: int = 1):
    """A figure with ``ncols`` axes side by side (no pyplot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def set_title(ax, text: str) -> None:
    """Set an axis title at a fixed height: with the default automatic placement
    matplotlib measures every tick label to avoid them, about a fifth of a plot's
    drawing time, though these plots have no tick labels on top."""
    ax.set_title(text, y=1.0, pad=5)


def lean_y(ax, bins: int = 6) -> None:
    """At most ``bins`` major ticks on a linear y axis (each tick is several objects)."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(nbins=bins))


def save_png(fig, path: str | Path) -> Path:
    """Render ``fig`` to ``path`` (atomic; fast zlib level since the files are embedded)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, pil_kwargs={"compress_level": 3})
    return path


def _finite(values: Iterable) -> list[float]:
    return [float(v) if isinstance(v, (int, float)) and math.isfinite(v) else math.nan for v in values]


def _series(metrics: Sequence[dict], key: str) -> tuple[list, list]:
    rows = [m for m in metrics if key in m and "epoch" in m]
    return [m["epoch"] for m in rows], _finite(m[key] for m in rows)


def curve_keys(metrics: Sequence[dict]) -> tuple[list[str], list[str]]:
    """Loss keys and metric keys (e.g. ``train_acc``, ``val_acc``, ``val_acc_ema``) in first-seen order."""
    seen: list[str] = []
    for row in metrics:
        for key, value in row.items():
            if key not in seen and key not in NOT_CURVES and isinstance(value, (int, float)) \
                    and key.startswith(("train_", "val_")):
                seen.append(key)
    return [k for k in seen if "loss" in k], [k for k in seen if "loss" not in k]


def plot_curves(metrics: Sequence[dict], path: str | Path, best_epoch: Optional[int] = None,
                monitor: Optional[str] = None) -> Path:
    """Train vs validation loss and metric per epoch, the best epoch marked."""
    loss_keys, metric_keys = curve_keys(metrics)
    fig, (ax_loss, ax_metric) = new_figure(9.0, 3.4, 2)
    metric_title = "accuracy" if metric_keys and all("acc" in k for k in metric_keys) else "metric"
    for ax, keys, title in ((ax_loss, loss_keys, "loss"), (ax_metric, metric_keys, metric_title)):
        for key in keys:
            epochs, values = _series(metrics, key)
            style = "--" if key.startswith("train_") else "-"
            ax.plot(epochs, values, style, marker="o", markersize=2.5, label=key)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.5", linestyle=":", linewidth=1)
            if monitor in keys:
                epochs, values = _series(metrics, monitor)
                if best_epoch in epochs:
                    ax.plot([best_epoch], [values[epochs.index(best_epoch)]], "*", color="crimson",
                            markersize=11, label=f"best ({monitor}, epoch {best_epoch})")
        ax.set_xlabel("epoch")
        _epoch_ticks(ax)
        lean_y(ax)
        set_title(ax, title if keys else f"{title}: not recorded")
        ax.grid(alpha=0.3)
        if keys:
            # a fixed corner: loc="best" searches the data for free space, a costly draw step
            ax.legend(fontsize=7, loc="upper right" if ax is ax_loss else "lower right")
    if loss_keys and _positive(metrics, loss_keys) and _spread(metrics, loss_keys) > 30:
        log_axis(ax_loss)  # a huge first-epoch loss would flatten the rest
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.22)
    return save_png(fig, path)


def _epoch_ticks(ax) -> None:
    """Whole epochs only, and few of them (tick labels dominate the drawing time)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))


def log_axis(ax, which: str = "y") -> None:
    """A log axis with plain-text labels at 1, 2, 5 x 10^k and no minor ticks.

    Matplotlib's default log labels are mathtext (``$10^{-2}$``), parsed by pyparsing
    at every draw, and its minor ticks are many objects: together they made the
    per-layer monitor plot 2-3x slower than a linear plot.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    low, high = sorted(ax.get_ylim() if which == "y" else ax.get_xlim())
    decades = math.log10(high / low) if low > 0 else float("inf")
    # With 1-2-5 subdivisions over many decades LogLocator finds no ticks at all
    # (it returns an empty list rather than thinning them): use powers of ten there.
    subs = (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=8))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def _values(metrics: Sequence[dict], keys: Sequence[str]) -> list[float]:
    return [v for k in keys for v in _series(metrics, k)[1] if not math.isnan(v)]


def _positive(metrics, keys) -> bool:
    return all(v > 0 for v in _values(metrics, keys))


def _spread(metrics, keys) -> float:
    vals = _values(metrics, keys)
    return max(vals) / min(vals) if vals and min(vals) > 0 else 1.0


def plot_lr(steps: Sequence[dict], metrics: Sequence[dict], path: str | Path) -> Path:
    """Learning rate per optimizer step (``steps.jsonl``), else per epoch (``metrics.jsonl``)."""
    fig, (ax,) = new_figure(6.0, 3.0)
    rows = [s for s in steps if "lr" in s and "step" in s]
    if rows:
        ax.plot([s["step"] for s in rows], _finite(s["lr"] for s in rows), linewidth=1.2)
        ax.set_xlabel("optimizer step")
        set_title(ax, "learning rate per step")
    else:
        epochs, lrs = _series(metrics, "lr")
        ax.step(epochs, lrs, where="post", marker="o", markersize=3)
        ax.set_xlabel("epoch")
        _epoch_ticks(ax)
        set_title(ax, "learning rate per epoch (no steps.jsonl)")
    ax.set_ylabel("lr")
    ax.grid(alpha=0.3)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    values = [v for v in (_finite(s["lr"] for s in rows) if rows else lrs) if math.isfinite(v)]
    if values and max(values) == min(values) and values[0] > 0:
        # a constant lr on an autoscaled axis reads as a curve on 0.96..1.04 x lr: show it
        # against zero and say it is constant
        ax.set_ylim(0, 2 * values[0])
        ax.text(0.5, 0.62, f"constant lr {values[0]:.3g}", transform=ax.transAxes, ha="center")
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.17, top=0.88)
    return save_png(fig, path)


def _short(text: str, limit: int = 40) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def plot_lr_find(record: dict, path) -> Path:
    """The LR-finder curve: loss against learning rate (log axis), with the suggestion.

    Args:
        record: ``{"lrs", "losses", "smoothed", "suggestion", "rule"}`` as in ``lr_find.json``
            (``smoothed``, ``suggestion`` and ``rule`` may be missing or None).
        path: where to write the PNG.
    """
    lrs = _finite(record.get("lrs") or [])
    losses = _finite(record.get("losses") or [])
    smoothed = _finite(record.get("smoothed") or [])
    fig, (ax,) = new_figure(6.0, 3.4)
    n = min(len(lrs), len(losses))
    ax.plot(lrs[:n], losses[:n], color="0.65", linewidth=0.8, label="loss")
    if smoothed:
        m = min(len(lrs), len(smoothed))
        ax.plot(lrs[:m], smoothed[:m], color="C0", linewidth=1.6, label="smoothed")
    suggestion = record.get("suggestion")
    if isinstance(suggestion, (int, float)) and suggestion > 0:
        rule = record.get("rule")
        ax.axvline(suggestion, color="crimson", linestyle="--",
                   label=f"suggested lr {suggestion:.2g}" + (f" ({_short(rule)})" if rule else ""))
    log_axis(ax, "x")
    finite = [v for v in (smoothed or losses) if not math.isnan(v)]
    if finite:  # the diverging tail would squash the interesting part of the curve
        low, start = min(finite), finite[0]
        ax.set_ylim(low - 0.1 * abs(start - low) - 1e-3, start + 0.5 * abs(start - low) + 1e-3)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    set_title(ax, "LR finder")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.15, top=0.9)
    return save_png(fig, Path(path))


def plot_monitors(monitors: Sequence[dict], path: str | Path, max_layers: int = 12) -> Path:
    """Per-layer update/weight ratio and gradient norm per epoch (``monitors.jsonl``)."""
    layers: list[str] = []
    for row in monitors:
        for name in (row.get("layers") or {}):
            if name not in layers:
                layers.append(name)
    fig, axes = new_figure(9.0, 3.6, 2)
    for ax, key, title in ((axes[0], "update_ratio", "update / weight ratio per step"),
                           (axes[1], "grad_norm", "gradient norm")):
        for name in layers[:max_layers]:
            pts = [(r["epoch"], r["layers"][name].get(key)) for r in monitors
                   if "epoch" in r and name in (r.get("layers") or {})]
            pts = [(e, v) for e, v in pts if isinstance(v, (int, float)) and v > 0]
            if pts:
                ax.plot(*zip(*pts), marker="o", markersize=2.5, linewidth=1, label=name)
        if key == "update_ratio":
            ax.axhline(UPDATE_RATIO_TARGET, color="0.4", linestyle=":", label="1e-3 rule of thumb")
        log_axis(ax)
        ax.set_xlabel("epoch")
        _epoch_ticks(ax)
        set_title(ax, title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=2, loc="upper right")
    if len(layers) > max_layers:
        set_title(axes[1], f"gradient norm (first {max_layers} of {len(layers)} layers)")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.22)
    return save_png(fig, path)


def plot_overlay(curves: dict[str, dict[str, tuple[list, list]]], keys: Sequence[str],
                 path: str | Path) -> Path:
    """Several runs' curves on shared axes, one panel per key (e.g. ``val_loss``,
    ``val_acc``); ``curves[run][key] = (epochs, values)``. Used by ``compare``."""
    fig, axes = new_figure(4.6 * max(1, len(keys)), 3.6, max(1, len(keys)))
    for ax, key in zip(axes, keys):
        for i, (name, series) in enumerate(curves.items()):
            if key in series:
                ax.plot(*series[key], marker="o", markersize=2.5, linewidth=1.2, label=name,
                        color=f"C{i % 10}")
        ax.set_xlabel("epoch")
        _epoch_ticks(ax)
        set_title(ax, key)
        ax.grid(alpha=0.3)
    if curves and keys:
        axes[-1].legend(fontsize=7, loc="best" if len(curves) > 6 else "lower right")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.22)
    return save_png(fig, path)


def plot_bars(labels: Sequence[str], values: Sequence[float], path: str | Path, title: str,
              highlight: Sequence[int] = ()) -> Path:
    """One horizontal bar per labelled value (e.g. members' and ensemble's test accuracy),
    the bars at ``highlight`` drawn in a second colour; the x axis starts near the smallest
    value so small differences stay visible."""
    fig, (ax,) = new_figure(6.0, 0.5 + 0.32 * len(values))
    colors = ["#cf6a1b" if i in set(highlight) else "#1f3a5f" for i in range(len(values))]
    ys = list(range(len(values)))[::-1]
    ax.barh(ys, values, color=colors)
    ax.set_yticks(ys)
    ax.set_yticklabels([_short(str(label), 28) for label in labels])
    finite = [v for v in _finite(values) if not math.isnan(v)]
    if finite:
        lo, hi = min(finite), max(finite)
        pad = max((hi - lo) * 0.5, abs(hi) * 1e-3, 1e-6)
        ax.set_xlim(lo - pad if lo - pad > 0 or lo < 0 else 0, hi + pad * 0.5)
    set_title(ax, title)
    fig.tight_layout()
    return save_png(fig, path)
