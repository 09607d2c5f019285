"""``netcoach recipes``: the shipped recipes, what they measured and the techniques they use."""

from __future__ import annotations

import argparse

from rich.console import Console


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "recipes", help="list the shipped recipes (use one with `netcoach train --recipe NAME`)",
        description="List the named presets shipped with netcoach: dataset, measured result, the "
                    "course techniques each uses and the command that runs it.", allow_abbrev=False)
    p.add_argument("name", nargs="?", help="show one recipe with its full settings")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from netcoach.config import to_toml
    from netcoach.recipes import get_recipe, recipes

    console = Console(soft_wrap=True, highlight=False)
    chosen = [get_recipe(args.name)] if args.name else list(recipes().values())
    for recipe in chosen:
        default = "  (default for --data.name " + recipe.dataset + ")" if recipe.default else ""
        console.print(f"[bold]{recipe.name}[/bold]  {recipe.dataset}{default}")
        console.print(f"  {recipe.summary}")
        console.print(f"  measured: {recipe.result} ({recipe.measured_on})")
        console.print(f"  techniques: {', '.join(recipe.techniques)}")
        console.print(f"  run: {recipe.command}")
        if args.name:
            console.print(to_toml(recipe.config()), markup=False)
    return 0
