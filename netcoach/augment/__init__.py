"""Batched data augmentation, configured by ``[augment]``."""

from netcoach.augment.base import Transform, transforms
from netcoach.augment.pipeline import build_augment, build_transforms

__all__ = ["Transform", "build_augment", "build_transforms", "transforms"]
