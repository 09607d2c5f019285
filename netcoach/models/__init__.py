"""Model architectures, one family per file, built by name from the config.

A builder is ``(ModelConfig, input_shape, num_classes) -> Network`` whose output
is (batch, num_classes) raw scores (logits: the loss applies softmax itself). A
``Network`` names its ``backbone`` and ``head`` (the contract in ``network.py``),
which transfer learning, feature extraction and distillation rely on.
Every family builds its layers with ``netcoach.nn.blocks.Blocks``, so the
activation, normalization, dropout and init options apply to all of them.
"""

from netcoach.models.network import (ModelContractError, Network, as_network, has_contract,
                                     missing_contract)
from netcoach.models.registry import build_model, count_parameters, models
from netcoach.models.summary import conv_output_size, format_summary, summarize
from netcoach.models import airbench, autoencoder, cnn, cnn1d, lenet, linear, mlp, resnet, rnn, vgg  # noqa: F401  (register the families)

__all__ = ["ModelContractError", "Network", "as_network", "build_model", "conv_output_size",
           "count_parameters", "format_summary", "has_contract", "missing_contract", "models",
           "summarize"]
