"""``netcoach train``: train a model as configured and write a run folder."""

from __future__ import annotations

import argparse

from rich.console import Console

from netcoach.cli.options import add_config_options, config_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model and write a run folder",
        description="Train a model as configured (defaults <- --config file <- --section.key flags), "
                    "evaluate the best checkpoint on the test split, and write runs/<name>/.",
        allow_abbrev=False)
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    add_config_options(p)
    p.set_defaults(func=run, takes_config=True)


def run(args: argparse.Namespace) -> int:
    import netcoach

    config = config_from_args(args)
    console = Console()
    result = netcoach.train(config, progress=not args.quiet)
    test = result.summary["test"]
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in test.items())
    console.print(f"best epoch {result.summary['best_epoch']}  {metrics}", highlight=False, soft_wrap=True)
    console.print(f"run folder: {result.run_dir}", highlight=False, soft_wrap=True)
    return 0
