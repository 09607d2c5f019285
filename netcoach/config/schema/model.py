"""The network's sections: the architecture and its building blocks ([model]), and what it
starts from and what trains when ([transfer]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from netcoach.config.schema.fields import opt


@dataclass(frozen=True)
class ModelConfig:
    name: str = opt("cnn", "model architecture (registry name)")
    width: int = opt(128, "hidden units per layer (mlp), base channels (cnn, cnn1d) or hidden size (rnn)", min=1, max=65536)
    depth: Optional[int] = opt(None, "hidden layers (mlp; default 2), conv blocks (cnn; default 3, "
                                     "which reaches >= 98% on MNIST where 2 does not; cnn1d: default 3) "
                                     "or recurrent layers (rnn; default 1)", min=1, max=1000)
    activation: str = opt("relu", "activation function of the hidden layers")
    dropout: float = opt(0.0, "dropout probability before the classifier layer", min=0.0, below=1.0)
    # every model builds its layers from these choices
    norm: str = opt("default", "normalization in every block: default (the model's own), batch, "
                               "layer, instance, group or none",
                    choices=("default", "batch", "layer", "instance", "group", "none"))
    norm_position: str = opt("before", "place the normalization before or after the activation",
                             choices=("before", "after"))
    norm_scale: str = opt("learned", "the scale (gamma) of every normalization layer: learned, or fixed "
                                     "at 1 (not trained, as airbench)", choices=("learned", "fixed"))
    norm_groups: int = opt(8, "groups of group norm (rounded down to a divisor of each layer's width)", min=1)
    block_dropout: float = opt(0.0, "dropout probability after every hidden block (or of its weights "
                                    "for dropconnect)", min=0.0, below=1.0)
    dropout_mode: str = opt("inverted", "dropout variant of model.dropout and model.block_dropout",
                            choices=("inverted", "direct", "spatial", "alpha", "dropconnect"))
    input_dropout: float = opt(0.0, "dropout probability applied to the input features", min=0.0, below=1.0)
    init: str = opt("default", "weight init of Linear/Conv layers: default, xavier_uniform, "
                               "xavier_normal, he_uniform, he_normal, lecun_normal, normal, "
                               "dirac (conv layers: the first C_in filters pass their input "
                               "channel through, the rest and Linear layers as default) "
                               "(glorot_*/kaiming_* are aliases)")
    init_std: float = opt(0.01, "standard deviation of init normal (the course uses 0.001 for a "
                                "linear classifier)", above=0.0)
    bias_init: str = opt("default", "bias init: default (as built), zeros, constant (bias_value), or "
                                    "prior (the output layer's bias starts at the training split's class "
                                    "prior: log p for softmax, logit p for binary and multilabel)",
                         choices=("default", "zeros", "constant", "prior"))
    bias_value: float = opt(0.0, "the constant of bias_init constant")
    leaky_slope: float = opt(0.01, "negative slope of activation leaky_relu")
    maxout_pieces: int = opt(2, "pieces k of activation maxout (the layer before it is k times wider)", min=1, max=64)
    vgg_layout: str = opt("vgg11", "vgg stages: vgg11, vgg13, vgg16, vgg19 or channels and M "
                                   "(max-pool) separated by commas, e.g. 64,M,128,M")
    resnet_depth: int = opt(20, "resnet depth: 20, 32, 44, 56, 110 (CIFAR ResNets) or 18, 34", choices=(18, 20, 32, 34, 44, 56, 110))
    width_mult: float = opt(1.0, "multiply the channel counts of lenet5, vgg, resnet, resnet9", above=0.0, max=64.0)
    rnn_cell: str = opt("gru", "rnn: the recurrent cell (model.width is its hidden size, model.depth "
                               "its layers)", choices=("gru", "lstm"))
    bidirectional: bool = opt(False, "rnn: read the sequence in both directions")
    init_from: Optional[str] = opt(None, "start from trained weights: a run folder (its best weights), "
                                         "a .safetensors file or a .pt/.pth state dict (tensors only, "
                                         "never code); keys are matched by name")


@dataclass(frozen=True)
class TransferConfig:
    freeze: str = opt("none", "what does not train at first: none, backbone (all but the head) or N "
                              "(the first N blocks of the backbone); frozen BatchNorm stays in eval mode")
    unfreeze_epoch: int = opt(0, "train the frozen part again after this many epochs (0: it stays frozen)")
    backbone_lr_mult: float = opt(1.0, "the backbone's lr is optim.lr times this (discriminative lr)")
    layer_decay: float = opt(1.0, "layer-wise lr decay (timm): block b of B gets lr x layer_decay^(B - b), "
                                  "the head lr x 1")
