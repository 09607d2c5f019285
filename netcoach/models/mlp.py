"""Multi-layer perceptron: ``depth`` hidden layers of ``width`` units."""

from __future__ import annotations

import math

from torch import nn

from netcoach.config import ModelConfig
from netcoach.models.registry import models
from netcoach.models.network import Network
from netcoach.nn.blocks import Blocks

DEFAULT_DEPTH = 2  # hidden layers when model.depth is not set


@models.register("mlp")
def mlp(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> Network:
    """Flatten -> [Linear -> (norm) -> activation -> (dropout)] x depth -> classifier.

    No normalization unless ``model.norm`` asks for one.
    """
    blocks = Blocks(cfg, default_norm="none")
    layers: list[nn.Module] = [nn.Flatten(), *blocks.input_dropout()]
    fan_in = math.prod(input_shape)
    for _ in range(DEFAULT_DEPTH if cfg.depth is None else cfg.depth):
        layers += blocks.dense(fan_in, cfg.width)
        fan_in = cfg.width
    return Network(nn.Sequential(*layers), blocks.head(fan_in, num_classes), blocks.init)
