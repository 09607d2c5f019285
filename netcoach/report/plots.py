"""Curve plots of a run (matplotlib, Agg canvas, PNG files).

Figures are built with ``matplotlib.figure.Figure`` and an Agg canvas rather than
``pyplot``: no global figure state, no GUI backend lookup, and nothing to close.
Every function takes plain records (as read from the run folder) and a target
path, writes the PNG atomically, and returns the path.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Iterable, Optional, Sequence

from netcoach.report.textboxes import matplotlib_boxes, with_boxes
from netcoach.utils.io import atomic_write_bytes

DPI = 100  # a 9-inch figure is 900 px: it fits the report's column at 100% zoom
LEGEND_PT = 9  # legend font (12.5 px at DPI): readable without zooming in
# Keys of a metrics line that are not learning-curve values.
NOT_CURVES = {"epoch", "lr", "epoch_time", "samples_per_s"}
# The course's rule of thumb: per-step update / weight ratio around 1e-3.
UPDATE_RATIO_TARGET = 1e-3


def new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **kwargs):
    """A figure with ``nrows`` x ``ncols`` axes (no pyplot), the axes as a flat list in
    reading order; ``kwargs`` go to ``Figure.subplots`` (e.g. ``sharex``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, [ax for row in axes for ax in row]


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
    """Render ``fig`` to ``path`` (atomic; fast zlib level since the files are embedded),
    with the box of every drawn text recorded in the PNG (``textboxes``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 3})
    atomic_write_bytes(path, with_boxes(buffer.getvalue(), matplotlib_boxes(fig)))
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
                monitor: Optional[str] = None, names: Optional[Sequence[str]] = None) -> Path:
    """Train vs validation loss and metric per epoch, the best epoch marked.

    ``names`` (the task's ``curve_metrics``) keeps the metric panel to those metrics (and
    their weight averages), so metrics of different scales (MSE and R²) do not share an axis.
    """
    loss_keys, metric_keys = curve_keys(metrics)
    if names:
        metric_keys = [k for k in metric_keys if k.split("_", 1)[1].startswith(tuple(names))]
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
        ax.set_ylabel(title)
        _epoch_ticks(ax)
        lean_y(ax)
        set_title(ax, title if keys else f"{title}: not recorded")
        ax.grid(alpha=0.3)
        if keys:
            # a fixed corner: loc="best" searches the data for free space, a costly draw step
            ax.legend(fontsize=LEGEND_PT, loc="upper right" if ax is ax_loss else "lower right")
    if loss_keys and _positive(metrics, loss_keys) and _spread(metrics, loss_keys) > 30:
        log_axis(ax_loss)  # a huge first-epoch loss would flatten the rest
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.9, wspace=0.25)
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
        ax.plot([s["step"] for s in rows], _finite(s["lr"] for s in rows), linewidth=1.2,
                label="lr of each optimizer step")
        ax.set_xlabel("optimizer step")
        set_title(ax, "learning rate per step")
    else:
        epochs, lrs = _series(metrics, "lr")
        ax.step(epochs, lrs, where="post", marker="o", markersize=3, label="lr of each epoch")
        ax.set_xlabel("epoch")
        _epoch_ticks(ax)
        set_title(ax, "learning rate per epoch (no steps.jsonl)")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    values = [v for v in (_finite(s["lr"] for s in rows) if rows else lrs) if math.isfinite(v)]
    if values and max(values) == min(values) and values[0] > 0:
        # a constant lr on an autoscaled axis reads as a curve on 0.96..1.04 x lr: show it
        # against zero and say it is constant
        ax.set_ylim(0, 2 * values[0])
        ax.text(0.5, 0.62, f"constant lr {values[0]:.3g}", transform=ax.transAxes, ha="center")
    ax.legend(fontsize=LEGEND_PT, loc="lower right")
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.17, top=0.88)
    return save_png(fig, path)


def _short(text: str, limit: int = 40) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def lr_find_view(losses: Sequence[float], smoothed: Sequence[float]) -> tuple[float, float, int]:
    """(bottom, top, end) of the LR finder's loss axis: every raw and smoothed loss of the
    sweep up to ``end`` is inside it, where ``end`` is the first point after the lowest
    smoothed loss at which the smoothed loss is back above its starting value (the run has
    diverged there; its tail of huge losses would flatten the interesting part)."""
    curve = [v for v in (smoothed or losses)]
    finite = [i for i, v in enumerate(curve) if not math.isnan(v)]
    if not finite:
        return 0.0, 1.0, 0
    low = min(finite, key=lambda i: curve[i])
    start = curve[finite[0]]
    end = next((i for i in finite if i > low and curve[i] > start), len(curve))
    shown = [v for series in (losses, smoothed) for v in series[:end] if not math.isnan(v)]
    bottom, top = min(shown), max(shown)
    pad = 0.05 * (top - bottom) + 1e-3
    return bottom - pad, top + pad, end


def plot_lr_find(record: dict, path) -> Path:
    """The LR-finder curve: loss against learning rate (log axis), with the suggestion.

    The loss axis holds every raw loss until the sweep diverges (``lr_find_view``);
    later points above it are drawn as triangles on the top edge and counted in the legend.

    Args:
        record: ``{"lrs", "losses", "smoothed", "suggestion", "rule"}`` as in ``lr_find.json``
            (``smoothed``, ``suggestion``, ``rule`` and ``warning`` may be missing or None).
        path: where to write the PNG.
    """
    lrs = _finite(record.get("lrs") or [])
    n = min(len(lrs), len(record.get("losses") or []))
    losses = _finite((record.get("losses") or [])[:n])
    smoothed = _finite((record.get("smoothed") or [])[:n])
    fig, (ax,) = new_figure(6.0, 3.4)
    bottom, top, _ = lr_find_view(losses, smoothed)
    above = [(lr, top) for lr, v in zip(lrs, losses) if not math.isnan(v) and v > top]
    ax.plot(lrs[:n], losses, color="0.6", linewidth=0.8, label="loss of each batch")
    if above:
        ax.plot(*zip(*above), "^", color="0.45", markersize=4, clip_on=False,
                label=f"{len(above)} losses above the axis (diverged)")
    if smoothed:
        ax.plot(lrs[:len(smoothed)], smoothed, color="C0", linewidth=1.8, label="smoothed loss")
    suggestion = record.get("suggestion")
    if isinstance(suggestion, (int, float)) and suggestion > 0:
        ax.axvline(suggestion, color="crimson", linestyle="--", label=f"suggested lr {suggestion:.2g}")
    ax.set_ylim(bottom, top)
    log_axis(ax, "x")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    # above the axes, where it hides no part of the curve (the report's heading names the plot)
    ax.legend(fontsize=LEGEND_PT, loc="lower left", bbox_to_anchor=(0.0, 1.02, 1.0, 0.1), mode="expand",
              ncol=2, borderaxespad=0, frameon=False)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.16, top=0.8)
    return save_png(fig, Path(path))


def plot_monitors(monitors: Sequence[dict], path: str | Path, names: Optional[dict[str, str]] = None,
                  max_layers: int = 12) -> Path:
    """Per-layer update/weight ratio and gradient norm per epoch (``monitors.jsonl``), one
    panel above the other with the layer legend beside each; ``names`` maps module paths
    to the names shown (``report.layers.display_names``)."""
    names = names or {}
    layers: list[str] = []
    for row in monitors:
        for name in (row.get("layers") or {}):
            if name not in layers:
                layers.append(name)
    fig, axes = new_figure(9.0, 6.2, nrows=2, sharex=True)
    panels = ((axes[0], "update_ratio", "update / weight ratio ‖Δw‖ / ‖w‖", "‖Δw‖ / ‖w‖"),
              (axes[1], "grad_norm", "gradient norm ‖∇w‖", "‖∇w‖"))
    shown = layers[:max_layers]
    extra = f" (first {max_layers} of {len(layers)} layers)" if len(layers) > max_layers else ""
    for ax, key, title, ylabel in panels:
        for i, name in enumerate(shown):
            pts = [(r["epoch"], r["layers"][name].get(key)) for r in monitors
                   if "epoch" in r and name in (r.get("layers") or {})]
            pts = [(e, v) for e, v in pts if isinstance(v, (int, float)) and v > 0]
            if pts:
                ax.plot(*zip(*pts), marker=MARKERS[i % len(MARKERS)], markersize=4, linewidth=1.2,
                        label=names.get(name, name), color=f"C{i % 10}")
        if key == "update_ratio":
            ax.axhline(UPDATE_RATIO_TARGET, color="0.3", linestyle=":", label="1e-3 rule of thumb")
        log_axis(ax)
        ax.set_ylabel(ylabel)
        set_title(ax, f"{title}, mean of the sampled steps, per sampled epoch{extra}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=LEGEND_PT, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axes[1].set_xlabel("epoch")
    _epoch_ticks(axes[1])
    fig.subplots_adjust(left=0.09, right=0.78, bottom=0.09, top=0.94, hspace=0.28)
    return save_png(fig, path)


# Marker shapes that tell lines apart where colours alone do not (overlaid or identical curves).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def identical_to(curves: dict[str, dict[str, tuple[list, list]]], key: str) -> dict[str, str]:
    """``{run: earlier run}`` for each run whose ``key`` curve equals an earlier run's exactly
    (same epochs and values): drawn on top of each other they would show as one line."""
    same: dict[str, str] = {}
    seen: list[tuple[str, tuple]] = []
    for name, series in curves.items():
        if key not in series or not series[key][0]:
            continue
        points = (tuple(series[key][0]), tuple(series[key][1]))
        match = next((other for other, p in seen if p == points), None)
        if match is not None:
            same[name] = same.get(match, match)
        else:
            seen.append((name, points))
    return same


OFFSET = 0.08  # epochs an identical curve is shifted by, per copy: visible, far from the next epoch


def plot_overlay(curves: dict[str, dict[str, tuple[list, list]]], keys: Sequence[str],
                 path: str | Path) -> Path:
    """Several runs' curves on shared axes, one panel per key (e.g. ``val_loss``,
    ``val_acc``); ``curves[run][key] = (epochs, values)``. Used by ``compare``.

    Each run has its own colour and marker shape; a curve identical to an earlier run's is
    shifted right by a small fraction of an epoch, and its legend entry says so."""
    fig, axes = new_figure(4.6 * max(1, len(keys)), 3.9, max(1, len(keys)))
    for ax, key in zip(axes, keys):
        same = identical_to(curves, key)
        copies: dict[str, int] = {}
        for i, (name, series) in enumerate(curves.items()):
            if key not in series:
                continue
            epochs, values = series[key]
            label = name
            if name in same:
                copies[same[name]] = copies.get(same[name], 0) + 1
                shift = OFFSET * copies[same[name]]
                epochs = [e + shift for e in epochs]
                label = f"{name} (= {same[name]}, shifted {shift:g} epoch)"
            ax.plot(epochs, values, marker=MARKERS[i % len(MARKERS)], markersize=5, linewidth=1.3,
                    label=label, color=f"C{i % 10}", markerfacecolor="none" if name in same else None)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        _epoch_ticks(ax)
        set_title(ax, key)
        ax.grid(alpha=0.3)
        if curves:
            ax.legend(fontsize=LEGEND_PT, loc="best")  # a few runs: the search for free space is cheap
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.14, top=0.9, wspace=0.28)
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
