"""A run's result in a Jupyter notebook: an HTML summary table, the learning curves
and the doctor's verdict (``RunResult._repr_html_``), and the report embedded in the
page (``RunResult.report()``).

The HTML reuses the report's building blocks (``report/html.py``, the doctor section),
so a notebook shows the same numbers and findings as ``report.html``.
"""

from __future__ import annotations

import html as _html
import tempfile
from pathlib import Path

from netcoach.report import html as h
from netcoach.report.entry import write_report
from netcoach.report.plots import plot_curves
from netcoach.report.records import RunRecord
from netcoach.report.sections import diagnosis_section
from netcoach.train.run import REPORT

TITLE = "netcoach run summary"


def summary_rows(result) -> dict:
    """Label -> value of the summary table."""
    s, config = result.summary or {}, result.config
    rows = {"data": f"{result.data.name} ({len(result.data.train):,} train / {len(result.data.val):,} "
                    f"val / {len(result.data.test):,} test)",
            "model": f"{config.model.name} ({s.get('parameters', 0):,} parameters)",
            "epochs run": s.get("epochs_run"),
            f"best epoch ({s.get('monitor')})": f"{s.get('best_epoch')} ({h.fmt(s.get('best_value'))})"}
    rows.update((k, v) for k, v in (s.get("test") or {}).items())
    rows["wall time (s)"] = s.get("wall_time_s")
    if result.run_dir is not None:
        rows["run folder"] = str(result.run_dir)
    return rows


def curves_png(result) -> bytes | None:
    """The train/validation curves as PNG bytes (None for a run without epochs)."""
    if not result.history:
        return None
    s = result.summary or {}
    with tempfile.TemporaryDirectory() as tmp:
        path = plot_curves(result.history, Path(tmp) / "curves.png", s.get("best_epoch"), s.get("monitor"))
        return path.read_bytes()


def doctor_html(result) -> str:
    """The doctor's findings, rendered as in the report."""
    return diagnosis_section(RunRecord(Path(result.run_dir or "."), summary=result.summary))


def result_html(result) -> str:
    """The notebook rendering of a ``RunResult``: summary table, curves, doctor."""
    png = curves_png(result)
    curves = h.image(png, "learning curves") if png else h.note("no epochs were run")
    return (f'<div class="netcoach-result"><h3>{TITLE}</h3>{h.kv_table(summary_rows(result))}'
            f"{curves}{doctor_html(result)}</div>")


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell), where HTML can be displayed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def show_report(run_dir: str | Path, height: int = 800) -> Path:
    """The path of the run's ``report.html`` (built first if missing); in a notebook it is
    also displayed in the page, in an iframe whose ``srcdoc`` holds the whole report (the
    report is self-contained, so no file server is needed and its styles stay inside)."""
    path = Path(run_dir) / REPORT
    if not path.is_file():
        path = write_report(run_dir)
    if in_notebook():
        from IPython.display import HTML, display

        doc = _html.escape(path.read_text(encoding="utf-8"), quote=True)
        display(HTML(f'<div><iframe srcdoc="{doc}" style="width:100%;height:{int(height)}px;border:0">'
                     "</iframe></div>"))
    return path
