"""``netcoach data info SOURCE``: what a data set holds, before training on it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from netcoach.cli.options import add_action, add_config_options, config_from_args


def register(subparsers) -> None:
    info = add_action(
        subparsers, "data", "inspect a data set (counts, image size, statistics, warnings)",
        "info", "counts per class and split, image size, channels, mean/std, warnings",
        "SOURCE is a data set name (mnist, cifar10, ... with --data.path or downloaded) "
        "or the path of an image folder / archive with one sub-folder per class.")
    info.add_argument("source", help="data set name or image folder/archive path")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_config_options(info)
    info.set_defaults(func=run_info, takes_config=True)


def run_info(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from netcoach.data import datasets
    from netcoach.data.info import summarize

    config = config_from_args(args)
    data = config.data
    if Path(args.source).exists():
        data = replace(data, name="folder", path=args.source)
    elif "/" in args.source or "\\" in args.source:
        raise FileNotFoundError(f"{args.source} does not exist (give a data set name or an image folder)")
    else:
        data = replace(data, name=args.source)
    bundle = datasets.get(data.name)(data)
    summary = summarize(bundle)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    _print(summary)
    return 0


def _print(s: dict) -> None:
    console = Console()
    shape = "x".join(map(str, s["input_shape"]))
    console.print(f"[bold]{s['name']}[/bold]: {len(s['classes'])} classes, input {shape} ({s['dtype']}), "
                  f"train/val/test {s['sizes']['train']}/{s['sizes']['val']}/{s['sizes']['test']}",
                  highlight=False)
    if s["mean"] is not None:
        fmt = lambda v: ", ".join(f"{x:.4f}" for x in v)  # noqa: E731
        console.print(f"train mean ({fmt(s['mean'])})  std ({fmt(s['std'])})", highlight=False)
    dup = s.get("duplicates")
    if dup is not None:
        console.print(f"exact duplicates: {dup['val_in_train']} val and {dup['test_in_train']} test samples "
                      f"also in train, {dup['test_in_val']} test in val, {dup['within_train']} repeated "
                      "within train", highlight=False, soft_wrap=True)
    table = Table("class", "train", "val", "test")
    for i, name in enumerate(s["classes"]):
        table.add_row(name, *(str(s["counts"][split][i]) for split in ("train", "val", "test")))
    console.print(table)
    for w in s["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
