"""Compare runs side by side: one row per run (test metrics, best validation value,
parameters, epochs, time) plus the config keys that differ between the runs, and
the validation curves overlaid. Written as HTML, Markdown and CSV.

Example:
    >>> comp = compare_runs(["runs/sgd", "runs/adam"])          # doctest: +SKIP
    >>> comp.differing                                           # doctest: +SKIP
    ['optim.name']
    >>> write_comparison(comp, "runs/comparison")                # doctest: +SKIP
"""

from __future__ import annotations

import csv
import glob
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from netcoach.config import ConfigError
from netcoach.report import html as h
from netcoach.report.plots import identical_to, plot_overlay
from netcoach.report.records import RunRecord, is_run_folder, load_run_record
from netcoach.report.stats import spread
from netcoach.tasks import task_of_config
from netcoach.train.monitor import direction
from netcoach.train.run import REPORT
from netcoach.utils.io import atomic_write_text

# Config keys that say where a run was written, not how it was trained.
IGNORED_KEYS = ("run.name", "run.dir")
GLOB_CHARS = "*?["


@dataclass
class Comparison:
    """A comparison table: ``columns`` headers, ``rows`` of values (one per run)."""

    runs: list[RunRecord]
    columns: list[str]
    rows: list[list[Any]]
    differing: list[str]
    curves: dict[str, dict[str, tuple[list, list]]] = field(default_factory=dict)
    curve_keys: list[str] = field(default_factory=list)


def expand_runs(patterns: Sequence[str | Path]) -> list[Path]:
    """Run folders named by paths or glob patterns, in order, without duplicates.

    A glob keeps only the run folders it matches (so ``runs/*`` skips other
    folders); an explicit path that is not a run folder is an error.

    Raises:
        FileNotFoundError: a path is not a run folder, or a pattern matches none.
    """
    found: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if any(c in text for c in GLOB_CHARS) and not Path(text).exists():
            matches = [Path(p) for p in sorted(glob.glob(text)) if is_run_folder(Path(p))]
            if not matches:
                raise FileNotFoundError(f"no run folder matches {text!r}")
        else:
            if not is_run_folder(Path(text)):
                raise FileNotFoundError(f"{text} is not a run folder (no config.toml, metrics.jsonl "
                                        "or summary.json)")
            matches = [Path(text)]
        found += [m for m in matches if m.resolve() not in {f.resolve() for f in found}]
    return found


def differing_keys(flat_configs: Sequence[dict[str, Any]]) -> list[str]:
    """Config keys whose value is not the same in every run (a key missing from a run counts
    as a difference), in section order."""
    keys: list[str] = []
    for cfg in flat_configs:
        keys += [k for k in cfg if k not in keys]
    missing = object()
    return [k for k in keys if k not in IGNORED_KEYS
            and len({repr(cfg.get(k, missing)) for cfg in flat_configs}) > 1]


def _row(rec: RunRecord, test_keys: list[str], diff: list[str]) -> list[Any]:
    s = rec.summary or {}
    test = s.get("test") or {}
    last = rec.metrics[-1] if rec.metrics else {}
    flat = rec.flat_config()
    wall = s.get("wall_time_s")
    if wall is None and rec.metrics:  # crashed run: sum of the recorded epochs
        wall = sum(float(m.get("epoch_time", 0.0)) for m in rec.metrics)
    best_value, best_epoch = s.get("best_value"), s.get("best_epoch")
    if best_value is None:
        best_value, best_epoch = _best_from_metrics(rec)
    return ([rec.name] + [test.get(k) for k in test_keys]
            + [best_value, best_epoch, s.get("parameters"),
               s.get("epochs_run", last.get("epoch")), None if wall is None else round(float(wall), 2)]
            + [flat.get(k) for k in diff])


