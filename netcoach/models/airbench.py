"""airbench: the fast CIFAR-10 network of airbench94 (Keller Jordan, 2024), built from netcoach's blocks.

whiten (2x2 patch-whitening conv, frozen, set from the first training batch) -> activation
-> 3 stages of [conv3x3 -> max-pool 2 -> BN -> act, conv3x3 -> BN -> act] with widths
(64, 256, 256) x ``width_mult`` -> global max-pool -> Linear(no bias) x 1/9.

Batch norm uses airbench's settings (momentum 0.4 in torch's convention, i.e. 0.6 kept,
eps 1e-12). The whitening layer is ours: torch has no patch-whitening init; its arithmetic is
``netcoach.data.whiten``'s, shared with ``data.normalize zca`` (``data.zca_patch``). Its weights
are the eigenvectors of the 2x2-patch covariance scaled by 1/sqrt(eigenvalue + eps)
(and their negatives), computed once from the first batch the model trains on, so no
data is needed at build time; they are a buffer (never trained) saved with the
weights, so resume and ``load_run`` get the same layer. Its bias is trained.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netcoach.config import ModelConfig
from netcoach.data.whiten import moments, patch_rows, pca_whitening_rows
from netcoach.models.network import Network
from netcoach.models.registry import image_shape, models, scaled
from netcoach.models.resnet import Scale
from netcoach.nn.blocks import Blocks

WIDTHS = (64, 256, 256)
BN_MOMENTUM, BN_EPS = 0.4, 1e-12


class PatchWhitening(nn.Module):
    """A ``patch`` x ``patch`` conv (no padding) whose filters whiten the input's patches."""

    def __init__(self, channels: int, patch: int = 2, eps: float = 5e-4):
        super().__init__()
        self.patch, self.eps = patch, eps
        out = 2 * channels * patch * patch
        self.register_buffer("weight", torch.zeros(out, channels, patch, patch))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))
        self.bias = nn.Parameter(torch.zeros(out))
        self.out_channels = out

    @torch.no_grad()
    def fit(self, x: Tensor) -> None:
        """Set the filters from the patches of ``x`` (N, C, H, W): PCA whitening of their
        second moment (airbench does not center), by ``data.whiten``'s arithmetic."""
        c, p = x.shape[1], self.patch
        _, outer, count = moments(patch_rows(x, p, chunk=len(x)))
        filters = pca_whitening_rows(outer / count, self.eps).reshape(-1, c, p, p)
        self.weight.copy_(torch.cat([filters, -filters]).to(self.weight.dtype))
        self.ready.fill_(True)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and not bool(self.ready):
            self.fit(x)
        return F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype))


def _stage(blocks: Blocks, cin: int, cout: int) -> list[nn.Module]:
    first = blocks.conv(cin, cout)  # conv -> BN -> act; airbench pools right after the conv
    return [first[0], nn.MaxPool2d(2), *first[1:], *blocks.conv(cout, cout)]


@models.register("airbench")
def airbench(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> Network:
    channels, height, width = image_shape("airbench", input_shape)
    if min(height, width) < 16:
        raise ValueError(f"airbench needs images of at least 16x16 (three 2x poolings after a 2x2 "
                         f"whitening conv); got {height}x{width}")
    blocks = Blocks(cfg, default_norm="batch")
    whiten = PatchWhitening(channels)
    layers: list[nn.Module] = [*blocks.input_dropout(), whiten, blocks.act()]
    cin = whiten.out_channels
    for w in WIDTHS:
        layers += _stage(blocks, cin, scaled(w, cfg.width_mult))
        cin = scaled(w, cfg.width_mult)
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
    for m in layers:
        for bn in m.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.momentum, bn.eps = BN_MOMENTUM, BN_EPS
    head = blocks.head(cin, num_classes, bias=False)
    head.add_module("scale", Scale(1 / 9))
    return Network(nn.Sequential(*layers), head, blocks.init)


__all__ = ["PatchWhitening", "airbench"]
