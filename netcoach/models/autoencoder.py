"""Encoder-decoder models for ``task.name autoencoder``: the encoder is the backbone, the
decoder is the head, so ``model.init_from AE_RUN`` gives a classifier the encoder.

Both encoders are built exactly like the classifier family they mirror, so their state-dict
names match it: ``mlp_ae``'s encoder is ``mlp``'s backbone (``Flatten`` then ``model.depth``
dense blocks of ``model.width`` units; the last one is the code), and ``cnn_ae``'s starts with
``cnn``'s conv blocks (then a dense code layer of ``model.width`` units in place of the
global average pooling, which would keep no spatial detail to reconstruct). A classifier
of the same family and sizes then loads every encoder tensor and gets a new head.

The decoder mirrors the encoder and ends in one output per input value, flat (N, D): the
task compares them with the inputs in [0, 1] units. ``model.dropout`` drops code units
(the decoder's input, as the classifier's ``model.dropout`` drops its head's input);
``model.input_dropout`` drops input values before the encoder, in training only (a
denoising autoencoder). It is held outside the backbone, because a parameter-free layer
inside it would shift the encoder's layer names away from the classifier's.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Optional

from torch import Tensor, nn

from netcoach.config import ModelConfig
from netcoach.models.cnn import DEFAULT_DEPTH as CNN_DEPTH
from netcoach.models.mlp import DEFAULT_DEPTH as MLP_DEPTH
from netcoach.models.network import ModelContractError, Network
from netcoach.models.registry import image_shape, models
from netcoach.nn.blocks import Blocks
from netcoach.nn.dropout import make_dropout
from netcoach.nn.init import InitScheme

AUTOENCODERS = ("mlp_ae", "cnn_ae")  # the registered models whose outputs reconstruct their inputs


class AutoencoderNetwork(Network):
    """``head(backbone(corrupt(x)))``: ``backbone`` the encoder to the (N, code_dim) code,
    ``head`` the decoder to the (N, D) reconstruction, ``corrupt`` the training-only input
    dropout (an identity without ``model.input_dropout``).

    The decoder has layers of its own, unlike a classifier's one-layer head, so
    ``feature_dim`` is the code width and ``replace_head(n)`` puts a classifier head (one
    ``nn.Linear`` from the code to ``n`` outputs) in the decoder's place.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, code_dim: int, output_dim: int,
                 init: Optional[InitScheme] = None, corrupt: Optional[nn.Module] = None):
        super().__init__(backbone, head, init)
        self.code_dim, self.output_dim = code_dim, output_dim
        self.corrupt = corrupt if corrupt is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(self.corrupt(x)))

    @property
    def head_layer(self) -> nn.Module:
        """The decoder's output layer (its last layer with parameters)."""
        owners = [m for m in self.head.modules() if any(True for _ in m.parameters(recurse=False))]
        if not owners:
            raise ModelContractError("the autoencoder's decoder has no layer with parameters")
        return owners[-1]

    @property
    def feature_dim(self) -> int:
        return self.code_dim

    @property
    def num_outputs(self) -> int:
        return self.output_dim

    def replace_head(self, num_outputs: int) -> nn.Module:
        """A classifier head in place of the decoder: ``fc``, a new ``nn.Linear(code_dim,
        num_outputs)`` initialised with the model's init scheme, on the decoder's device."""
        if num_outputs < 1:
            raise ValueError(f"replace_head needs num_outputs >= 1, got {num_outputs}")
        weight = next(self.head.parameters())
        layer = self.init_scheme.apply(nn.Linear(self.code_dim, num_outputs))
        layer.to(device=weight.device, dtype=weight.dtype).train(self.head.training)
        self.head = nn.Sequential(OrderedDict(fc=layer))
        self.output_dim = num_outputs
        return self.head


def _check_outputs(name: str, input_shape: tuple[int, ...], num_outputs: int) -> int:
    d = math.prod(input_shape)
    if num_outputs != d:
        raise ValueError(f"model {name}: an autoencoder outputs one value per input value ({d} for inputs "
                         f"of shape {tuple(input_shape)}), but the task needs {num_outputs} outputs; use it "
                         f"with task.name autoencoder (a classifier: model.name "
                         f"{name.removesuffix('_ae')} with model.init_from the autoencoder's run)")
    return d