def _best_from_metrics(rec: RunRecord) -> tuple[Any, Any]:
    """Best monitored value and its epoch from metrics.jsonl (a run that never finished)."""
    train = (rec.config or {}).get("train") or {}
    monitor = train.get("monitor") or task_of_config(rec.config, rec.data).default_monitor
    mode = train.get("mode") or "auto"
    try:
        mode = direction(monitor, "train.mode") if mode == "auto" else mode
    except ConfigError:  # a metric name the rule cannot read: no best value rather than a crash
        return None, None
    rows = [m for m in rec.metrics if isinstance(m.get(monitor), (int, float)) and "epoch" in m]
    if not rows:
        return None, None
    best = (max if mode == "max" else min)(rows, key=lambda m: m[monitor])
    return best[monitor], best["epoch"]


def compare_runs(paths: Sequence[str | Path]) -> Comparison:
    """Load the runs named by ``paths`` (folders or glob patterns) and tabulate them."""
    runs = [load_run_record(p) for p in expand_runs(paths)]
    if not runs:
        raise ValueError("compare needs at least one run folder")
    test_keys: list[str] = []
    for rec in runs:
        test_keys += [k for k in ((rec.summary or {}).get("test") or {}) if k not in test_keys]
    test_keys.sort(key=lambda k: "loss" in k)  # accuracy first, then loss, as in the course's tables
    monitors = {(r.summary or {}).get("monitor") for r in runs} - {None}
    best_label = f"best {monitors.pop()}" if len(monitors) == 1 else "best (monitor)"
    diff = differing_keys([r.flat_config() for r in runs])
    columns = (["run"] + test_keys + [best_label, "best epoch", "parameters", "epochs", "time (s)"]
               + diff)
    rows = [_row(r, test_keys, diff) for r in runs]
    curve_keys: list[str] = []
    for rec in runs:
        for m in rec.metrics:
            curve_keys += [k for k in m if k.startswith("val_") and k not in curve_keys]
    curves = {r.name: {k: ([m["epoch"] for m in r.metrics if k in m and "epoch" in m],
                           [m[k] for m in r.metrics if k in m and "epoch" in m])
                       for k in curve_keys} for r in runs}
    return Comparison(runs, columns, rows, diff, curves, curve_keys)


@dataclass
class Grouping:
    """Runs grouped by the values of ``keys``: one row per group, every numeric column of
    the comparison as ``mean ± std`` over the group's runs (``n`` runs)."""

    keys: list[str]
    columns: list[str]
    rows: list[list[Any]]


# Comparison columns that describe a run rather than measure it.
NOT_AVERAGED = ("run", "best epoch", "parameters")


def group_runs(comp: Comparison, keys: Sequence[str]) -> Grouping:
    """Group ``comp``'s runs by their values of the config ``keys``, in first-seen order.

    Raises:
        ValueError: a key is in no run's config (the message lists the differing keys).
    """
    flats = [r.flat_config() for r in comp.runs]
    for key in keys:
        if not any(key in f for f in flats):
            raise ValueError(f"--group-by {key}: not a config key of these runs; keys that differ "
                             f"between them: {', '.join(comp.differing) or 'none'}")
    measured = [i for i, c in enumerate(comp.columns) if c not in NOT_AVERAGED and c not in comp.differing
                and all(isinstance(row[i], (int, float, type(None))) for row in comp.rows)]
    groups: dict[tuple, list[list[Any]]] = {}
    for flat, row in zip(flats, comp.rows):
        groups.setdefault(tuple(repr(flat.get(k)) for k in keys), []).append((flat, row))
    rows = []
    for members in groups.values():
        values = [members[0][0].get(k) for k in keys]
        cells = [_mean_std([row[i] for _, row in members]) for i in measured]
        rows.append(values + [len(members)] + cells)
    return Grouping(list(keys), list(keys) + ["runs"] + [comp.columns[i] for i in measured], rows)


def _mean_std(values: Sequence[Any]) -> str:
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    if not numbers:
        return "—"
    s = spread(numbers)
    return h.fmt(s.mean) if s.n < 2 else f"{h.fmt(s.mean)} ± {h.fmt(s.std)}"


