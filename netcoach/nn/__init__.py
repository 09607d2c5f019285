"""Building blocks: activations, normalizations, dropout variants, init schemes, blocks."""

from netcoach.nn.activations import Maxout, activations, make_activation, width_factor
from netcoach.nn.dropout import (DirectDropout, DropConnectConv2d, DropConnectLinear, make_dropout)
from netcoach.nn.init import InitScheme, init_model, inits
from netcoach.nn.norms import make_norm, norms

__all__ = ["DirectDropout", "DropConnectConv2d", "DropConnectLinear", "InitScheme", "Maxout", "activations",
           "init_model", "inits", "make_activation", "make_dropout", "make_norm", "norms",
           "width_factor"]
