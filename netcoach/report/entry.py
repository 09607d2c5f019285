"""Build ``report.html`` for a run folder: the plots (PNG under ``plots/``) and one
self-contained HTML page that embeds them.

Called at the end of ``netcoach.train`` (when ``report.enabled``) and by
``netcoach report <run>``. Everything comes from the run folder, so a report can
be rebuilt at any time; missing or unreadable pieces become notes in the report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from netcoach.report import html as h
from netcoach.report import confusion, images, plots, sections, task_report
from netcoach.report.draw import figure as _figure
from netcoach.report.draw import guarded as _guard
from netcoach.augment.preview import augment_warnings
from netcoach.report.layers import display_names, labelled
from netcoach.report.records import RunRecord, first_conv_weight, load_predictions, load_run_record
from netcoach.report.scores import distill_section, snapshots_section
from netcoach.tasks import task_of_config
from netcoach.train.run import PLOTS, REPORT
from netcoach.utils.io import atomic_write_text


def _option(rec: RunRecord, key: str, default):
    value = ((rec.config or {}).get("report") or {}).get(key, default)
    return value if isinstance(value, type(default)) else default


def curves_section(rec: RunRecord, out: Path) -> str:
    if not rec.metrics:
        return h.absent("no epoch finished: metrics.jsonl is missing or empty")
    s = rec.summary or {}
    monitor = s.get("monitor") or ((rec.config or {}).get("train") or {}).get("monitor")
    task = _section(rec, "task", task_of_config, rec.config, rec.data)
    png = _guard(rec.notes, "learning curves", plots.plot_curves, rec.metrics, out / "curves.png",
                 best_epoch=s.get("best_epoch"), monitor=monitor, names=getattr(task, "curve_metrics", None))
    best = f" The star marks the best epoch ({s['best_epoch']}) by {monitor}." if s.get("best_epoch") else ""
    return (f"<p>Dashed: training split; solid: validation.{h.esc(best)}</p>"
            + _figure(png, "learning curves", "learning curves could not be drawn"))


def lr_section(rec: RunRecord, out: Path) -> str:
    if not rec.steps and not any("lr" in m for m in rec.metrics):
        return h.absent("no learning rate recorded (neither steps.jsonl nor lr in metrics.jsonl)")
    png = _guard(rec.notes, "learning-rate plot", plots.plot_lr, rec.steps, rec.metrics, out / "lr.png")
    return _figure(png, "learning rate", "learning-rate plot could not be drawn")


def lr_find_section(rec: RunRecord, out: Path) -> str:
    if not rec.lr_find:
        return h.absent("no LR finder run for this run (lr_find.json absent); "
                        f"netcoach lr-find --run {rec.path} adds it to this report")
    png = _guard(rec.notes, "LR-finder curve", plots.plot_lr_find, rec.lr_find, out / "lr_find.png")
    sugg = rec.lr_find.get("suggestion")
    text = (f"<p>Suggested learning rate: <b>{h.esc(h.fmt(sugg))}</b> "
            f"(rule: {h.esc(rec.lr_find.get('rule') or 'n/a')}).</p>") if sugg is not None else ""
    if rec.lr_find.get("warning"):
        text += h.note(f"warning: {rec.lr_find['warning']}")
    return text + _figure(png, "LR finder", "LR-finder curve could not be drawn")


def test_sections(rec: RunRecord, out: Path) -> tuple[str, str]:
    """(confusion matrix + per-class accuracy, worst mistakes) from predictions.safetensors
    (classification: the task stores class probabilities as ``probs``)."""
    pred = load_predictions(rec.path, rec.notes)
    if pred is None:
        missing = h.absent("no test predictions recorded (predictions.safetensors absent)")
        return missing, missing
    probs, labels = pred["probs"].astype(np.float32), pred["labels"].astype(np.int64)
    data = rec.data or {}
    k = int(data.get("num_classes") or probs.shape[1])
    names = list(data.get("class_names") or [str(i) for i in range(k)])
    matrix = confusion.confusion(probs, labels, k)
    overall = float(np.trace(matrix) / max(matrix.sum(), 1))
    png = _guard(rec.notes, "confusion matrix", confusion.plot_confusion, matrix, names,
                 out / "confusion.png")
    body = (f"<p>{len(labels):,} test samples, accuracy {overall:.4f}.</p>"
            + _figure(png, "confusion matrix and per-class accuracy", "confusion matrix could not be drawn"))
    return body, _mistakes(rec, pred, names, out)


def _mistakes(rec: RunRecord, pred: dict, names: list, out: Path) -> str:
    index, inputs = pred.get("worst_index"), pred.get("worst_inputs")
    if index is None or inputs is None or len(index) == 0:
        return h.absent("no misclassified test samples stored")
    if inputs.ndim != 4 or inputs.shape[1] not in (1, 3):
        return h.absent(f"the inputs are not images (shape {tuple(inputs.shape[1:])}): no image grid")
    n = max(0, min(_option(rec, "mistakes", 16), len(index)))
    if n == 0:
        return h.absent("no mistakes shown (report.mistakes = 0)")
    index = index[:n].astype(np.int64)
    probs = pred["probs"][index]
    scale = (rec.data or {}).get("scale") if inputs.dtype == np.uint8 else None
    shown = images.to_display(inputs[:n], scale)
    png = _guard(rec.notes, "worst mistakes", images.plot_mistakes, shown, pred["labels"][index].tolist(),
                 probs.argmax(1).tolist(), probs.max(1).tolist(), names, out / "mistakes.png")
    return (f"<p>The {n} test samples the model got wrong with the highest confidence "
            "(often label noise, ambiguous inputs, or a systematic confusion).</p>"
            + _figure(png, "worst mistakes", "worst-mistakes grid could not be drawn"))


def filters_section(rec: RunRecord, out: Path) -> str:
    found = first_conv_weight(rec.path, rec.notes)
    if found is None:
        return h.absent("no first-layer convolution filters (no convolution or no best checkpoint)")
    name, weight = found
    png = _guard(rec.notes, "first-layer filters", images.plot_filters, weight, out / "filters.png",
                 max_filters=max(1, _option(rec, "max_filters", 64)))
    colours = "" if weight.shape[1] == 3 else " Red: positive weights, blue: negative."
    return (f"<p>{h.esc(name)}: smooth, varied filters are a sign of healthy training; noisy ones of "
            f"too few epochs or too high a learning rate.{colours}</p>"
            + _figure(png, "first-layer filters", "filters could not be drawn"))


def monitors_section(rec: RunRecord, out: Path) -> str:
    if not rec.monitors:
        return h.absent("no per-layer monitoring recorded (monitors.jsonl absent)")
    paths = [p for m in rec.monitors for p in (m.get("layers") or {})]
    names = display_names(rec.model_summary, paths)
    png = _guard(rec.notes, "per-layer monitors", plots.plot_monitors, rec.monitors, out / "monitors.png",
                 names=names)
    warnings = [f"epoch {m.get('epoch')}: {_named(w, names)}" for m in rec.monitors
                for w in (m.get("warnings") or [])]
    listed = "".join(f"<li>{h.esc(w)}</li>" for w in warnings[:30])
    legend = ", ".join(f"{name} = {path}" for path, name in names.items() if name != path and path in paths)
    return ((f"<p>Layers: {h.esc(legend)} (module paths as in the checkpoints).</p>" if legend else "")
            + _figure(png, "per-layer monitors", "monitor plot could not be drawn")
            + (f"<h3>Warnings</h3><ul>{listed}</ul>" if listed else ""))


def _named(warning: str, names: dict[str, str]) -> str:
    """A monitor warning (``layer backbone.4: ...``) with the layer's readable name."""
    for path in names:
        if warning.startswith(f"layer {path}:"):
            return f"layer {labelled(path, names)}:" + warning[len(f"layer {path}:"):]
    return warning


