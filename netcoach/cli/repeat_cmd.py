"""``netcoach repeat --seeds K``: one configuration over K seeds, every metric as mean ± std."""

from __future__ import annotations

import argparse

from rich.console import Console

from netcoach.cli.options import add_config_options, config_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "repeat", help="train one configuration with K seeds; mean ± std and 95%% interval per metric",
        description="Train the configured run with seeds train.seed .. train.seed+K-1 into "
                    "<run.dir>/<run.name>/seed-N/ and print every summary metric as mean ± sample std "
                    "with a 95% Student-t interval (also written to group.json and group.md).",
        allow_abbrev=False)
    p.add_argument("--seeds", type=int, required=True, metavar="K", help="number of seeds")
    p.add_argument("--quiet", action="store_true", help="no progress bars (default: shown on a terminal)")
    add_config_options(p)
    p.set_defaults(func=run, takes_config=True)


def run(args: argparse.Namespace) -> int:
    from netcoach.experiments.repeat import repeat

    console = Console(soft_wrap=True, highlight=False)

    def on_run(result) -> None:
        test = "  ".join(f"{k} {v:.4f}" for k, v in result.summary["test"].items())
        console.print(f"seed {result.config.train.seed}: {test}  ({result.run_dir})")

    result = repeat(config_from_args(args), args.seeds, progress=False if args.quiet else None, on_run=on_run)
    width = max(len(k) for k in result.metrics)
    console.print(f"{'metric':<{width}}  mean ± std (95% CI, n={args.seeds})")
    for key, m in result.metrics.items():
        console.print(f"{key:<{width}}  {m.text()}")
    console.print(f"group folder: {result.group_dir}")
    return 0
