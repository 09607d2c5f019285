"""Linear softmax classifier (softmax regression): scores s = W x + b."""

from __future__ import annotations

import math

from torch import nn

from netcoach.config import ModelConfig
from netcoach.models.registry import models


@models.register("linear")
def linear(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Flatten the input and map it to ``num_classes`` scores with one affine layer."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))
