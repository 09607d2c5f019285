"""The study report: ``runs/<study>/study.html``, self-contained like a run's report.html.

Built from the study's storage alone: the trials table (pruned and failed trials
marked), the best configuration with mean ± std over its seeds, the optimisation
history, the learning curves each trial reported (where the pruner cut them), the
parameter importances (Optuna's ``get_param_importances``, fANOVA) and one slice plot
per parameter. Plots are matplotlib PNGs embedded as data URIs; a section that cannot
be drawn (too few trials for importances, say) becomes a note.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from netcoach.report.stats import spread
from netcoach.experiments.spec import StudySpec
from netcoach.experiments.storage import load
from netcoach.report import html as h
from netcoach.report.plots import log_axis, new_figure, save_png, set_title
from netcoach.utils.io import atomic_write_text

STATE_COLORS = {"COMPLETE": "C0", "PRUNED": "0.6", "FAIL": "crimson", "RUNNING": "C2", "WAITING": "C4"}


def write_study_report(spec: StudySpec) -> Path:
    """Write ``study.html`` (and its PNGs under ``study_plots/``) into the study folder."""
    study = load(spec)
    out = spec.folder / "study_plots"
    out.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    sections = [("best", "Best configuration", _best(study, spec)),
                ("trials", "Trials", _trials_table(trials, spec))]
    for ident, title, draw in (("history", "Optimisation history", _plot_history),
                               ("curves", "Reported learning curves", _plot_intermediate),
                               ("importance", "Parameter importances", _plot_importance),
                               ("slices", "Slice plots", _plot_slices)):
        try:
            body = draw(study, spec, out / f"{ident}.png")
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            body = h.note(f"not drawn: {exc}")
        sections.append((ident, title, body))
    counts = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    subtitle = (f"sampler {spec.sampler}, pruner {spec.pruner}, {spec.seeds} seed(s) per trial; "
                + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    page = h.page(f"netcoach study {spec.name}", subtitle, sections,
                  f"built {time.strftime('%Y-%m-%d %H:%M:%S')} by netcoach search")
    path = spec.folder / "study.html"
    atomic_write_text(path, page)
    return path


def _complete(study):
    return [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]


def _best(study, spec: StudySpec) -> str:
    if not _complete(study):
        return h.note("no trial completed yet")
    best = study.best_trial
    values = best.user_attrs.get("values") or [best.value]
    monitor = study.user_attrs.get("fingerprint", {}).get("monitor", "value")
    rows = {f"{monitor} over {len(values)} seed(s)": spread(values).text(), "trial": best.number}
    rows.update({k: v for k, v in spec.space.decode(best.params).items()})
    rows.update({f"mean {k}": v for k, v in (best.user_attrs.get("test") or {}).items()})
    runs = ", ".join(best.user_attrs.get("runs") or [])
    return (h.cards({"best " + monitor: best.value, "trial": best.number})
            + h.kv_table(rows) + f"<p>Run folders: <code>{h.esc(runs)}</code></p>")


def _trials_table(trials, spec: StudySpec) -> str:
    keys = spec.space.keys
    headers = ["trial", "state", "value", "± std"] + keys + ["epochs", "pruned at", "note"]
    rows = []
    for t in trials:
        values = t.user_attrs.get("values") or []
        std = spread(values).std if len(values) > 1 else None
        note = t.user_attrs.get("fail_reason") or (f"retry of {t.user_attrs['retry_of']}"
                                                   if "retry_of" in t.user_attrs else "")
        cells = [h.esc(t.number), _state(t.state.name), h.esc(h.fmt(t.value)),
                 h.esc(h.fmt(std))] + [h.esc(h.fmt(t.params.get(k))) for k in keys] \
            + [h.esc(h.fmt(t.user_attrs.get("epochs"))), h.esc(h.fmt(t.user_attrs.get("pruned_at"))),
               h.esc(note)]
        rows.append(cells)
    legend = h.note("pruned: stopped early by the pruner (its value is the last one reported); "
                    "fail: the run failed or its worker died")
    return legend + h.table(headers, rows, raw=True)


def _state(state: str) -> str:
    """The state word, coloured with the report's status classes."""
    css = {"COMPLETE": "ok", "PRUNED": "skip", "FAIL": "fail"}.get(state, "warn")
    return f'<span class="status-{css}">{h.esc(state.lower())}</span>'


