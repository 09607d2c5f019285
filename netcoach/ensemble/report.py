"""The ensemble folder's report page, built from its summary and record alone (the
report's building blocks: ``report.html`` and the score tables of ``report.scores``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from netcoach.report import html as h
from netcoach.report.scores import bars, scores_table


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
                + bars(folder / "plots", "scores.png", labels, values, key, [len(labels) - 1]))
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
