"""``netcoach evaluate RUN --data.name ... --data.path ...``: score a run on another labelled set."""

from __future__ import annotations

import argparse
import json

from netcoach.cli.options import PREFIX, add_config_options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="score a finished run on another labelled data set",
        description="Evaluate the run's model with its task's loss and metrics on a labelled set "
                    "given by --data.* flags (applied to the run's own [data] section). A CSV goes "
                    "through the run's stored preprocessing; other sources are loaded as they load.",
        allow_abbrev=False)
    p.add_argument("run", help="run folder written by netcoach train, or an ensemble folder (netcoach ensemble)")
    p.add_argument("--split", default="all", choices=("all", "train", "val", "test"),
                   help="which split of a non-CSV source to score (default: all of them)")
    p.add_argument("--which", default="best", help="checkpoint: best (default) or last (an ensemble: the one it was built from)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_config_options(p)
    p.set_defaults(func=run, takes_config=True)


def run(args: argparse.Namespace) -> int:
    from netcoach.predict import evaluate

    overrides = {k[len(PREFIX):]: v for k, v in vars(args).items() if k.startswith(PREFIX)}
    metrics = evaluate(args.run, overrides, split=args.split, which=args.which)
    print(json.dumps(metrics, indent=2) if args.json else "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return 0