def _direction(study) -> str:
    return "max" if study.direction.name == "MAXIMIZE" else "min"


def _plot_history(study, spec, path: Path) -> str:
    from matplotlib.ticker import MaxNLocator

    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")]
    if not trials:
        raise ValueError("no finished trial")
    fig, (ax,) = new_figure(7.5, 3.4)
    for state, marker in (("COMPLETE", "o"), ("PRUNED", "x")):
        pts = [(t.number, _last_value(t)) for t in trials if t.state.name == state]
        if pts:
            ax.plot(*zip(*pts), marker, color=STATE_COLORS[state], label=state.lower(), linestyle="")
    best, line = None, []
    pick = max if _direction(study) == "max" else min
    for t in sorted((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.number):
        best = t.value if best is None else pick(best, t.value)
        line.append((t.number, best))
    if line:
        ax.step(*zip(*line), where="post", color="crimson", label="best so far")
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.set_ylabel("objective")
    set_title(ax, "objective per trial (pruned: last reported value)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right" if _direction(study) == "max" else "upper right")
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.9)
    return h.image(save_png(fig, path), "optimisation history")


def _last_value(trial) -> float:
    if trial.value is not None:
        return trial.value
    iv = trial.intermediate_values
    return iv[max(iv)] if iv else math.nan


def _plot_intermediate(study, spec, path: Path) -> str:
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if not trials:
        raise ValueError("no trial reported per-epoch values")
    fig, (ax,) = new_figure(7.5, 3.4)
    for t in trials:
        steps = sorted(t.intermediate_values)
        ax.plot(steps, [t.intermediate_values[s] for s in steps], linewidth=1, marker=".",
                color=STATE_COLORS.get(t.state.name, "C1"), alpha=0.8)
    ax.set_xlabel("step (seed x epochs + epoch)")
    set_title(ax, "validation metric reported each epoch (grey: pruned)")
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.9)
    return h.image(save_png(fig, path), "reported learning curves")


def _plot_importance(study, spec, path: Path) -> str:
    import optuna

    if len(_complete(study)) < 3:
        raise ValueError("parameter importances need at least 3 completed trials")
    importances = optuna.importance.get_param_importances(study)
    if not importances:
        raise ValueError("no parameter varied between the completed trials")
    names = list(importances)[::-1]
    fig, (ax,) = new_figure(7.0, 0.6 + 0.45 * len(names))
    ax.barh(names, [importances[n] for n in names], color="C0")
    ax.set_xlabel("importance (fANOVA, sums to 1)")
    ax.grid(alpha=0.3, axis="x")
    fig.subplots_adjust(left=0.3, right=0.97, bottom=0.2 if len(names) < 4 else 0.1, top=0.95)
    table = h.table(["parameter", "importance"], [[k, v] for k, v in importances.items()])
    return h.image(save_png(fig, path), "parameter importances") + table


def _plot_slices(study, spec, path: Path) -> str:
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")]
    if not trials:
        raise ValueError("no finished trial")
    dims = spec.space.dimensions
    fig, axes = new_figure(3.3 * len(dims), 3.0, len(dims))
    for ax, dim in zip(axes, dims):
        for state, marker in (("COMPLETE", "o"), ("PRUNED", "x")):
            pts = [(t.params[dim.key], _last_value(t)) for t in trials
                   if t.state.name == state and dim.key in t.params]
            if pts:
                xs, ys = zip(*pts)
                if dim.kind == "choice":
                    xs = [str(x) for x in xs]
                ax.plot(xs, ys, marker, color=STATE_COLORS[state], linestyle="", label=state.lower())
        if dim.kind == "log_uniform":
            log_axis(ax, "x")
        set_title(ax, dim.key)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("objective")
    axes[-1].legend(fontsize=7, loc="best")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.88, wspace=0.3)
    return h.image(save_png(fig, path), "slice plots")
