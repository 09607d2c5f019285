"""``netcoach train``: train a model as configured and write a run folder."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from netcoach.cli.options import PREFIX, add_config_options, chosen_recipe, config_from_args
from netcoach.distributed.launch import LaunchError, launch, recorded
from netcoach.distributed.setup import check_config, init_runtime, launched, shutdown


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model and write a run folder",
        description="Train a model as configured (defaults <- --config file <- --section.key flags), "
                    "evaluate the best checkpoint on the test split, and write runs/<name>/.",
        allow_abbrev=False)
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    p.add_argument("--resume", metavar="RUN",
                   help="continue the run in folder RUN from its last checkpoint (also mid-epoch) "
                        "with its own config; only --train.epochs and logging/report flags may change")
    add_config_options(p)
    p.set_defaults(func=run, takes_config=True)


def run(args: argparse.Namespace) -> int:
    from netcoach.api import resume_config

    if args.resume:
        overrides = {k[len(PREFIX):]: v for k, v in vars(args).items() if k.startswith(PREFIX)}
        config = resume_config(args.resume, overrides=overrides)
    else:
        config = config_from_args(args)
    check_config(config)
    if config.ensemble.members > 1 and not args.resume:
        return run_members(config, not args.quiet)
    if config.dist.nproc > 1 and not launched():  # this process becomes the launcher
        try:
            launch(config.dist.nproc, args.argv)
        except LaunchError as err:
            print(f"netcoach: error: {err}", file=sys.stderr)
            return 1
        return 0
    return (recorded(train_here) if launched() else train_here)(args, config)


def train_here(args: argparse.Namespace, config) -> int:
    """Train in this process (one of a launched job's, or the only one); only the main
    process shows progress and the outcome."""
    import netcoach

    runtime = init_runtime(config)
    console = Console(soft_wrap=True, highlight=False)
    recipe, picked = (None, False) if args.resume else chosen_recipe(args)
    if recipe is not None and runtime.is_main:
        why = (f"the fast recipe for {recipe.dataset}; give --model.name to choose the model yourself"
               if picked else "--recipe")
        console.print(f"recipe: {recipe.name} ({why}): {recipe.summary}")
    try:
        result = netcoach.train(config, progress=not args.quiet and runtime.is_main,
                                resume=args.resume, runtime=runtime)
    finally:
        shutdown()
    if runtime.is_main:
        print_outcome(console, result)
    return 1 if result.summary.get("failure") else 0


def run_members(config, progress: bool) -> int:
    """``--ensemble.members K``: K seeds one after another (each outcome printed as it ends),
    then their ensemble."""
    from netcoach.cli.ensemble_cmd import print_ensemble
    from netcoach.ensemble.seeds import train_members

    console = Console(soft_wrap=True, highlight=False)
    failed = []

    def on_run(result) -> None:
        print_outcome(console, result)
        failed.extend([result.run_dir] if result.summary.get("failure") else [])

    result = train_members(config, progress=progress, on_run=on_run)
    console.print(f"group: {result.group.group_dir}")
    print_ensemble(console, result.ensemble.summary, result.ensemble.path)
    return 1 if failed else 0


def print_outcome(console: Console, result) -> None:
    """Notes, test metrics, weight averages, the doctor's findings and where the run is."""
    summary = result.summary
    for note in summary.get("notes", []):
        console.print(note)
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in summary["test"].items())
    console.print(f"best epoch {summary['best_epoch']}  {metrics}")
    for kind, values in summary.get("averages", {}).items():
        console.print(f"{kind}: " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))
    snap = summary.get("snapshots")
    if snap:
        key = snap["primary"]
        console.print(f"snapshot ensemble of {len(snap['members'])}: {key} {snap['ensemble'][key]:.4f}  "
                      f"(final weights alone {snap['final'][key]:.4f})")
    distill = summary.get("distill")
    if distill:
        key, t = distill["primary"], distill["teacher"]
        base = distill.get("baseline")
        console.print(f"distillation: teacher {key} {t['test'][key]:.4f} ({t['parameters']:,} parameters)"
                      + (f"  from scratch {base['test'][key]:.4f}" if base else "")
                      + f"  distilled {summary['test'][key]:.4f} ({summary['parameters']:,} parameters)")
    for finding in summary.get("doctor", []):
        console.print(f"doctor: [bold]{finding['label']}[/bold] — {finding['evidence']}")
        for remedy in finding.get("remedies", [])[:3]:
            console.print(f"  try: {remedy}")
    if summary.get("failure"):
        console.print(f"[red]training stopped: {summary['failure']}[/red]")
    if result.run_dir is not None:
        report = result.run_dir / "report.html"
        if report.exists():
            console.print(f"report: {report}")
        console.print(f"run folder: {result.run_dir}")
