"""``netcoach finetune``: fastai's fine_tune recipe from a run folder or a weights file."""

from __future__ import annotations

import argparse
from dataclasses import replace

from rich.console import Console

from netcoach.cli.options import PREFIX, add_config_options
from netcoach.config import apply_overrides, load_toml


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "finetune", help="fine-tune trained weights on new data (frozen head epochs, then all)",
        description="Start from SOURCE (a run folder: its model and recipe too; or a .safetensors/"
                    ".pt/.pth file with --model.* flags), train only the new head for --freeze-epochs, "
                    "then everything for --epochs with the first block at lr / --lr-mult. "
                    "Give the new data with --data.* flags.",
        allow_abbrev=False)
    p.add_argument("source", metavar="RUN_OR_FILE", help="run folder or weights file to start from")
    p.add_argument("--epochs", type=int, default=5, help="epochs after unfreezing (default: 5)")
    p.add_argument("--freeze-epochs", type=int, default=1, help="epochs training only the head (default: 1)")
    p.add_argument("--lr-mult", type=float, default=100.0,
                   help="the first backbone block trains at optim.lr / this (default: 100, as fastai)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    add_config_options(p)
    p.set_defaults(func=run, takes_config=True)


def run(args: argparse.Namespace) -> int:
    import netcoach
    from netcoach.cli.train_cmd import print_outcome
    from netcoach.transfer.recipe import finetune_config, source_config

    base = load_toml(args.config) if args.config else (source_config(args.source) or netcoach.Config())
    overrides = {k[len(PREFIX):]: v for k, v in vars(args).items() if k.startswith(PREFIX)}
    config = apply_overrides(base, overrides)
    if "run.name" not in overrides:  # never reuse the source run's folder name
        config = replace(config, run=replace(config.run, name=None))
    config = finetune_config(args.source, config, args.epochs, args.freeze_epochs, args.lr_mult)
    result = netcoach.train(config, progress=not args.quiet)
    print_outcome(Console(soft_wrap=True, highlight=False), result)
    return 1 if result.summary.get("failure") else 0

