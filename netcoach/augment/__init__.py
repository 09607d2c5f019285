"""Batched data augmentation, configured by ``[augment]``."""

from netcoach.augment.pipeline import build_augment, transforms

__all__ = ["build_augment", "transforms"]