def augment_section(rec: RunRecord) -> str:
    warnings = augment_warnings((rec.config or {}).get("augment") or {}, (rec.data or {}).get("input_shape"))
    listed = "".join(f"<li>{h.esc(w)}</li>" for w in warnings)
    text = f'<div class="finding"><b>Augmentation too strong for these images</b><ul>{listed}</ul></div>' \
        if listed else ""
    if rec.augment_preview is None:
        reason = "no augmentation preview (augment_preview.png absent)"
        return text + h.note(reason) if text else h.absent(reason)
    return (text + "<p>Each row: a training image (first column) and augmented draws of it, as the "
            "model sees them, each with its label.</p>" + h.image(rec.augment_preview, "augmentation preview"))


def _section(rec: RunRecord, what: str, fn: Callable, *args):
    """One section's HTML (what ``fn`` returns); a record with unexpected content becomes
    a note, not a crash (the report is written at the end of training, after all the work)."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001
        rec.notes.append(f"could not build the {what} section: {type(exc).__name__}: {exc}")
        return h.note(f"this section could not be built ({type(exc).__name__}: {exc})")


TASK_SECTIONS = {"confusion": ("test", "Confusion matrix and per-class accuracy"),
                 "mistakes": ("mistakes", "Worst mistakes")}


def task_sections(rec: RunRecord, out: Path) -> list[tuple[str, str, str]]:
    """The sections the run's task says apply (``task.report_sections``), in its order:
    the softmax ones here, the other tasks' from ``task_report``."""
    task = _section(rec, "task", task_of_config, rec.config, rec.data)
    names = list(getattr(task, "report_sections", ()))
    found = [(ident, title, _section(rec, title, fn, rec, out, task))
             for ident, title, fn in (task_report.SECTIONS[n] for n in names if n in task_report.SECTIONS)]
    wanted = [name for name in names if name in TASK_SECTIONS]
    if not {"confusion", "mistakes"} & set(wanted):
        return found
    both = _section(rec, "test results", test_sections, rec, out)  # two sections, or one note
    test, mistakes = (both, both) if isinstance(both, str) else both
    html = {"confusion": test, "mistakes": mistakes}
    return [(*TASK_SECTIONS[name], html[name]) for name in wanted] + found


