"""Tables and bar charts that put several predictors side by side (members and their
ensemble, snapshots, teacher and students), and the run report's sections built from
``summary.json`` alone: the snapshot ensemble and distillation."""

from __future__ import annotations

from pathlib import Path

from netcoach.report import html as h
from netcoach.report.plots import plot_bars


def _metric_keys(rows: list[dict]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return keys


def scores_table(rows: list[tuple[str, dict, dict]]) -> str:
    """A table of ``(label, extra columns, metrics)`` rows with the union of their metric keys."""
    extra = _metric_keys([e for _, e, _ in rows])
    metrics = _metric_keys([m for _, _, m in rows])
    body = [[label, *[e.get(k) for k in extra], *[m.get(k) for k in metrics]] for label, e, m in rows]
    return h.table(["", *extra, *metrics], body)


def bars(out: Path, name: str, labels: list[str], values: list[float], title: str,
          highlight: list[int]) -> str:
    out.mkdir(parents=True, exist_ok=True)
    return h.image(plot_bars(labels, values, out / name, title, highlight), title)


def snapshots_section(summary: dict, out: Path) -> str:
    """A run report's snapshot-ensemble section: each snapshot, their ensemble, the final weights."""
    snap = summary["snapshots"]
    key = snap["primary"]
    rows = [(f"snapshot {s['index']}", {"epoch": s["epoch"], "step": s["step"]}, s["test"]) for s in snap["members"]]
    rows += [("snapshot ensemble", {}, snap["ensemble"]), ("final weights alone", {}, snap["final"])]
    labels = [r[0] for r in rows]
    values = [r[2][key] for r in rows]
    text = h.note(f"Weights kept at the end of each of the last {len(snap['members'])} learning-rate cycles "
                  f"(Huang et al. 2017), averaged as predictions; mean pairwise disagreement "
                  f"{h.fmt(snap['disagreement']['mean'])}.")
    return text + scores_table(rows) + bars(out, "snapshots.png", labels, values, key, [len(rows) - 2])


def distill_section(summary: dict, out: Path) -> str:
    """A run report's distillation section: teacher, baseline student and distilled student."""
    d = summary["distill"]
    key = d["primary"]
    teacher = d["teacher"]
    rows = [(f"teacher ({teacher['kind']})", {"parameters": teacher["parameters"], "path": teacher["path"]},
             teacher["test"])]
    if d.get("baseline"):
        rows.append(("student from scratch", {"parameters": d["baseline"]["parameters"],
                                              "path": d["baseline"]["path"]}, d["baseline"]["test"]))
    rows.append(("distilled student", {"parameters": summary.get("parameters")}, summary.get("test", {})))
    text = h.note(f"loss = {h.fmt(d['alpha'])} · T² · KL(teacher ‖ student) at T = {h.fmt(d['temperature'])} "
                  f"+ {h.fmt(1 - d['alpha'])} · task loss (Hinton et al. 2015); the teacher is scored on "
                  "this run's test split." + (f" Teacher logits: {d['teacher_logits']}." if "teacher_logits" in d else ""))
    labels = [r[0] for r in rows]
    values = [r[2].get(key, float("nan")) for r in rows]
    return text + scores_table(rows) + bars(out, "distill.png", labels, values, key, [len(rows) - 1])
