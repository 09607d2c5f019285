"""The in-memory form every data source produces.

A source returns a ``DataBundle``: train/val/test ``Split``s whose inputs keep the
source's storage dtype (uint8 for images, so a whole dataset fits on the device)
plus what a model and a loader need to know (classes, input shape, the scale that
maps stored values to [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import torch


@dataclass
class Split:
    """One split: ``x`` is (N, C, H, W) or (N, D); ``y`` holds the targets the task reads
    ((N,) int64 class indices for classification; the task validates them)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"split has {len(self.x)} inputs but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device) -> "Split":
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class DataBundle:
    """Train/val/test splits plus metadata.

    Attributes:
        scale: stored value that means 1.0 (255 for uint8 images, 16 for digits, 1 for floats).
        mean, std: per-channel statistics of the *training* split, in [0, 1] units;
            None until ``compute_stats`` ran.
        normalizer: the fitted module of ``data.normalize`` mean_image, pca or zca
            (``netcoach.data.preprocess``), applied to [0, 1]-unit batches; None otherwise.
    """

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    class_names: list[str]
    scale: float = 1.0
    mean: Optional[list[float]] = None
    std: Optional[list[float]] = None
    info: dict = field(default_factory=dict)
    normalizer: Optional[torch.nn.Module] = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The stored inputs' per-sample shape (what ``predict`` takes)."""
        return tuple(self.train.x.shape[1:])

    @property
    def model_input_shape(self) -> tuple[int, ...]:
        """What the model receives: the input shape after the normalizer (PCA and patch
        whitening change it)."""
        if self.normalizer is None:
            return self.input_shape
        return tuple(self.normalizer.output_shape(self.input_shape))

    def to(self, device) -> "DataBundle":
        normalizer = None if self.normalizer is None else self.normalizer.to(device)
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device),
                       normalizer=normalizer)
