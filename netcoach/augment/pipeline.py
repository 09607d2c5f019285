"""Compose the configured transforms into one batched function.

A transform is ``(x, y, generator) -> (x, y)`` on a float batch in [0, 1]
(N, C, H, W), drawing per-sample random parameters from ``generator``. The
transforms run in the order ``augment.transforms`` lists them, each applied to a
sample with its own probability ``augment.<name>_p``.
"""

from __future__ import annotations

from typing import Optional

from netcoach.augment import color, erase, geometric, mix  # noqa: F401  (register the transforms)
from netcoach.augment.base import Transform, transforms
from netcoach.augment.geometric import IntegerMove, IntegerMoves
from netcoach.config import AugmentConfig, ConfigError
from netcoach.data.loader import BatchTransform

TTA_VIEWS = ("hflip", "vflip", "shift", "hflip_shift")


def catalogue() -> str:
    """Every transform name with the config fields it reads, for error messages."""
    return "; ".join(f"{name} ({', '.join(transforms.get(name).params)})" for name in transforms)


def build_transforms(cfg: AugmentConfig, num_classes: Optional[int] = None) -> list[Transform]:
    """The configured transforms in order; bad names or values raise ConfigError listing
    the valid transforms and their parameters."""
    steps = []
    for name in cfg.transforms:
        if name.lower() not in transforms:
            raise ConfigError(f"augment.transforms: unknown transform {name!r}; valid: {catalogue()}")
        cls = transforms.get(name)
        try:
            steps.append(cls.from_config(cfg, num_classes))
        except ValueError as exc:
            raise ConfigError(f"{exc} (transform '{cls.name}' reads: {', '.join(cls.params)})") from None
    for view in cfg.tta_views:
        if view not in TTA_VIEWS:
            raise ConfigError(f"augment.tta_views: unknown view {view!r}; valid: {', '.join(TTA_VIEWS)} "
                              "(the unchanged image is always included)")
    if cfg.tta_shift < 0:
        raise ConfigError(f"augment.tta_shift: must be >= 0 pixels, got {cfg.tta_shift}")
    return steps


def validate(cfg: AugmentConfig) -> None:
    """Check names and every transform's parameters, listed or not, without data
    (``AugmentConfig`` calls it on creation, so a bad value fails at load time)."""
    build_transforms(cfg)
    for name in transforms:
        cls = transforms.get(name)
        try:
            cls.from_config(cfg)
        except ValueError as exc:
            raise ConfigError(f"{exc} (transform '{name}' reads: {', '.join(cls.params)})") from None


def fuse(steps: list[Transform]) -> list:
    """Group steps for speed without changing results: each run of consecutive integer
    pixel moves (flips, crop, translate), with the zero-filling erasers right after it
    (cutout with value 0, GridMask), becomes one ``IntegerMoves`` (one gather, one
    multiply; the random draws happen in the same order as step by step)."""
    runs: list = []
    for step in steps:
        last = runs[-1] if runs else None
        if isinstance(step, IntegerMove):
            if isinstance(last, IntegerMoves) and not last.erasers:
                last.steps.append(step)
            else:
                runs.append(IntegerMoves([step]))
        elif getattr(step, "zero_fill", False) and isinstance(last, IntegerMoves):
            last.erasers.append(step)
        else:
            runs.append(step)
    return runs


def compose(steps: list[Transform]) -> Optional[BatchTransform]:
    """One ``(x, y, generator) -> (x, y)`` function running ``steps`` in order (None if empty)."""
    if not steps:
        return None
    runs = fuse(steps)

    def pipeline(x, y, generator):
        for run in runs:
            x, y = run(x, y, generator)
        return x, y

    pipeline.steps = steps  # for inspection (preview, tests)
    return pipeline


def build_augment(cfg: AugmentConfig, num_classes: Optional[int] = None) -> Optional[BatchTransform]:
    """The composed pipeline, or None when no transform is configured.

    Args:
        cfg: the ``[augment]`` section.
        num_classes: K; needed by label-mixing transforms (mixup, cutmix), which turn
            class indices into (N, K) soft targets.
    """
    return compose(build_transforms(cfg, num_classes))
