"""HTML for ensembles: the ensemble folder's report, and the snapshot-ensemble section of
a run's report. Built from the summaries alone (``report.html``'s building blocks and
``report.plots``), so both can be rebuilt from the folders."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

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


def _bars(out: Path, name: str, labels: list[str], values: list[float], title: str,
          highlight: list[int]) -> str:
    out.mkdir(parents=True, exist_ok=True)
    return h.image(plot_bars(labels, values, out / name, title, highlight), title)


def report_html(folder: Path, name: str, record: dict, summary: dict) -> str:
    """The ensemble folder's report page (its plot goes to ``folder/plots``)."""
    key = summary["primary"]
    members = summary["members"]
    rows = [(Path(m["path"]).name, {"seed": m["seed"], "model": m["model"], "parameters": m["parameters"],
                                    "weight": m["weight"]}, {**m["test"], **_suffixed(m.get("test_tta"))})
            for m in members]
    rows.append(("ensemble", {"parameters": sum(m["parameters"] for m in members)},
                 {**summary["ensemble"], **_suffixed(summary.get("ensemble_tta"))}))
    dis = summary["disagreement"]
    labels = [Path(m["path"]).name for m in members] + ["ensemble"]
    values = [m["test"][key] for m in members] + [summary["ensemble"][key]]
    cards = {key: summary["ensemble"][key], f"best member {key}": summary["best_member_value"],
             "gain over the best member": summary["gain_over_best"], "mean disagreement": dis["mean"]}
    if "ensemble_tta" in summary:
        cards[f"{key} with TTA"] = summary["ensemble_tta"][key]
    overview = (h.cards(cards) + h.note(f"{len(members)} members averaged on {summary['test_samples']} test "
                                        f"samples ({record['which']} weights; task {summary['task']}).")
                + _bars(folder / "plots", "scores.png", labels, values, key, [len(labels) - 1]))
    names = [Path(m["path"]).name for m in members]
    matrix = h.table(["", *names], [[n, *row] for n, row in zip(names, dis["matrix"])])
    sections = [("overview", "Ensemble", overview),
                ("members", "Members and ensemble on the test split", scores_table(rows)),
                ("diversity", "Diversity of members", h.note(f"pairwise {dis['measure']}") + matrix),
                ("record", "Ensemble record", h.kv_table({"members": ", ".join(m["path"] for m in record["members"]),
                                                          "weights": record["weights"], "tta": record["tta"]}))]
    return h.page(f"netcoach ensemble {name}", f"{len(members)} members · {summary['task']}", sections,
                  "rebuilt from summary.json and ensemble.json")


def _suffixed(metrics: Optional[dict]) -> dict:
    return {f"{k}_tta": v for k, v in (metrics or {}).items()}


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
    return text + scores_table(rows) + _bars(out, "snapshots.png", labels, values, key, [len(rows) - 2])
