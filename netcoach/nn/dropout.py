"""Dropout variants: inverted, direct, spatial, alpha, and DropConnect.

    inverted     zero each unit with prob. p and divide the rest by 1-p in training;
                 identity in eval (torch's nn.Dropout; the default)
    direct       zero units in training without rescaling; multiply by 1-p in eval
                 (the course's "Režim 1"; written here, torch has no such layer)
    spatial      zero whole channels of a feature map (Tompson et al.; nn.Dropout2d)
    alpha        keeps mean and variance of SELU activations (nn.AlphaDropout)
    dropconnect  zero individual weights of a Linear/Conv layer in training; eval uses
                 the expected weights (1-p) W (Wan et al.; written here)
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

MODES = ("inverted", "direct", "spatial", "alpha", "dropconnect")


class DirectDropout(nn.Module):
    """Dropout without train-time scaling: train y = m * x, eval y = (1-p) x.

    Written here because torch only has inverted dropout. In training the expected
    output is (1-p) x, so eval multiplies by 1-p to give the next layer the same
    "energy" it was trained with.

    Example:
        >>> import torch
        >>> DirectDropout(0.4).eval()(torch.ones(3))
        tensor([0.6000, 0.6000, 0.6000])
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        _check_p(p)
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x * (1.0 - self.p)
        keep = torch.rand_like(x) >= self.p
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _check_p(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")


class _DropConnectMixin:
    """Shared mask logic of the DropConnect layers (no rescaling, like the paper).

    Training draws a fresh Bernoulli(1-p) mask over the weights each forward;
    eval uses E[M * W] = (1-p) W. ``fixed_mask`` (if set) replaces the random mask,
    which makes the layer deterministic for gradient checks.
    """

    p: float
    fixed_mask: Optional[Tensor]

    def masked_weight(self) -> Tensor:
        weight = self.weight
        if not self.training:
            return weight * (1.0 - self.p)
        mask = self.fixed_mask
        if mask is None:
            mask = torch.rand_like(weight) >= self.p
        return weight * mask.to(weight.dtype)


class DropConnectLinear(_DropConnectMixin, nn.Linear):
    """``nn.Linear`` whose weights are dropped with probability ``p`` in training."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, p: float = 0.5):
        super().__init__(in_features, out_features, bias)
        _check_p(p)
        self.p, self.fixed_mask = p, None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.masked_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


class DropConnectConv2d(_DropConnectMixin, nn.Conv2d):
    """``nn.Conv2d`` whose kernel weights are dropped with probability ``p`` in training."""

    def __init__(self, *args, p: float = 0.5, **kwargs):
        super().__init__(*args, **kwargs)
        _check_p(p)
        self.p, self.fixed_mask = p, None

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.masked_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


def make_dropout(mode: str, p: float, spatial: bool) -> nn.Module:
    """The dropout layer for ``mode`` after a layer's output (``spatial``: (N, C, H, W) maps).

    ``dropconnect`` acts on weights, not outputs, so here it gives the identity: the
    model builders use ``linear_layer``/``conv_layer`` to get DropConnect layers.
    Spatial and alpha dropout on flat features reduce to element-wise dropout.
    """
    if mode not in MODES:
        raise ValueError(f"unknown dropout mode '{mode}'; available: {', '.join(MODES)}")
    if p == 0.0 or mode == "dropconnect":
        return nn.Identity()
    if mode == "direct":
        return DirectDropout(p)
    if mode == "spatial":
        return nn.Dropout2d(p) if spatial else nn.Dropout(p)
    if mode == "alpha":
        return nn.FeatureAlphaDropout(p) if spatial else nn.AlphaDropout(p)
    return nn.Dropout(p)


def linear_layer(in_features: int, out_features: int, bias: bool = True, mode: str = "inverted",
                 p: float = 0.0) -> nn.Linear:
    """``nn.Linear``, or ``DropConnectLinear`` when ``mode == "dropconnect"`` and p > 0."""
    if mode == "dropconnect" and p > 0:
        return DropConnectLinear(in_features, out_features, bias, p=p)
    return nn.Linear(in_features, out_features, bias)


def conv_layer(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0,
               bias: bool = True, mode: str = "inverted", p: float = 0.0) -> nn.Conv2d:
    """``nn.Conv2d``, or ``DropConnectConv2d`` when ``mode == "dropconnect"`` and p > 0."""
    if mode == "dropconnect" and p > 0:
        return DropConnectConv2d(cin, cout, kernel, stride, padding, bias=bias, p=p)
    return nn.Conv2d(cin, cout, kernel, stride, padding, bias=bias)
