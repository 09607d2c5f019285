"""Model architectures, one family per file, built by name from the config.

A builder is ``(ModelConfig, input_shape, num_classes) -> nn.Module`` whose output
is (batch, num_classes) raw scores (logits: the loss applies softmax itself).
Every family builds its layers with ``netcoach.nn.blocks.Blocks``, so the
activation, normalization, dropout and init options apply to all of them.
"""

from netcoach.models.registry import build_model, count_parameters, models
from netcoach.models.summary import conv_output_size, format_summary, summarize
from netcoach.models import cnn, lenet, linear, mlp, resnet, vgg  # noqa: F401  (register the families)

__all__ = ["build_model", "conv_output_size", "count_parameters", "format_summary", "models",
           "summarize"]
