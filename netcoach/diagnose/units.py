"""Which modules are "layers", which activation follows each, and activation statistics.

Shared by the units-at-initialisation check and the live monitor, so both name
layers the same way (``model.named_modules()`` names, e.g. ``"1"`` or ``"features.0"``).

A layer is a leaf module with a weight of two or more dimensions (Linear, Conv*);
the first known activation module after it (before the next layer) is its
activation. Statistics are computed on the device and returned as 0-d tensors, so
callers decide when to synchronise.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from torch import nn

# Units that can "die": the output is exactly zero for every input.
DEAD_KINDS = (nn.ReLU, nn.ReLU6)
# Bounded units whose gradient vanishes near the bounds.
SATURATING_KINDS = (nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid)
ACTIVATION_KINDS = DEAD_KINDS + SATURATING_KINDS + (nn.ELU, nn.SELU, nn.GELU, nn.Softplus,
                                                    nn.LeakyReLU, nn.SiLU, nn.Mish, nn.PReLU)
# An output within 1% of the range from a bound counts as saturated: sigmoid < 0.01 or
# > 0.99 (local slope < 0.01, a 25x smaller gradient than at 0), |tanh| > 0.98 (slope < 0.04).
SATURATION_MARGIN = 0.01


@dataclass
class Layer:
    name: str
    module: nn.Module
    act_name: Optional[str] = None
    act: Optional[nn.Module] = None

    @property
    def weight(self) -> torch.Tensor:
        return self.module.weight


def layer_map(model: nn.Module) -> list[Layer]:
    """The model's weight layers in registration order, each with its activation (if any)."""
    layers: list[Layer] = []
    for name, module in model.named_modules():
        if next(module.children(), None) is not None:
            continue  # containers: their leaves are visited on their own
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
            layers.append(Layer(name, module))
        elif isinstance(module, ACTIVATION_KINDS) and layers and layers[-1].act is None:
            layers[-1].act_name, layers[-1].act = name, module
    return layers


def dead_fraction(out: torch.Tensor) -> torch.Tensor:
    """Fraction of units (dim 1: features or channels) that are zero for every sample/position.

    ReLU outputs are >= 0, so a unit is dead exactly when its maximum is 0 (one reduction).
    """
    if out.dim() < 2:
        return (out.amax() <= 0).float()
    dims = [0] + list(range(2, out.dim()))
    return (out.amax(dim=dims) <= 0).float().mean()


def saturation(module: nn.Module, out: torch.Tensor) -> torch.Tensor:
    """Fraction of outputs within ``SATURATION_MARGIN`` of the activation's bounds."""
    if isinstance(module, (nn.Sigmoid, nn.Hardsigmoid)):
        low, high = 0.0, 1.0
    elif isinstance(module, nn.Hardtanh):
        low, high = module.min_val, module.max_val
    else:  # tanh
        low, high = -1.0, 1.0
    margin = SATURATION_MARGIN * (high - low)  # 1% of the output range from either bound
    return ((out <= low + margin) | (out >= high - margin)).float().mean()


@torch.no_grad()
def output_stats(module: Optional[nn.Module], out: torch.Tensor,
                 nan: Optional[torch.Tensor] = None) -> torch.Tensor:
    """[mean, std, dead_frac, saturated_frac] of one output (NaN where not applicable).

    ``dead_frac`` is per unit: the fraction of units (features/channels) that are zero
    for every sample of the batch. ``saturated_frac`` is per output element. Few ops on
    purpose (the monitor calls this during training); ``nan`` may be a cached NaN scalar.
    """
    out = out.detach()
    if nan is None:
        nan = torch.full((), float("nan"), device=out.device)
    x = out.float()
    mean = x.mean()
    std = x.std() if out.numel() > 1 else nan  # (torch.std_mean is ~2x slower than both on CPU)
    dead = dead_fraction(out) if isinstance(module, DEAD_KINDS) else nan
    sat = saturation(module, out) if isinstance(module, SATURATING_KINDS) else nan
    return torch.stack([mean, std, dead, sat])


@contextmanager
def probe(layers: list[Layer], sink: dict[str, list[torch.Tensor]],
          clock: Optional[list[float]] = None) -> Iterator[None]:
    """Record ``output_stats`` of every forward pass into ``sink[layer_name]``.

    The activation after a layer is probed when it has one, otherwise the layer's own
    output (e.g. the logits of the last layer). ``clock[0]``, when given, accumulates
    the seconds spent in the hooks (so the monitor can report its full cost).
    """
    handles = []
    nans: dict = {}  # one NaN scalar per device, not one per call
    for layer in layers:
        target = layer.act if layer.act is not None else layer.module
        kind = layer.act

        def hook(_module, _inputs, output, name=layer.name, kind=kind):
            started = time.perf_counter()
            if isinstance(output, torch.Tensor):
                nan = nans.get(output.device)
                if nan is None:
                    nan = nans[output.device] = torch.full((), float("nan"), device=output.device)
                sink.setdefault(name, []).append(output_stats(kind, output, nan))
            if clock is not None:
                clock[0] += time.perf_counter() - started

        handles.append(target.register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def summarise(sink: dict[str, list[torch.Tensor]]) -> dict[str, dict]:
    """Average recorded stats per layer and read them (one host sync); NaN becomes None."""
    if not sink:
        return {}
    names = list(sink)
    means = torch.stack([torch.stack(sink[n]).nanmean(0) if len(sink[n]) > 1 else sink[n][0]
                         for n in names]).tolist()
    keys = ("act_mean", "act_std", "dead_frac", "saturated_frac")
    return {n: {k: (None if v != v else float(v)) for k, v in zip(keys, row)}
            for n, row in zip(names, means)}
