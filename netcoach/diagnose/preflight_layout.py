"""Preflight's layout check: dropout that runs before a batch-norm layer.

Dropout changes the variance of the units it keeps in training (inverted dropout scales
them by 1/(1-p); direct dropout zeroes them) and does nothing at test time. A batch-norm
layer after it learns its running variance from the training-time signal, so at test
time it normalizes a signal of another variance: the "variance shift" of Li et al.,
"Understanding the Disharmony between Dropout and Batch Normalization by Variance Shift"
(CVPR 2019, arXiv 2018). Their fixes: use dropout only after the last batch-norm layer
(before the classifier), or a lower p.

The order is the order the layers run in, recorded with forward pre-hooks on a copy of
the model for one small batch in eval mode, so user modules with their own ``forward``
are read as they run, not as they were registered.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from netcoach.diagnose.checks import result
from netcoach.nn.dropout import DirectDropout

# dropout of activations; DropConnect drops weights and is not what Li et al. measured
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
            DirectDropout)
BATCH_NORMS = (nn.modules.batchnorm._BatchNorm,)


def execution_order(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """(name, module) of every dropout and batch-norm layer of ``model`` in the order they
    run on ``x`` (a copy runs, in eval mode, without gradients)."""
    probe = copy.deepcopy(model).eval()
    order: list[tuple[str, nn.Module]] = []
    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: order.append((name, mod)))
             for name, m in probe.named_modules() if isinstance(m, DROPOUTS + BATCH_NORMS)]
    try:
        with torch.no_grad():
            probe(x)
    finally:
        for h in hooks:
            h.remove()
    return order


def check_dropout_before_batchnorm(model: nn.Module, x: torch.Tensor) -> dict:
    """WARN for each dropout layer (p > 0) with a batch-norm layer running after it."""
    order = execution_order(model, x[:2])
    found = []
    for i, (name, m) in enumerate(order):
        if isinstance(m, DROPOUTS) and m.p > 0:
            after = next((n for n, b in order[i + 1:] if isinstance(b, BATCH_NORMS)), None)
            if after is not None:
                found.append({"dropout": name, "p": float(m.p), "batch_norm": after})
    if not found:
        return result("dropout_bn", "pass", "no dropout runs before a batch-norm layer")
    first = found[0]
    more = f" (and {len(found) - 1} more dropout layers)" if len(found) > 1 else ""
    return result("dropout_bn", "warn",
                  f"dropout {first['dropout']} (p={first['p']:g}) runs before batch norm "
                  f"{first['batch_norm']}{more}: dropout changes the variance batch norm learns in "
                  f"training but not at test time (variance shift, Li et al. 2018); use dropout only "
                  f"after the last batch-norm layer (model.dropout before the classifier instead of "
                  f"model.block_dropout) or a lower p", layers=found)


__all__ = ["check_dropout_before_batchnorm", "execution_order"]
