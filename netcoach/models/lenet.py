"""LeNet-5 (LeCun et al., 1998), as usually built today.

conv 6@5x5 -> act -> pool 2 -> conv 16@5x5 -> act -> pool 2 -> 120 -> 84 -> classes.
On 32x32x1 inputs with 10 classes it has 61,706 parameters (156 + 2,416 + 48,120
+ 10,164 + 850). Smaller inputs (MNIST's 28x28) are zero-padded by the first
convolution so that it sees the 32x32 field the network was designed for.
"""

from __future__ import annotations

from torch import nn

from netcoach.config import ModelConfig
from netcoach.models.registry import image_shape, models, scaled
from netcoach.models.summary import conv_output_size
from netcoach.models.network import Network
from netcoach.nn.blocks import Blocks


@models.register("lenet5")
def lenet5(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> Network:
    channels, height, width = image_shape("lenet5", input_shape)
    blocks = Blocks(cfg, default_norm="none")
    c1, c2 = scaled(6, cfg.width_mult), scaled(16, cfg.width_mult)
    pad = max(0, (32 - min(height, width) + 1) // 2)  # 28x28 -> padding 2, as for MNIST
    layers: list[nn.Module] = [*blocks.input_dropout(), *blocks.conv(channels, c1, 5, 1, pad),
                               nn.MaxPool2d(2), *blocks.conv(c1, c2, 5, 1, 0), nn.MaxPool2d(2),
                               nn.Flatten()]
    h, w = height, width
    for kernel, padding in ((5, pad), (2, 0), (5, 0), (2, 0)):  # conv, pool, conv, pool
        stride = 2 if kernel == 2 else 1
        h, w = conv_output_size(h, kernel, padding, stride), conv_output_size(w, kernel, padding, stride)
    if h < 1 or w < 1:
        raise ValueError(f"lenet5 needs inputs of at least 12x12 pixels, got {height}x{width}")
    layers += blocks.dense(c2 * h * w, 120) + blocks.dense(120, 84)
    return Network(nn.Sequential(*layers), blocks.head(84, num_classes), blocks.init)