def grouping_markdown(grouping: Grouping) -> str:
    """The grouped table as Markdown (mean ± sample std per group)."""
    lines = ["| " + " | ".join(grouping.columns) + " |", "|" + "---|" * len(grouping.columns)]
    lines += ["| " + " | ".join(h.fmt(v).replace("|", "\\|") for v in row) + " |" for row in grouping.rows]
    return "\n".join(lines) + "\n"


def to_markdown(comp: Comparison) -> str:
    """A Markdown (GitHub) table for pasting."""
    lines = ["| " + " | ".join(comp.columns) + " |", "|" + "---|" * len(comp.columns)]
    lines += ["| " + " | ".join(h.fmt(v).replace("|", "\\|") for v in row) + " |" for row in comp.rows]
    return "\n".join(lines) + "\n"


def to_csv(comp: Comparison) -> str:
    """CSV with full-precision numbers (empty cells for missing values)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(comp.columns)
    for row in comp.rows:
        writer.writerow(["" if v is None else ",".join(map(str, v)) if isinstance(v, list) else v
                         for v in row])
    return buf.getvalue()


def default_output(comp: Comparison) -> Path:
    """``<parent>/comparison`` when all runs share a parent folder, else ``./comparison``."""
    parents = {r.path.resolve().parent for r in comp.runs}
    return (parents.pop() if len(parents) == 1 else Path.cwd()) / "comparison"


def write_comparison(comp: Comparison, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write ``comparison.html`` (self-contained), ``.md``, ``.csv`` and ``val_curves.png``."""
    out = Path(out_dir) if out_dir is not None else default_output(comp)
    out.mkdir(parents=True, exist_ok=True)
    files = {"md": out / "comparison.md", "csv": out / "comparison.csv",
             "html": out / "comparison.html"}
    atomic_write_text(files["md"], to_markdown(comp))
    atomic_write_text(files["csv"], to_csv(comp))
    png = None
    if comp.curve_keys:
        keys = [k for k in comp.curve_keys if k in ("val_loss", "val_acc")] or comp.curve_keys[:2]
        png = files["png"] = plot_overlay(comp.curves, keys, out / "val_curves.png")
    atomic_write_text(files["html"], _html(comp, png, out))
    return files


def _run_links(comp: Comparison, out: Path) -> str:
    """One line per run: a link to its report.html (relative to the comparison page, so the
    pair of folders can be moved together), and its folder."""
    items = []
    for r in comp.runs:
        report = r.path / REPORT
        link = (f'<a href="{h.esc(Path(os.path.relpath(report.resolve(), out.resolve())).as_posix())}">'
                f"{h.esc(r.name)}: report</a>" if report.exists()
                else f"{h.esc(r.name)}: no {REPORT} (build it with netcoach report {h.esc(r.path)})")
        items.append(f"<li>{link} <span class=\"note\">{h.esc(r.path.resolve())}</span></li>")
    return f"<ul>{''.join(items)}</ul>"


def _html(comp: Comparison, png: Path | None, out: Path) -> str:
    diff = ("<p>Config keys that differ: " + ", ".join(f"<code>{h.esc(k)}</code>" for k in comp.differing)
            + ".</p>") if comp.differing else h.note("all runs have the same config (apart from run.*)")
    table = h.table(comp.columns, comp.rows)
    curves = h.image(png, "validation curves") if png else h.note("no validation curves recorded")
    if png and any(identical_to(comp.curves, k) for k in comp.curve_keys):
        curves += h.note("Some runs have identical curves: they are drawn shifted right by a fraction "
                         "of an epoch, with hollow markers, and the legend names the run they equal.")
    sections = [("table", "Runs", diff + table), ("curves", "Validation curves", curves),
                ("runs", "Reports of the runs", _run_links(comp, out))]
    return h.page("netcoach comparison", f"{len(comp.runs)} runs", sections,
                  f"built {time.strftime('%Y-%m-%d %H:%M:%S')} by netcoach compare")
