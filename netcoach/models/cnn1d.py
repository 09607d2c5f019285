"""A 1-D CNN for signals (N, C, L): ``depth`` (default 3) blocks of conv(1x5)-norm-act (+ max-pool
by 2 while the signal is longer than 4), channels doubling from ``width/4``, then global
average pooling over the length and a linear head. Built from ``Blocks.conv1d``, so the
activation, normalization, dropout and init options apply as in the image CNN."""

from __future__ import annotations

from torch import nn

from netcoach.config import ModelConfig
from netcoach.models.network import Network
from netcoach.models.registry import models, signal_shape
from netcoach.nn.blocks import Blocks

DEFAULT_DEPTH = 3


@models.register("cnn1d")
def cnn1d(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> Network:
    channels, length = signal_shape("cnn1d", input_shape)
    blocks = Blocks(cfg, default_norm="batch")
    width = max(cfg.width // 4, 8)
    layers: list[nn.Module] = [*blocks.input_dropout(), *blocks.signal_input(channels)]
    for _ in range(DEFAULT_DEPTH if cfg.depth is None else cfg.depth):
        layers += blocks.conv1d(channels, width)
        if length > 4:  # pool while the signal is long enough to keep detail
            layers.append(nn.MaxPool2d((1, 2)))
            length //= 2
        channels, width = width, width * 2
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Network(nn.Sequential(*layers), blocks.head(channels, num_classes), blocks.init)
