"""Building blocks: activations (and, later, norms, dropout variants, init schemes)."""

from netcoach.nn.activations import activations, make_activation

__all__ = ["activations", "make_activation"]
