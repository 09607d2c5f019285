"""Compose the configured transforms into one batched function.

A transform is ``(x, y, generator) -> (x, y)`` on a float batch in [0, 1]
(N, C, H, W), drawing per-sample random parameters from ``generator``. The
transforms run in the order ``augment.transforms`` lists them, each applied to a
sample with its own probability ``augment.<name>_p``.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from netcoach.augment import color, erase, geometric, mix  # noqa: F401  (register the transforms)
from netcoach.augment.base import Transform, transforms
from netcoach.augment.geometric import IntegerMove, IntegerMoves
from netcoach.config import AugmentConfig, ConfigError
from netcoach.data.loader import SampleKeys


def build_transforms(cfg: AugmentConfig, num_classes: Optional[int] = None) -> list[Transform]:
    """The configured transforms in order. Names and values were checked when ``cfg`` was
    created (netcoach/config/augment_rules.py); what remains is what needs the data, e.g.
    mixup without the number of classes, reported as ConfigError naming the transform."""
    steps = []
    for name in cfg.transforms:
        cls = transforms.get(name)
        try:
            steps.append(cls.from_config(cfg, num_classes))
        except ValueError as exc:
            raise ConfigError(f"{exc} (transform '{cls.name}' reads: {', '.join(cls.params)})") from None
    return steps


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


class Pipeline:
    """The configured steps as one ``(x, y, generator) -> (x, y)`` function on floats in
    [0, 1], run as the fused groups of ``fuse``.

    ``from_stored`` takes the batch as stored (uint8 images) with the loader's conversion
    to [0, 1]: the leading pixel moves (flips, crop, translate and the zero erasers fused
    with them) run before the conversion, on a quarter of the bytes. That is bit-identical
    to converting first, because they only copy stored values or write zeros, and a
    value's conversion does not depend on where it lands. The draws are the same too.
    """

    def __init__(self, steps: list[Transform]):
        self.steps = steps  # for inspection (preview, tests)
        runs = fuse(steps)
        k = 0
        while k < len(runs) and isinstance(runs[k], IntegerMoves):
            k += 1
        self.stored_runs, self.float_runs = runs[:k], runs[k:]

    def __call__(self, x, y, generator, keys: Optional[SampleKeys] = None):
        for run in self.stored_runs + self.float_runs:
            x, y = run(x, y, generator, keys)
        return x, y

    def from_stored(self, x, y, generator, prepare: Callable[[torch.Tensor], torch.Tensor],
                    keys: Optional[SampleKeys] = None):
        """Augment a stored batch; ``prepare`` converts stored values to floats in [0, 1];
        ``keys`` says which samples of which epoch the batch holds (``SampleKeys``)."""
        for run in self.stored_runs:
            x, y = run(x, y, generator, keys)
        x = prepare(x)
        for run in self.float_runs:
            x, y = run(x, y, generator, keys)
        return x, y


def compose(steps: list[Transform]) -> Optional[Pipeline]:
    """One ``Pipeline`` running ``steps`` in order (None if empty)."""
    return Pipeline(steps) if steps else None


def build_augment(cfg: AugmentConfig, num_classes: Optional[int] = None) -> Optional[Pipeline]:
    """The composed pipeline, or None when no transform is configured.

    Args:
        cfg: the ``[augment]`` section.
        num_classes: K; needed by label-mixing transforms (mixup, cutmix), which turn
            class indices into (N, K) soft targets.
    """
    return compose(build_transforms(cfg, num_classes))
