"""The model of a run: built from the config (or the user's module), placed on the
device, and checked against the data before anything is trained or written."""

from __future__ import annotations

import os
from typing import Optional

import torch
from torch import nn

from netcoach.config import Config, ConfigError, NetcoachError
from netcoach.data import DataBundle
from netcoach.distributed.setup import convert_sync_bn, seed_rank
from netcoach.models import build_model
from netcoach.models.network import as_network
from netcoach.models.registry import check_normalized_input, count_parameters
from netcoach.tasks import Task
from netcoach.utils.runtime import Runtime

# weights, gradients and two optimizer moments (Adam), in fp32
BYTES_PER_PARAMETER = 4 * 4


def build_network(config: Config, bundle: DataBundle, task: Task, runtime: Runtime,
                  model: Optional[nn.Module] = None) -> nn.Module:
    """``model``, or the configured model initialised right after seeding torch with
    ``train.seed`` (so its init does not depend on how the data was loaded), on the
    runtime's device, in the configured memory format, with its BatchNorms synchronised
    across processes when asked."""
    tc = config.train
    if model is None:
        check_normalized_input(config.model, config.data.normalize, tuple(bundle.train.x.shape[1:]),
                               bundle.model_input_shape, task.num_outputs(bundle))
        check_model_fits(config, bundle.model_input_shape, task.num_outputs(bundle), runtime.device)
    torch.manual_seed(tc.seed)
    model = (model or build_model(config.model, bundle.model_input_shape,
                                  task.num_outputs(bundle))).to(runtime.device)
    if config.model.bias_init == "prior":
        task.init_output_bias(as_network(model, "model.bias_init prior").head_layer)
    if tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = convert_sync_bn(model, runtime, config.dist.sync_bn)
    seed_rank(tc.seed, runtime)  # dropout and other draws of torch's generator differ per rank
    return model


def check_model_fits(config: Config, input_shape, num_outputs: int, device: torch.device) -> None:
    """Refuse a configured model whose parameters alone would not fit in memory, before
    allocating it: it is built on torch's meta device, which allocates nothing."""
    try:
        with torch.device("meta"):
            n = count_parameters(build_model(config.model, tuple(input_shape), num_outputs), False)
    except Exception:  # noqa: BLE001 - the real build below raises the real error
        return
    if device.type == "cuda":
        memory = torch.cuda.get_device_properties(device).total_memory
    else:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if n * BYTES_PER_PARAMETER > memory:
        mc = config.model
        raise ConfigError(f"model: {mc.name} with model.width {mc.width}, model.depth {mc.depth} has "
                          f"{n:.3g} parameters ({n * BYTES_PER_PARAMETER / 1e9:.0f} GB for weights, "
                          f"gradients and optimizer moments) but {device} has {memory / 1e9:.0f} GB; "
                          f"lower model.width or model.depth")


def check_outputs(model: nn.Module, bundle: DataBundle, num_outputs: int) -> None:
    """A user's model must give one score per output the task needs (a label past its
    outputs would fail later, deep in torch). One sample, eval mode, no gradients: it
    changes no state and draws no random numbers."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(bundle.train.x[:1].to(next(model.parameters()).device).float())
    except Exception:  # noqa: BLE001 - the first training step reports the model's own error
        return
    finally:
        model.train(was_training)
    if out.dim() != 2 or out.shape[1] != num_outputs:
        raise NetcoachError(f"model: your model gives outputs of shape {tuple(out.shape)} for one "
                            f"sample, but this data needs (1, {num_outputs}) ({bundle.num_classes} "
                            f"classes: labels 0..{bundle.num_classes - 1}); make its last layer "
                            f"output {num_outputs}")
