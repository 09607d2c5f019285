"""A recurrent network for sequences (N, C, L): C features per step, L steps.

``model.rnn_cell`` (GRU or LSTM, torch's) with ``model.depth`` layers (default 1) of
``model.width`` hidden units, ``model.bidirectional`` to read both ways, and
``model.block_dropout`` between the recurrent layers. The last layer's final hidden
state (both directions' when bidirectional) feeds one dense block (``Blocks.dense``:
the activation, normalization and dropout options apply there), then the linear head.
``model.init`` applies to the dense block and the head; the recurrent weights keep
torch's initialisation, which is made for their gates.
"""

from __future__ import annotations

import torch
from torch import nn

from netcoach.config import ModelConfig
from netcoach.models.network import Network
from netcoach.models.registry import models, signal_shape
from netcoach.nn.blocks import Blocks

DEFAULT_DEPTH = 1


class _FinalState:
    """(N, C, L) -> (N, hidden * directions): the last layer's final hidden state.

    Mixed into torch's GRU/LSTM so that the recurrent layer is one leaf module with a
    tensor output, like every other layer (the summary and the monitors hook leaves)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = super().forward(x.transpose(1, 2))  # type: ignore[misc]  # steps along the length
        hidden = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        directions = 2 if self.bidirectional else 1  # type: ignore[attr-defined]
        return hidden[-directions:].transpose(0, 1).flatten(1)  # no len(x): the batch stays dynamic in exports


class GRUEncoder(_FinalState, nn.GRU):
    """``nn.GRU`` (batch first) returning the final hidden state of (N, C, L) sequences."""


class LSTMEncoder(_FinalState, nn.LSTM):
    """``nn.LSTM`` (batch first) returning the final hidden state of (N, C, L) sequences."""


CELLS = {"gru": GRUEncoder, "lstm": LSTMEncoder}


def recurrent(cell: str, channels: int, hidden: int, layers: int, bidirectional: bool,
              dropout: float = 0.0) -> nn.Module:
    """The ``model.rnn_cell`` encoder; ``dropout`` acts between layers (torch's, when > 1)."""
    if cell not in CELLS:
        raise ValueError(f"model.rnn_cell must be one of {', '.join(CELLS)}, got {cell!r}")
    return CELLS[cell](channels, hidden, layers, batch_first=True, bidirectional=bidirectional,
                       dropout=dropout if layers > 1 else 0.0)


@models.register("rnn")
def rnn(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> Network:
    channels, _ = signal_shape("rnn", input_shape)
    layers = DEFAULT_DEPTH if cfg.depth is None else cfg.depth
    if layers < 1:
        raise ValueError(f"model.depth: rnn needs at least 1 recurrent layer, got {layers}")
    blocks = Blocks(cfg, default_norm="none")
    encoder = recurrent(cfg.rnn_cell, channels, cfg.width, layers, cfg.bidirectional, cfg.block_dropout)
    features = cfg.width * (2 if cfg.bidirectional else 1)
    backbone = nn.Sequential(*blocks.input_dropout(), encoder, *blocks.dense(features, cfg.width))
    return Network(backbone, blocks.head(cfg.width, num_classes), blocks.init)
