"""The model contract: a named ``backbone`` and ``head``, so other features can hold on to them.

Every model built by ``build_model`` is a ``Network``:

    forward(x) = head(backbone(x))       features(x) = backbone(x), shape (N, feature_dim)

The head holds exactly the parameters of the last layer (an ``nn.Linear``), plus
parameter-free output operations around it (the classifier dropout before it,
ResNet-9's logit scale after it). Transfer learning replaces the head
(``replace_head``), feature extraction reads ``features``, distillation and
ensembles read the outputs; none of them needs to know the model family.

A user-supplied module can join through ``as_network``: an ``nn.Sequential`` is
split before its last ``nn.Linear``; anything else must be built as
``Network(backbone, head)`` and is refused with an error that says so.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from torch import Tensor, nn

from netcoach.nn.dropout import DirectDropout, DropConnectLinear, linear_layer
from netcoach.nn.init import InitScheme

# What a module needs to follow the contract.
CONTRACT = ("backbone", "head", "features", "replace_head")
# Parameter-free operations that act on the head's input and so belong to the head.
_HEAD_INPUT_OPS = (nn.Dropout, nn.AlphaDropout, DirectDropout)


class ModelContractError(TypeError):
    """A model lacks part of the contract (``backbone``, ``head``, ...); the message says
    what is missing and how to build a model that has it."""


class Network(nn.Module):
    """``head(backbone(x))`` with the head held by name.

    Args:
        backbone: maps a batch of inputs to (N, D) features (the penultimate representation).
        head: maps the features to the outputs; its parameters must be those of one
            ``nn.Linear`` (it may also hold parameter-free modules such as dropout).
        init: how new heads are initialised (``build_model`` passes the model's
            ``model.init`` options; the default keeps PyTorch's own initialisation).

    Example:
        >>> import torch
        >>> net = Network(nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU()), nn.Linear(3, 2))
        >>> net.feature_dim, net(torch.zeros(5, 4)).shape, net.features(torch.zeros(5, 4)).shape
        (3, torch.Size([5, 2]), torch.Size([5, 3]))
        >>> _ = net.replace_head(7); net(torch.zeros(5, 4)).shape
        torch.Size([5, 7])
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, init: Optional[InitScheme] = None):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.init_scheme = init or InitScheme()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))

    def features(self, x: Tensor) -> Tensor:
        """The backbone's output for ``x``: what the head receives, (N, feature_dim).
        Gradients flow as usual; wrap the call in ``torch.no_grad()`` to extract only."""
        return self.backbone(x)

    @property
    def head_layer(self) -> nn.Linear:
        """The head's one layer with parameters (its ``nn.Linear``)."""
        return head_layer(self.head)

    @property
    def feature_dim(self) -> int:
        """D, the width of the features (the head layer's ``in_features``)."""
        return self.head_layer.in_features

    @property
    def num_outputs(self) -> int:
        return self.head_layer.out_features

    def replace_head(self, num_outputs: int) -> nn.Module:
        """Give the model a new head with ``num_outputs`` outputs and return it.

        The new layer has the same input width, bias setting and kind (DropConnect
        included) as the old one, lives on the same device and dtype, and is freshly
        initialised with the model's init scheme; the parameter-free parts of the old
        head (dropout, output scale) are kept. The backbone is not touched. An optimizer
        built before the call still holds the old head's parameters: build it after.
        """
        if num_outputs < 1:
            raise ValueError(f"replace_head needs num_outputs >= 1, got {num_outputs}")
        old = self.head_layer
        in_sequential = isinstance(self.head, nn.Sequential) and any(m is old for m in self.head.children())
        if self.head is not old and not in_sequential:
            raise ModelContractError("replace_head needs the head to be an nn.Linear or an "
                                     "nn.Sequential with that Linear as a direct child")
        layer = self.init_scheme.apply(_linear_like(old, num_outputs))
        layer.to(device=old.weight.device, dtype=old.weight.dtype).train(old.training)
        self.head = layer if self.head is old else nn.Sequential(OrderedDict(
            (name, layer if m is old else m) for name, m in self.head.named_children()))
        return self.head


def head_layer(head: nn.Module) -> nn.Linear:
    """The one ``nn.Linear`` that holds all of ``head``'s parameters, or ModelContractError."""
    owners = [m for m in head.modules() if any(True for _ in m.parameters(recurse=False))]
    if len(owners) != 1 or not isinstance(owners[0], nn.Linear):
        kinds = ", ".join(type(m).__name__ for m in owners) or "none"
        raise ModelContractError(f"the head must hold the parameters of exactly one nn.Linear "
                                 f"(the last layer); this head has parameters in: {kinds}")
    return owners[0]


def _linear_like(layer: nn.Linear, out_features: int) -> nn.Linear:
    """A new layer of ``layer``'s kind and input width with ``out_features`` outputs."""
    bias = layer.bias is not None
    if isinstance(layer, DropConnectLinear):
        return linear_layer(layer.in_features, out_features, bias, "dropconnect", layer.p)
    if type(layer) is not nn.Linear:
        raise ModelContractError(f"replace_head cannot build a new {type(layer).__name__}; "
                                 "use an nn.Linear (or DropConnectLinear) as the head layer")
    return nn.Linear(layer.in_features, out_features, bias)


def missing_contract(module: nn.Module) -> list[str]:
    """The parts of the contract (``CONTRACT``) that ``module`` lacks; empty when it has all."""
    return [name for name in CONTRACT if not hasattr(module, name)]


def has_contract(module: nn.Module) -> bool:
    """Whether ``module`` has ``backbone``, ``head``, ``features`` and ``replace_head``."""
    return not missing_contract(module)


def as_network(module: nn.Module, purpose: str = "this feature") -> nn.Module:
    """``module`` itself when it follows the contract, else a ``Network`` view of it.

    An ``nn.Sequential`` whose last child with parameters is an ``nn.Linear`` is split
    there: that child (with any dropout right before it and the parameter-free
    children after it) becomes the head, the rest the backbone. The view shares the
    modules, so its parameters are ``module``'s own (its state-dict names gain a
    ``backbone.``/``head.`` prefix). Any other module raises ModelContractError naming
    what is missing and ``purpose`` (e.g. "transfer learning").
    """
    if has_contract(module):
        return module
    hint = ("build it with netcoach.models.Network(backbone, head), or pass an nn.Sequential "
            "whose last layer with parameters is the nn.Linear head")
    missing = ", ".join(f"`{name}`" for name in missing_contract(module))
    if not isinstance(module, nn.Sequential):
        raise ModelContractError(f"{purpose} needs the model contract, but the model "
                                 f"({type(module).__name__}) has no {missing}; {hint}")
    children = list(module)
    with_params = [i for i, m in enumerate(children) if any(True for _ in m.parameters())]
    if not with_params or not isinstance(children[with_params[-1]], nn.Linear):
        last = type(children[with_params[-1]]).__name__ if with_params else "no layer"
        raise ModelContractError(f"{purpose} needs the model contract, but this nn.Sequential's "
                                 f"last layer with parameters is {last}, not an nn.Linear head; {hint}")
    start = with_params[-1]
    while start > 0 and isinstance(children[start - 1], _HEAD_INPUT_OPS):
        start -= 1
    return Network(nn.Sequential(*children[:start]), nn.Sequential(*children[start:]))


__all__ = ["CONTRACT", "ModelContractError", "Network", "as_network", "has_contract", "head_layer",
           "missing_contract"]
