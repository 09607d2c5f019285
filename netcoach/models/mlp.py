"""Multi-layer perceptron: ``depth`` hidden layers of ``width`` units."""

from __future__ import annotations

import math

from torch import nn

from netcoach.config import ModelConfig
from netcoach.models.registry import models
from netcoach.nn.activations import make_activation


@models.register("mlp")
def mlp(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(cfg.depth):
        layers += [nn.Linear(fan_in, cfg.width), make_activation(cfg.activation)]
        fan_in = cfg.width
    if cfg.dropout > 0:
        layers.append(nn.Dropout(cfg.dropout))
    layers.append(nn.Linear(fan_in, num_classes))
    return nn.Sequential(*layers)
