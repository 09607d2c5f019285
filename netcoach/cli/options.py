"""Command-line flags derived from the config dataclasses.

Each config key becomes ``--section.key VALUE`` (also ``--section.key=VALUE``) with
the field's help text and default; values are parsed and type-checked by the
config loader, so the CLI and TOML files obey the same rules.
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from netcoach.config import Config, ConfigError, apply_overrides, load_toml, option_keys
from netcoach.config.loader import _describe  # one description of types for errors and help
from netcoach.recipes import Recipe, default_recipe, get_recipe

PREFIX = "cfg:"  # argparse dest prefix that marks config options


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--recipe NAME``, ``--config FILE`` and one flag per config key, grouped by section."""
    parser.add_argument("--recipe", metavar="NAME",
                        help="start from a shipped recipe (see `netcoach recipes`); --config and flags "
                             "go on top. Without it, a dataset named by --data.name that has a fast "
                             "recipe gets it unless --model.name or --config is given")
    parser.add_argument("--config", metavar="FILE", help="TOML config file (flags below override it)")
    defaults = Config()
    groups: dict[str, argparse._ArgumentGroup] = {}
    for dotted, (tp, f) in option_keys().items():
        section, key = dotted.split(".", 1)
        if section not in groups:
            groups[section] = parser.add_argument_group(f"[{section}] options")
        default = getattr(getattr(defaults, section), key)
        choices = f.metadata.get("choices")
        extra = f"; one of: {', '.join(map(str, choices))}" if choices else ""
        groups[section].add_argument(
            f"--{dotted}", dest=PREFIX + dotted, default=argparse.SUPPRESS,
            metavar=_describe(tp).upper().replace(" ", "_"),
            help=f"{f.metadata.get('help', '')} (default: {default!r}{extra})".replace("%", "%%"))


def reject_unknown(extra: Sequence[str]) -> None:
    """Turn argparse's leftover tokens into one clear error."""
    for token in extra:
        if token.startswith("--") and "." in token:
            dotted = token[2:].split("=", 1)[0]
            apply_overrides(Config(), {dotted: ""})  # raises the 'unknown option ...; valid: ...' error
        raise ConfigError(f"unrecognized argument '{token}'; see --help for the valid options")


def chosen_recipe(args: argparse.Namespace) -> tuple[Optional[Recipe], bool]:
    """(the recipe the command starts from, whether it was picked for the dataset rather than
    named by --recipe). A dataset gets its fast recipe only when nothing else chose the model."""
    if getattr(args, "recipe", None):
        return get_recipe(args.recipe), False
    flags = vars(args)
    dataset = flags.get(PREFIX + "data.name")
    if dataset is None or getattr(args, "config", None) or PREFIX + "model.name" in flags:
        return None, False
    recipe = default_recipe(dataset)
    return recipe, recipe is not None


def config_from_args(args: argparse.Namespace) -> Config:
    """Defaults <- recipe (``chosen_recipe``) <- --config file <- --section.key flags."""
    recipe, _ = chosen_recipe(args)
    config = recipe.config() if recipe is not None else Config()
    config = load_toml(args.config, config) if getattr(args, "config", None) else config
    overrides = {k[len(PREFIX):]: v for k, v in vars(args).items() if k.startswith(PREFIX)}
    return apply_overrides(config, overrides)


def add_action(subparsers, noun: str, noun_help: str, action: str, action_help: str,
               description: str) -> argparse.ArgumentParser:
    """The parser of a ``netcoach NOUN ACTION`` command (``data info``, ``model summary``, ...)."""
    group = subparsers.add_parser(noun, help=noun_help, description=noun_help, allow_abbrev=False)
    actions = group.add_subparsers(dest=f"{noun}_command", metavar="ACTION", required=True)
    return actions.add_parser(action, help=action_help, description=description, allow_abbrev=False)
