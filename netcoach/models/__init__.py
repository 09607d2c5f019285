"""Model architectures, one family per file, built by name from the config.

A builder is ``(ModelConfig, input_shape, num_classes) -> nn.Module`` whose output
is (batch, num_classes) raw scores (logits: the loss applies softmax itself).
"""

from netcoach.models.registry import build_model, count_parameters, models
from netcoach.models import cnn, linear, mlp  # noqa: F401  (register the families)

__all__ = ["build_model", "count_parameters", "models"]
