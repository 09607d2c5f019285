"""The ``netcoach`` command line: a thin layer over the Python API.

Each subcommand lives in its own module with ``register(subparsers)`` that sets
``func`` (and ``takes_config`` when it accepts ``--section.key`` flags).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from netcoach.cli import (augment_cmd, check_cmd, compare_cmd, data_cmd, doctor_cmd, ensemble_cmd,
                          evaluate_cmd, export_cmd, features_cmd, finetune_cmd, lr_find_cmd, model_cmd,
                          predict_cmd, prune_cmd, recipes_cmd, repeat_cmd, report_cmd, search_cmd,
                          train_cmd)
from netcoach.cli.options import reject_unknown
from netcoach.config import NetcoachError
from netcoach.registry import RegistryError
from netcoach.train.run import RunExistsError

# In the order `netcoach --help` lists them: the main job first, then the recipe's tools.
COMMANDS = [train_cmd, predict_cmd, evaluate_cmd, recipes_cmd, check_cmd, doctor_cmd, report_cmd,
            compare_cmd, search_cmd, repeat_cmd, lr_find_cmd, data_cmd, augment_cmd, model_cmd,
            export_cmd, ensemble_cmd, finetune_cmd, features_cmd, prune_cmd]

# Errors caused by the user's input: reported in one line, exit status 2.
USER_ERRORS = (NetcoachError, RegistryError, RunExistsError, FileNotFoundError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    import netcoach

    parser = argparse.ArgumentParser(
        prog="netcoach", allow_abbrev=False,
        description="Train neural networks the way practitioners do: a sound recipe, every "
                    "standard technique one config key away, automatic checks and a report.")
    parser.add_argument("--version", action="version", version=f"netcoach {netcoach.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # a relaunch repeats the command line
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if extra:
            if not getattr(args, "takes_config", False):
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            reject_unknown(extra)
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        if os.environ.get("NETCOACH_DEBUG"):
            raise
        print(f"netcoach: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("netcoach: interrupted", file=sys.stderr)
        return 130
