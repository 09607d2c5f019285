"""``netcoach model summary``: per-layer shapes, parameters and MACs of the configured model."""

from __future__ import annotations

import argparse
import json
import re

from rich.console import Console
from rich.table import Table

from netcoach.cli.options import add_action, add_config_options, config_from_args


def register(subparsers) -> None:
    s = add_action(
        subparsers, "model", "inspect a model (summary)",
        "summary", "per-layer output shapes, parameter counts and MACs per sample",
        "Build the configured model (--model.* flags) and print one row per layer: "
        "output shape, parameters, multiply-accumulates per sample, and whether the "
        "conv output-size formula N_out = (N_in - F + 2P)/S + 1 matches the real shape. "
        "Input shape and class count come from the configured dataset unless given.")
    s.add_argument("--input-shape", metavar="C,H,W", help="one sample's shape, e.g. 3,32,32 "
                   "(default: the dataset's)")
    s.add_argument("--classes", type=int, metavar="K", help="number of classes (default: the dataset's)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_config_options(s)
    s.set_defaults(func=run, takes_config=True)


def _parse_shape(text: str) -> tuple[int, ...]:
    try:  # "3,32,32" or "3x32x32"
        shape = tuple(int(p) for p in re.split(r"[,x]", text.strip()))
    except ValueError:
        raise ValueError(f"--input-shape: expected integers like 3,32,32, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"--input-shape: expected positive sizes like 3,32,32, got {text!r}")
    return shape


def run(args: argparse.Namespace) -> int:
    from netcoach.api import model_summary

    config = config_from_args(args)
    shape = _parse_shape(args.input_shape) if args.input_shape else None
    summary = model_summary(config, input_shape=shape, num_classes=args.classes)
    console = Console()
    if args.json:
        console.print_json(json.dumps(summary))
        return 0
    table = Table(title=f"model {config.model.name}, input {summary['input_shape']}")
    for col, just in [("layer", "left"), ("type", "left"), ("output shape", "left"),
                      ("params", "right"), ("MACs/sample", "right"), ("N_out formula", "left")]:
        table.add_column(col, justify=just)
    for row in summary["layers"]:
        check = "" if row["formula_ok"] is None else ("ok" if row["formula_ok"] else
                                                     f"MISMATCH {row['formula_hw']}")
        table.add_row(row["name"], row["type"], "x".join(map(str, row["output_shape"])),
                      f"{row['params']:,}", f"{row['macs']:,}", check)
    console.print(table)
    console.print(f"total {summary['total_params']:,} parameters ({summary['trainable_params']:,} "
                  f"trainable), {summary['total_macs']:,} MACs per sample", highlight=False)
    return 0
