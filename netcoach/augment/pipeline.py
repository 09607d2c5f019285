"""Compose the configured transforms into one batched function.

A transform is ``(x, y, generator) -> (x, y)`` on a float batch in [0, 1]
(N, C, H, W), drawing per-sample random parameters from ``generator``.
"""

from __future__ import annotations

from typing import Optional

from netcoach.config import AugmentConfig
from netcoach.data.loader import BatchTransform
from netcoach.registry import Registry

transforms: Registry = Registry("transform")


def build_augment(cfg: AugmentConfig) -> Optional[BatchTransform]:
    """The composed pipeline, or None when no transform is configured."""
    if not cfg.transforms:
        return None
    steps = [transforms.get(name)(cfg) for name in cfg.transforms]

    def pipeline(x, y, generator):
        for step in steps:
            x, y = step(x, y, generator)
        return x, y

    return pipeline
