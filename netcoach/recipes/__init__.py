"""Recipes: named, documented presets shipped with the package (one TOML file each).

A recipe file is an ordinary netcoach config plus a ``[recipe]`` table that says
what it is for, what it measured, which course techniques it uses and how to run
it. ``netcoach train --recipe NAME [flags]`` starts from it; flags go on top.
A recipe marked ``default = true`` is what a known dataset gets when it is named
without a model (``netcoach train --data.name mnist``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

from netcoach.config import Config, ConfigError, from_dict

HERE = Path(__file__).resolve().parent
META_KEYS = ("summary", "dataset", "default", "result", "measured_on", "techniques", "command")


@dataclass(frozen=True)
class Recipe:
    """One recipe: its metadata and the config sections it sets."""

    name: str
    summary: str
    dataset: str
    default: bool
    result: str
    measured_on: str
    techniques: tuple[str, ...]
    command: str
    sections: dict

    def config(self, base: Optional[Config] = None) -> Config:
        """The recipe's settings over ``base`` (default: the defaults)."""
        try:
            return from_dict(self.sections, base)
        except ConfigError as exc:
            raise ConfigError(f"recipe {self.name}: {exc}") from None


def _parse(path: Path) -> Recipe:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    meta = data.pop("recipe", None)
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: a recipe file needs a [recipe] table ({', '.join(META_KEYS)})")
    unknown = sorted(set(meta) - set(META_KEYS))
    missing = sorted(set(META_KEYS) - set(meta))
    if unknown or missing:
        raise ConfigError(f"{path}: [recipe] keys {unknown or ''} unknown, {missing or ''} missing; "
                          f"valid: {', '.join(META_KEYS)}")
    recipe = Recipe(path.stem, str(meta["summary"]), str(meta["dataset"]), bool(meta["default"]),
                    str(meta["result"]), str(meta["measured_on"]),
                    tuple(str(t) for t in meta["techniques"]), str(meta["command"]), data)
    recipe.config()  # every key is checked when the registry is read, not when a run starts
    return recipe


@lru_cache(maxsize=1)
def recipes() -> dict[str, Recipe]:
    """Every shipped recipe by name (the ``*.toml`` files of this package)."""
    return {p.stem: _parse(p) for p in sorted(HERE.glob("*.toml"))}


def get_recipe(name: str) -> Recipe:
    found = recipes()
    if name not in found:
        raise ConfigError(f"unknown recipe '{name}'; valid: {', '.join(found)}")
    return found[name]


def default_recipe(dataset: str) -> Optional[Recipe]:
    """The dataset's fast recipe (``default = true``), or None."""
    return next((r for r in recipes().values() if r.default and r.dataset == dataset), None)


__all__ = ["Recipe", "default_recipe", "get_recipe", "recipes"]