# Sections shown when summary.json holds their key: (key, id, title, builder(summary, out)).
SUMMARY_SECTIONS = [("snapshots", "snapshots", "Snapshot ensemble", snapshots_section),
                    ("distill", "distillation", "Distillation", distill_section)]


def summary_sections(rec: RunRecord, out: Path) -> list[tuple[str, str, str]]:
    """The sections of optional results the run's summary holds (snapshot ensemble, ...)."""
    summary = rec.summary or {}
    return [(i, t, _section(rec, t, fn, summary, out)) for key, i, t, fn in SUMMARY_SECTIONS if summary.get(key)]


def build_sections(rec: RunRecord, out: Path) -> list[tuple[str, str, str]]:
    """Every section as ``(id, title, html)``; the notes section comes last so it
    collects what the others could not show."""
    specs = [
        ("summary", "Summary", sections.summary_section, (rec,)),
        ("doctor", "Doctor's findings", sections.diagnosis_section, (rec,)),
        ("preflight", "Preflight checks", sections.preflight_section, (rec,)),
        ("curves", "Learning curves", curves_section, (rec, out)),
        ("lr", "Learning rate", lr_section, (rec, out)),
        ("lr-finder", "LR finder", lr_find_section, (rec, out)),
    ]
    parts = [(i, t, _section(rec, t, fn, *args)) for i, t, fn, args in specs]
    parts += task_sections(rec, out)
    parts += summary_sections(rec, out)
    specs = [
        ("filters", "First-layer filters", filters_section, (rec, out)),
        ("monitors", "Per-layer monitors", monitors_section, (rec, out)),
        ("augment", "Augmentation preview", augment_section, (rec,)),
        ("model", "Model", sections.model_section, (rec,)),
        ("config", "Config", sections.config_section, (rec,)),
        ("environment", "Environment", sections.environment_section, (rec,)),
    ]
    parts += [(i, t, _section(rec, t, fn, *args)) for i, t, fn, args in specs]
    parts.append(("notes", "Missing pieces", sections.notes_section(rec.notes, parts)))
    return parts


def write_report(run_dir: str | Path) -> Optional[Path]:
    """Build ``report.html`` (and the PNGs in ``plots/``) from the run folder.

    Args:
        run_dir: a run folder written by ``netcoach train`` (complete or not).

    Returns:
        The path of ``report.html``.

    Raises:
        FileNotFoundError: ``run_dir`` is not a run folder.
    """
    started = time.perf_counter()
    rec = load_run_record(run_dir)
    out = rec.path / PLOTS
    out.mkdir(exist_ok=True)
    # temp files of a report killed mid-write; the caller holds the run folder's lock, so
    # no other writer owns them
    for torn in [*out.glob(".*.tmp"), *rec.path.glob(f".{REPORT}.*.tmp")]:
        torn.unlink(missing_ok=True)
    parts = build_sections(rec, out)
    data = (rec.data or {}).get("name") or ((rec.config or {}).get("data") or {}).get("name", "?")
    model = ((rec.config or {}).get("model") or {}).get("name", "?")
    footer = (f"netcoach report of {rec.path.resolve()}, built {time.strftime('%Y-%m-%d %H:%M:%S')} "
              f"in {time.perf_counter() - started:.2f} s; rebuild with: netcoach report {rec.path}")
    report = rec.path / REPORT
    atomic_write_text(report, h.page(f"netcoach run {rec.name}", f"{data} · {model}", parts, footer))
    return report
