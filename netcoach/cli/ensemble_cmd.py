"""``netcoach ensemble RUN RUN... [--weights] [--name] [--tta]``: average finished runs'
predictions on their common test split and write an ensemble folder with a report."""

from __future__ import annotations

import argparse

from rich.console import Console


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ensemble", help="average the predictions of finished runs (an ensemble folder with a report)",
        description="Check that the runs share dataset, split, classes/outputs and preprocessing, "
                    "score each run and their weighted mean of post-processed outputs on the common "
                    "test split, and write an ensemble folder (ensemble.json, summary.json, "
                    "report.html) beside the runs. `netcoach predict`, `evaluate` and `export` accept the folder like a run.",
        allow_abbrev=False)
    p.add_argument("runs", nargs="+", metavar="RUN", help="member run folders (at least 2)")
    p.add_argument("--weights", metavar="W1,W2,...",
                   help="one positive weight per member, normalized to sum 1 (default: equal)")
    p.add_argument("--name", help="ensemble folder name (default: ensemble-<data>-<timestamp>)")
    p.add_argument("--dir", help="parent folder of the ensemble folder (default: the first run's parent)")
    p.add_argument("--which", default="best", choices=("best", "last"), help="members' checkpoint (default: best)")
    p.add_argument("--tta", action="store_true",
                   help="also score with test-time augmentation (the first run's augment.tta_views)")
    p.set_defaults(func=run)


def parse_weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise ValueError(f"--weights: expected comma-separated numbers such as 1,2,1, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from netcoach.ensemble import build_ensemble

    result = build_ensemble(args.runs, weights=parse_weights(args.weights), name=args.name,
                            tta=args.tta, which=args.which, out_dir=args.dir)
    print_ensemble(Console(soft_wrap=True, highlight=False), result.summary, result.path)
    return 0


def print_ensemble(console: Console, summary: dict, path) -> None:
    """Each member's primary metric, the ensemble's, and the gain over the best member last."""
    key = summary["primary"]
    for i, m in enumerate(summary["members"]):
        tta = f"  {key}_tta {m['test_tta'][key]:.4f}" if "test_tta" in m else ""
        console.print(f"member {i + 1} {m['path']}: {key} {m['test'][key]:.4f}{tta}")
    tta = f"  {key}_tta {summary['ensemble_tta'][key]:.4f}" if "ensemble_tta" in summary else ""
    console.print(f"ensemble of {len(summary['members'])}: {key} {summary['ensemble'][key]:.4f}{tta}  "
                  f"mean disagreement {summary['disagreement']['mean']:.4f}")
    console.print(f"gain over the best member: {summary['gain_over_best']:+.4f}")
    console.print(f"ensemble folder: {path}")
