"""``netcoach doctor RUN``: read a run's learning curves and say what went wrong."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

STYLE = {"healthy": "green"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor", help="diagnose a finished run from its learning curves",
        description="Classify a run (overfitting, underfitting, learning rate too high/low, plateau, "
                    "healthy) from its metrics.jsonl, with the evidence and the remedies.",
        allow_abbrev=False)
    p.add_argument("run_dir", metavar="RUN", help="the run folder (runs/<name>)")
    p.add_argument("--save", action="store_true", help="also write the findings into summary.json")
    p.set_defaults(func=run)


def diagnose_run(run_dir: str | Path) -> tuple[list[dict], dict]:
    """The doctor's findings for a run folder, and the run's summary they were based on."""
    from netcoach.diagnose import doctor
    from netcoach.train.run import DATA, RunFolder

    folder = RunFolder(run_dir)
    if not folder.metrics_path.exists():
        raise FileNotFoundError(f"{folder.metrics_path} not found: {run_dir} is not a run folder "
                                "(expected runs/<name>/ with metrics.jsonl)")
    summary = folder.summary() or {}
    context = dict(summary)
    if folder.file(DATA).exists():  # the class count gives the doctor chance level ln K
        context.setdefault("num_classes", folder.data_record().get("num_classes"))
    config = folder.config() if folder.config_path.exists() else None
    return doctor(folder.metrics(), context, config), summary


def run(args: argparse.Namespace) -> int:
    from netcoach.train.run import RunFolder

    findings, summary = diagnose_run(args.run_dir)
    console = Console(highlight=False, soft_wrap=True)
    if not findings:
        console.print("no epochs recorded yet: nothing to diagnose")
    for f in findings:
        style = STYLE.get(f["label"], "bold yellow")
        console.print(f"[{style}]{f['label']}[/]  (epochs {', '.join(map(str, f['epochs']))})")
        console.print(f"  evidence: {escape(f['evidence'])}")
        for remedy in f["remedies"]:
            console.print(f"  - {escape(remedy)}")
    flagged = [r for r in RunFolder(args.run_dir).monitors() if r.get("warnings")]
    if flagged:  # the live monitor's per-layer warnings back up the curve reading
        console.print(f"monitor warnings in {len(flagged)} sampled epochs (first: epoch {flagged[0]['epoch']}):")
        for warning in flagged[-1]["warnings"][:5]:
            console.print(f"  epoch {flagged[-1]['epoch']}: {escape(warning)}")
    if args.save and summary:
        summary["doctor"] = findings
        RunFolder(args.run_dir).write_summary(summary)
    return 0
