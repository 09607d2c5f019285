"""A small CNN: ``depth`` blocks of conv3x3-BN-act (+ 2x2 max-pool while the map is
larger than 4x4), channels doubling from ``width/4``, then global average pooling
and a linear classifier. Works for any input size from 8x8 (digits) upwards."""

from __future__ import annotations

from torch import nn

from netcoach.config import ModelConfig
from netcoach.models.registry import models
from netcoach.nn.activations import make_activation


@models.register("cnn")
def cnn(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    if len(input_shape) != 3:
        raise ValueError(f"model 'cnn' needs image inputs (C, H, W), got shape {input_shape}; "
                         "use model.name mlp or linear for flat inputs")
    channels, size = input_shape[0], min(input_shape[1:])
    width = max(cfg.width // 4, 8)
    layers: list[nn.Module] = []
    for _ in range(cfg.depth):
        layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                   make_activation(cfg.activation)]
        if size > 4:  # pool while the feature map is large enough to keep spatial detail
            layers.append(nn.MaxPool2d(2))
            size //= 2
        channels, width = width, width * 2
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if cfg.dropout > 0:
        layers.append(nn.Dropout(cfg.dropout))
    layers.append(nn.Linear(channels, num_classes))
    return nn.Sequential(*layers)
