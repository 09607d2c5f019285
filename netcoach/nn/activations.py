"""Activation functions by name."""

from __future__ import annotations

from torch import nn

from netcoach.registry import Registry

activations: Registry = Registry("activation")

for _name, _cls in [("relu", nn.ReLU), ("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh), ("elu", nn.ELU),
                    ("selu", nn.SELU), ("gelu", nn.GELU), ("softplus", nn.Softplus)]:
    activations.register(_name)(_cls)


def make_activation(name: str) -> nn.Module:
    """A fresh activation module, e.g. ``make_activation("relu")``."""
    return activations.get(name)()
