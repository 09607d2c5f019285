"""Activation functions by name, including maxout (which torch lacks).

Every hidden layer of every model gets its activation from ``make_activation``,
so ``model.activation`` switches it everywhere. Parameters of parametrised
activations come from keyword arguments: ``slope`` (leaky_relu) and ``pieces`` (maxout).

Maxout changes the width: it maps ``k * C`` inputs to ``C`` outputs, so the layer
before it must produce ``k`` times as many features; ``width_factor`` tells the
block builders by how much.
"""

from __future__ import annotations

from torch import Tensor, nn

from netcoach.registry import Registry

activations: Registry = Registry("activation")

for _name, _cls in [("relu", nn.ReLU), ("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh), ("elu", nn.ELU),
                    ("selu", nn.SELU), ("gelu", nn.GELU), ("softplus", nn.Softplus)]:
    activations.register(_name)(lambda cls=_cls, **_: cls())


@activations.register("leaky_relu")
def _leaky_relu(slope: float = 0.01, **_) -> nn.Module:
    """f(z) = max(z, a z) with slope a (the course: a <= 1)."""
    return nn.LeakyReLU(slope)


@activations.register("prelu")
def _prelu(**_) -> nn.Module:
    """Leaky ReLU whose slope is learned (one shared parameter, initialised to 0.25)."""
    return nn.PReLU()


@activations.register("rrelu")
def _rrelu(**_) -> nn.Module:
    """Randomized leaky ReLU: slope drawn from U(1/8, 1/3) in training, its mean in eval."""
    return nn.RReLU()


class Maxout(nn.Module):
    """Maxout over ``pieces`` groups of features: y_c = max_j x_{c*k + j}.

    Written here because torch has no maxout. Input (N, k*C, ...) -> output (N, C, ...);
    the k pieces of output feature c are the consecutive features c*k .. c*k+k-1.

    Example:
        >>> import torch
        >>> Maxout(2)(torch.tensor([[1., 5., -2., -3.]]))
        tensor([[ 5., -2.]])
    """

    def __init__(self, pieces: int = 2):
        super().__init__()
        if pieces < 1:
            raise ValueError(f"maxout needs pieces >= 1, got {pieces}")
        self.pieces = pieces

    def forward(self, x: Tensor) -> Tensor:
        n, width = x.shape[0], x.shape[1]
        if width % self.pieces:
            raise ValueError(f"maxout with {self.pieces} pieces needs a feature count divisible by "
                             f"{self.pieces}, got {width}")
        grouped = x.reshape(n, width // self.pieces, self.pieces, *x.shape[2:])
        return grouped.amax(dim=2)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


@activations.register("maxout")
def _maxout(pieces: int = 2, **_) -> nn.Module:
    return Maxout(pieces)


def make_activation(name: str, slope: float = 0.01, pieces: int = 2) -> nn.Module:
    """A fresh activation module, e.g. ``make_activation("leaky_relu", slope=0.1)``.

    Args:
        name: registry name (``activations.names()`` lists them).
        slope: negative slope of leaky_relu.
        pieces: number of pieces k of maxout.
    """
    return activations.get(name)(slope=slope, pieces=pieces)


def width_factor(name: str, pieces: int = 2) -> int:
    """How many times wider the layer before the activation must be (k for maxout, else 1)."""
    return pieces if name.lower() == "maxout" else 1
