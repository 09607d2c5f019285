"""Weight initialization schemes by name, applied to every Linear/Conv layer of a model.

The formulas (n_in = fan-in, n_out = fan-out of the layer):

    xavier/glorot uniform   W ~ U[-sqrt(6/(n_in+n_out)), +sqrt(6/(n_in+n_out))], Var = 2/(n_in+n_out)
    xavier/glorot normal    W ~ N(0, 2/(n_in+n_out))
    he/kaiming uniform      W ~ U[-sqrt(6/n_in), +sqrt(6/n_in)],                Var = 2/n_in
    he/kaiming normal       W ~ N(0, 2/n_in)      (for ReLU networks)
    lecun normal            W ~ N(0, 1/n_in)      (for SELU networks)
    normal                  W ~ N(0, std^2)       (the course's linear classifier: 1e-3 * randn)
    dirac                   conv W[o, i] = delta(o = i) at the kernel's centre for the first
                            min(C_out, C_in) filters, the other filters and Linear layers as
                            built: the conv starts close to passing its input through
                            (airbench's init; torch.nn.init.dirac_ on those filters)

The sampling is torch.nn.init's; this module picks the function by name and
applies it. Normalization layers keep scale 1 and shift 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from netcoach.registry import Registry

inits: Registry = Registry("init scheme")
# "prior" leaves every bias as built here; the task then sets the output bias from the labels
BIAS_INITS = ("default", "zeros", "constant", "prior")

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@inits.register("default")
def _default(weight: torch.Tensor, std: float) -> None:
    """Keep the layer's own (PyTorch) initialization."""


@inits.register("xavier_uniform")
def _xavier_uniform(weight: torch.Tensor, std: float) -> None:
    nn.init.xavier_uniform_(weight)


@inits.register("xavier_normal")
def _xavier_normal(weight: torch.Tensor, std: float) -> None:
    nn.init.xavier_normal_(weight)


@inits.register("he_uniform")
def _he_uniform(weight: torch.Tensor, std: float) -> None:
    nn.init.kaiming_uniform_(weight, nonlinearity="relu")


@inits.register("he_normal")
def _he_normal(weight: torch.Tensor, std: float) -> None:
    nn.init.kaiming_normal_(weight, nonlinearity="relu")


@inits.register("lecun_normal")
def _lecun_normal(weight: torch.Tensor, std: float) -> None:
    fan_in = nn.init._calculate_fan_in_and_fan_out(weight)[0]
    nn.init.normal_(weight, 0.0, 1.0 / math.sqrt(fan_in))


@inits.register("normal")
def _normal(weight: torch.Tensor, std: float) -> None:
    nn.init.normal_(weight, 0.0, std)


@inits.register("dirac")
def _dirac(weight: torch.Tensor, std: float) -> None:
    if weight.dim() >= 3:  # conv: (C_out, C_in, *kernel); a Linear keeps its init
        nn.init.dirac_(weight[: min(weight.shape[0], weight.shape[1])])


for _alias, _target in [("glorot_uniform", "xavier_uniform"), ("glorot_normal", "xavier_normal"),
                        ("kaiming_uniform", "he_uniform"), ("kaiming_normal", "he_normal")]:
    inits.register(_alias)(inits.get(_target))


def init_model(model: nn.Module, scheme: str = "default", std: float = 0.01,
               bias: str = "default", bias_value: float = 0.0) -> nn.Module:
    """Re-initialize the weights (and biases) of every Linear/Conv layer in place.

    Args:
        model: any module; its Linear and Conv layers (DropConnect ones included) are touched.
        scheme: an ``inits`` name; "default" leaves the weights as built.
        std: standard deviation for ``scheme="normal"`` (e.g. 0.001 as in the course).
        bias: "default" (as built), "zeros" or "constant" (``bias_value``).
        bias_value: the constant for ``bias="constant"``.

    Example:
        >>> layer = init_model(nn.Linear(4, 2), "normal", std=1e-3, bias="zeros")
        >>> float(layer.bias.abs().sum())
        0.0
    """
    weight_init: Callable = inits.get(scheme)
    if bias not in BIAS_INITS:
        raise ValueError(f"unknown bias init '{bias}'; available: {', '.join(BIAS_INITS)}")
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, _WEIGHTED):
                continue
            weight_init(module.weight, std)
            if module.bias is not None and bias not in ("default", "prior"):
                module.bias.fill_(0.0 if bias == "zeros" else bias_value)
    return model


@dataclass(frozen=True)
class InitScheme:
    """A model's init options, kept so that layers added later (a new classifier head)
    are initialised the way the rest of the model was.

    Example:
        >>> layer = InitScheme("normal", std=1e-3, bias="zeros").apply(nn.Linear(4, 2))
        >>> float(layer.bias.abs().sum())
        0.0
    """

    scheme: str = "default"
    std: float = 0.01
    bias: str = "default"
    bias_value: float = 0.0

    def apply(self, module: nn.Module) -> nn.Module:
        """``init_model`` with these options (in place; returns ``module``)."""
        return init_model(module, self.scheme, self.std, self.bias, self.bias_value)
