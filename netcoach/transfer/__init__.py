"""Transfer learning: start from trained weights, freeze and unfreeze, discriminative
learning rates, backbone features for scikit-learn, and magnitude pruning.

See docs/transfer.md. Everything works on the model contract
(``netcoach.models.Network``: ``backbone``, ``head``, ``features``, ``replace_head``).
"""

from netcoach.transfer.freeze import Freezer, backbone_blocks, frozen_modules, lr_multipliers
from netcoach.transfer.setup import TransferSetup, prepare
from netcoach.transfer.weights import LoadReport, load_pretrained, match_state, read_state_dict

__all__ = ["Freezer", "LoadReport", "TransferSetup", "backbone_blocks", "frozen_modules",
           "load_pretrained", "lr_multipliers", "match_state", "prepare", "read_state_dict"]
