"""Residual networks (He et al., 2016): the CIFAR ResNets and ResNet-18/34.

``model.resnet_depth`` picks the variant:

* 6n+2 (20, 32, 44, 56, 110): the CIFAR ResNets, three stages of n basic blocks
  with 16, 32, 64 channels; downsampling shortcuts are parameter-free (option A:
  subsample and zero-pad the channels). ResNet-20 has 0.27 M parameters.
* 18, 34: the ImageNet ResNets with a CIFAR stem (3x3 conv, no max-pool), four
  stages of 64-512 channels with 1x1 conv projection shortcuts. ResNet-18 for 10
  classes has 11.2 M parameters.

A basic block is conv-norm-act-conv-norm, added to the shortcut, then activated.
``model.norm_position after`` moves the first norm after its activation; the
second stays before the sum, where the residual must be normalized.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from netcoach.config import ModelConfig
from netcoach.models.registry import image_shape, models, scaled
from netcoach.models.network import Network
from netcoach.nn.blocks import Blocks

CIFAR_DEPTHS = (20, 32, 44, 56, 110)
IMAGENET_STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class PadShortcut(nn.Module):
    """Option-A shortcut: take every ``stride``-th pixel and zero-pad the new channels."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.extra, self.stride = cout - cin, stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


class BasicBlock(nn.Module):
    """Two 3x3 conv blocks with a residual connection: act(F(x) + shortcut(x))."""

    def __init__(self, blocks: Blocks, cin: int, cout: int, stride: int, option_a: bool):
        super().__init__()
        self.branch = nn.Sequential(*blocks.conv(cin, cout, 3, stride, 1),
                                    *blocks.conv(cout, cout, 3, 1, 1, activate=False))
        if stride == 1 and cin == cout:
            self.shortcut: nn.Module = nn.Identity()
        elif option_a:
            self.shortcut = PadShortcut(cin, cout, stride)
        else:
            self.shortcut = nn.Sequential(*blocks.conv(cin, cout, 1, stride, 0, activate=False))
        self.act = blocks.act()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.branch(x) + self.shortcut(x))


def _stages(depth: int) -> tuple[list[int], tuple[int, ...], bool]:
    """(stage widths, blocks per stage, option-A shortcuts) of a ResNet depth."""
    if depth in CIFAR_DEPTHS:
        n = (depth - 2) // 6
        return [16, 32, 64], (n, n, n), True
    if depth in IMAGENET_STAGES:
        return [64, 128, 256, 512], IMAGENET_STAGES[depth], False
    raise ValueError(f"model.resnet_depth {depth} is not available; choose one of "
                     f"{', '.join(map(str, CIFAR_DEPTHS + tuple(IMAGENET_STAGES)))}")


@models.register("resnet")
def resnet(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> Network:
    channels = image_shape("resnet", input_shape)[0]
    if cfg.activation.lower() == "maxout":
        raise ValueError("activation maxout halves the width after each residual sum, which then "
                         "no longer matches the shortcut; choose another model.activation for resnet")
    widths, counts, option_a = _stages(cfg.resnet_depth)
    widths = [scaled(w, cfg.width_mult) for w in widths]
    blocks = Blocks(cfg, default_norm="batch")
    layers: list[nn.Module] = [*blocks.input_dropout(), *blocks.conv(channels, widths[0])]
    cin = widths[0]
    for stage, (width, count) in enumerate(zip(widths, counts)):
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            layers.append(BasicBlock(blocks, cin, width, stride, option_a))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Network(nn.Sequential(*layers), blocks.head(cin, num_classes), blocks.init)


class Residual(nn.Module):
    """x + f(x) (ResNet-9's residual: no activation after the sum)."""

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.f = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.f(x)


class Scale(nn.Module):
    """Multiply by a constant (ResNet-9 scales its logits by 1/8)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


@models.register("resnet9")
def resnet9(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> Network:
    """ResNet-9, the fast CIFAR-10 network (Myrtle.ai's DAWNBench entry, Page 2018).

    prep 64 -> [128, pool, res(128, 128)] -> [256, pool] -> [512, pool, res(512, 512)]
    -> global max-pool -> head: Linear(512, classes, no bias) -> x 0.125. 6.57 M parameters.
    """
    channels, height, width = image_shape("resnet9", input_shape)
    c = [scaled(w, cfg.width_mult) for w in (64, 128, 256, 512)]
    blocks = Blocks(cfg, default_norm="batch")
    size = min(height, width)

    def pool() -> list[nn.Module]:
        nonlocal size
        if size < 2:  # small inputs: keep at least 1x1
            return []
        size //= 2
        return [nn.MaxPool2d(2)]

    layers: list[nn.Module] = [*blocks.input_dropout(), *blocks.conv(channels, c[0])]
    layers += [*blocks.conv(c[0], c[1]), *pool(), Residual(*blocks.conv(c[1], c[1]), *blocks.conv(c[1], c[1]))]
    layers += [*blocks.conv(c[1], c[2]), *pool()]
    layers += [*blocks.conv(c[2], c[3]), *pool(), Residual(*blocks.conv(c[3], c[3]), *blocks.conv(c[3], c[3]))]
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
    head = blocks.head(c[3], num_classes, bias=False)
    head.add_module("scale", Scale(0.125))  # parameter-free, so it travels with a replaced head
    return Network(nn.Sequential(*layers), head, blocks.init)


__all__ = ["BasicBlock", "PadShortcut", "Residual", "Scale", "resnet", "resnet9"]
