"""VGG (Simonyan & Zisserman, 2014) sized for 32x32 inputs (the CIFAR variant).

Stages of 3x3 conv blocks separated by 2x2 max-pools; five pools take 32x32 to
1x1x512, so the classifier is a single Linear(512, classes) instead of
ImageNet's three 4096-wide layers. ``model.vgg_layout`` names a standard layout or
lists channels and ``M`` (max-pool) by hand. A pool that would shrink a map below
1x1 (small inputs such as 8x8 digits) is skipped.
"""

from __future__ import annotations

from torch import nn

from netcoach.config import ModelConfig
from netcoach.models.registry import image_shape, models, scaled
from netcoach.models.network import Network
from netcoach.nn.blocks import Blocks

LAYOUTS: dict[str, list] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def parse_layout(text: str) -> list:
    """A layout name (``vgg16``) or ``"64,M,128,M"`` -> list of ints and ``"M"``."""
    if text.lower() in LAYOUTS:
        return LAYOUTS[text.lower()]
    items: list = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.upper() == "M":
            items.append("M")
        elif part.isdigit() and int(part) > 0:
            items.append(int(part))
        else:
            raise ValueError(f"model.vgg_layout: cannot read {part!r} in {text!r}; use one of "
                             f"{', '.join(LAYOUTS)} or channel counts and M, e.g. 64,M,128,M")
    if not any(isinstance(i, int) for i in items):
        raise ValueError(f"model.vgg_layout {text!r} has no conv layer")
    return items


@models.register("vgg")
def vgg(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> Network:
    """VGG with batch norm by default (as in the usual CIFAR training recipes)."""
    channels, height, width = image_shape("vgg", input_shape)
    blocks = Blocks(cfg, default_norm="batch")
    size = min(height, width)
    layers: list[nn.Module] = [*blocks.input_dropout()]
    for item in parse_layout(cfg.vgg_layout):
        if item == "M":
            if size >= 2:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            continue
        out = scaled(item, cfg.width_mult)
        layers += blocks.conv(channels, out)
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Network(nn.Sequential(*layers), blocks.head(channels, num_classes), blocks.init)
