"""``netcoach check``: run the preflight recipe checks for a config without training."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from netcoach.cli.options import PREFIX, add_config_options, config_from_args
from netcoach.config import apply_overrides

STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "check", help="run the recipe checks (output layer, initial loss, overfit one batch, "
                      "gradient check, data, units at init) without training",
        description="Build the configured run and check it the way the course's recipe does before "
                    "training. One pass/warn/fail line per check; exits 1 when a check fails.",
        allow_abbrev=False)
    add_config_options(p)
    p.set_defaults(func=run, takes_config=True)


def format_line(check: dict) -> str:
    """``PASS  initial_loss    initial loss 2.319 vs ln 10 = 2.303`` (rich markup)."""
    status = check["status"]
    return f"[{STYLE[status]}]{status.upper():4}[/]  {check['check']:<15} {escape(check['reason'])}"


def run(args: argparse.Namespace) -> int:
    from netcoach.api import build_trainer
    from netcoach.diagnose import preflight

    config = config_from_args(args)
    if PREFIX + "diagnose.budget_s" not in vars(args):  # a check on request runs in full
        config = apply_overrides(config, {"diagnose.budget_s": "0"})
    trainer = build_trainer(config)
    results = preflight(trainer, config)
    console = Console(highlight=False, soft_wrap=True)
    for check in results:
        console.print(format_line(check))
    counts = {s: sum(r["status"] == s for r in results) for s in STYLE}
    console.print(f"{counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed")
    return 1 if counts["fail"] else 0
