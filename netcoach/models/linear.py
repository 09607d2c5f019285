"""Linear softmax classifier (softmax regression): scores s = W x + b."""

from __future__ import annotations

import math

from torch import nn

from netcoach.config import ModelConfig
from netcoach.models.registry import models
from netcoach.models.network import Network
from netcoach.nn.blocks import Blocks


@models.register("linear")
def linear(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> Network:
    """Flatten the input and map it to ``num_classes`` scores with one affine layer.

    The course initialises it as ``w = 1e-3 * randn``: ``model.init normal``,
    ``model.init_std 0.001``.
    """
    blocks = Blocks(cfg)
    backbone = nn.Sequential(nn.Flatten(), *blocks.input_dropout())  # features: the flat pixels
    return Network(backbone, blocks.head(math.prod(input_shape), num_classes), blocks.init)