def _code_dropout(blocks: Blocks) -> list[nn.Module]:
    drop = make_dropout(blocks.cfg.dropout_mode, blocks.cfg.dropout, spatial=False)
    return [] if isinstance(drop, nn.Identity) else [drop]


def _corrupt(blocks: Blocks) -> Optional[nn.Module]:
    found = blocks.input_dropout()
    return found[0] if found else None


@models.register("mlp_ae")
def mlp_ae(cfg: ModelConfig, input_shape: tuple[int, ...], num_outputs: int) -> AutoencoderNetwork:
    """Encoder: Flatten -> [Linear -> (norm) -> activation -> (dropout)] x depth (``mlp``'s
    backbone; the course's MNIST autoencoder is depth 1, width 256). Decoder: (code dropout)
    -> [dense block] x (depth - 1) -> Linear to the D inputs."""
    _check_outputs("mlp_ae", input_shape, num_outputs)
    blocks = Blocks(cfg, default_norm="none")
    depth = MLP_DEPTH if cfg.depth is None else cfg.depth
    if depth < 1:
        raise ValueError(f"model mlp_ae: model.depth must be >= 1 (the code layer), got {depth}")
    encoder: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(depth):
        encoder += blocks.dense(fan_in, cfg.width)
        fan_in = cfg.width
    decoder: list[nn.Module] = _code_dropout(blocks)
    for _ in range(depth - 1):
        decoder += blocks.dense(cfg.width, cfg.width)
    decoder.append(nn.Linear(cfg.width, num_outputs))
    return AutoencoderNetwork(nn.Sequential(*encoder), nn.Sequential(*decoder), cfg.width, num_outputs,
                              blocks.init, _corrupt(blocks))


@models.register("cnn_ae")
def cnn_ae(cfg: ModelConfig, input_shape: tuple[int, ...], num_outputs: int) -> AutoencoderNetwork:
    """Encoder: ``cnn``'s conv blocks (conv3x3-BN-act, 2x2 max-pool while the map is larger
    than 4x4, channels doubling from width/4) -> Flatten -> dense code of ``model.width``.
    Decoder: (code dropout) -> dense back to the last map -> per encoder stage in reverse,
    upsample to that stage's input size and a conv block halving the channels -> a 3x3
    convolution to the input channels (no activation) -> Flatten."""
    channels, height, width_px = image_shape("cnn_ae", input_shape)
    _check_outputs("cnn_ae", input_shape, num_outputs)
    blocks = Blocks(cfg, default_norm="batch")
    width = max(cfg.width // 4, 8)
    size = (height, width_px)
    encoder: list[nn.Module] = []
    stages: list[tuple[int, tuple[int, int]]] = []  # (input channels, input size) per pooled block
    cin = channels
    for _ in range(CNN_DEPTH if cfg.depth is None else cfg.depth):
        encoder += blocks.conv(cin, width)
        if min(size) > 4:  # the same pooling rule as ``cnn``, so the layer names match it
            stages.append((cin, size))
            encoder.append(nn.MaxPool2d(2))
            size = (size[0] // 2, size[1] // 2)
        cin, width = width, width * 2
    flat = cin * size[0] * size[1]
    encoder += [nn.Flatten(), *blocks.dense(flat, cfg.width)]
    decoder: list[nn.Module] = [*_code_dropout(blocks), *blocks.dense(cfg.width, flat),
                                nn.Unflatten(1, (cin, *size))]
    for i in reversed(range(len(stages))):
        stage_in, stage_size = stages[i]
        out = stage_in if i > 0 else cin  # the first stage's input is the image: keep the width
        decoder += [nn.Upsample(size=stage_size, mode="nearest"), *blocks.conv(cin, out)]
        cin = out
    decoder += [nn.Conv2d(cin, channels, 3, padding=1), nn.Flatten()]
    return AutoencoderNetwork(nn.Sequential(*encoder), nn.Sequential(*decoder), cfg.width, num_outputs,
                              blocks.init, _corrupt(blocks))
