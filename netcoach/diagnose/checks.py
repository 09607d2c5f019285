"""The course's "check before training" steps that need one forward pass.

- output layer vs loss: cross-entropy expects raw scores (logits), one per class; a value
  output must be able to reach the targets (the task's ``output_kind`` says which applies);
- initial loss: the task's ``expected_initial_loss``; with random predictions
  q_n ~ [1/K, ..., 1/K] the softmax cross-entropy starts at L = -log(1/K) = ln K
  (2.302 for 10 classes);
- units at initialisation: dead ReLUs and saturated sigmoid/tanh units per layer.

Each check returns ``{"check", "status": pass|warn|fail, "reason", "details"}``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from netcoach.diagnose.units import layer_map, probe, summarise
from netcoach.tasks.base import PreflightWords

# The last module types that turn scores into something cross-entropy does not expect.
PROBABILITY_OUTPUTS = (nn.Softmax, nn.Softmax2d)


def result(check: str, status: str, reason: str, **details) -> dict:
    """One check's record (the summary["preflight"] contract)."""
    return {"check": check, "status": status, "reason": reason, "details": details}


def last_leaf(model: nn.Module) -> nn.Module | None:
    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    return leaves[-1] if leaves else None


@torch.no_grad()
def check_output_layer(out: torch.Tensor, target: torch.Tensor, num_classes: int, task,
                       last: nn.Module | None = None) -> dict:
    """Do the model's outputs fit the ``task``'s loss? ``out`` is one batch of outputs;
    ``num_classes`` is the number of outputs the task needs (``task.num_outputs``)."""
    name = "output_layer"
    kind = type(last).__name__ if last is not None else "?"
    if not torch.isfinite(out).all():
        return result(name, "fail", "the untrained model already outputs NaN/inf", last_module=kind)
    if task.output_kind != "logits":
        return _check_regression_output(out, target, kind)
    if out.dim() != 2 or out.shape[1] != num_classes:
        return result(name, "fail", f"model outputs shape {tuple(out.shape[1:])} per sample but task "
                      f"{task.name} needs {num_classes} outputs here; the last layer needs {num_classes} outputs",
                      outputs=list(out.shape[1:]), classes=num_classes, last_module=kind)
    lo, hi = float(out.min()), float(out.max())
    details = dict(outputs=num_classes, min=lo, max=hi, last_module=kind)
    rows_sum_to_one = bool(torch.allclose(out.sum(1), torch.ones(len(out), device=out.device), atol=1e-3))
    if (lo >= 0 and hi <= 1 and rows_sum_to_one) or isinstance(last, PROBABILITY_OUTPUTS):
        return result(name, "fail", "outputs are probabilities (rows sum to 1): softmax is applied "
                      "before cross-entropy, which expects raw scores (logits) and applies "
                      "log-softmax itself; remove the final softmax", **details)
    if hi <= 0 and torch.allclose(out.logsumexp(1), torch.zeros(len(out), device=out.device), atol=1e-3):
        return result(name, "warn", "outputs are log-probabilities (log-softmax): harmless before "
                      "cross-entropy (log-softmax is idempotent) but redundant", **details)
    if lo >= 0 and hi <= 1:
        return result(name, "warn", f"outputs are squashed into [0, 1] (last module {kind}); "
                      "cross-entropy expects unbounded logits", **details)
    if lo >= 0:
        return result(name, "warn", f"outputs are never negative (last module {kind}, e.g. ReLU on "
                      "the output); logits should be unbounded", **details)
    return result(name, "pass", f"{num_classes} unbounded scores (logits) per sample, as task "
                  f"{task.name} needs, range [{lo:.3g}, {hi:.3g}]", **details)


def _check_regression_output(out: torch.Tensor, target: torch.Tensor, kind: str) -> dict:
    """Regression: a bounded output cannot reach targets outside its range."""
    lo, hi = float(out.min()), float(out.max())
    t_lo, t_hi = float(target.min()), float(target.max())
    details = dict(min=lo, max=hi, target_min=t_lo, target_max=t_hi, last_module=kind)
    if lo >= 0 and hi <= 1 and (t_lo < 0 or t_hi > 1):
        return result("output_layer", "fail", f"outputs are squashed into [0, 1] (last module "
                      f"{kind}) but targets span [{t_lo:.3g}, {t_hi:.3g}]", **details)
    if lo >= 0 and t_lo < 0:
        return result("output_layer", "fail", f"outputs are never negative (last module {kind}) "
                      f"but targets go down to {t_lo:.3g}", **details)
    return result("output_layer", "pass", f"outputs range [{lo:.3g}, {hi:.3g}] can reach the "
                  f"targets [{t_lo:.3g}, {t_hi:.3g}]", **details)


def check_initial_loss(measured: float, expected: float, batch: int, what: str = "expected",
                       words: PreflightWords = PreflightWords()) -> dict:
    """Measured loss before any update vs the task's ``expected`` initial loss (``what``
    names it, e.g. ``ln 10`` for uniform predictions over 10 classes); ``words``, the
    task's ``preflight_words``, explain a miss in the task's terms.

    Pass within 25% of it, warn up to twice it (or below half of it, which random
    predictions cannot reach: suspect leaked labels), fail beyond.
    """
    details = dict(measured=measured, expected=expected, ratio=measured / expected, batch=batch)
    text = f"initial loss {measured:.3f} vs {what} = {expected:.3f}"
    if not math.isfinite(measured):
        return result("initial_loss", "fail", f"initial loss is {measured}", **details)
    if abs(measured - expected) <= 0.25 * expected:
        return result("initial_loss", "pass", text, **details)
    if measured > 2 * expected:
        return result("initial_loss", "fail", f"{text}: {words.too_high}", **details)
    if measured < 0.5 * expected:
        return result("initial_loss", "warn", f"{text}: {words.too_low}", **details)
    return result("initial_loss", "warn", f"{text}: {words.off}", **details)


def check_init_units(stats: dict[str, dict], dead_max: float, warn_above: float = 0.1) -> dict:
    """Flag layers whose activations are mostly dead (ReLU) or saturated (sigmoid/tanh).

    Fail when a layer's fraction exceeds ``dead_max``, warn above ``warn_above``.
    """
    per_layer = {n: {"dead_frac": s["dead_frac"], "saturated_frac": s["saturated_frac"]}
                 for n, s in stats.items()
                 if s["dead_frac"] is not None or s["saturated_frac"] is not None}
    if not per_layer:
        return result("init_units", "pass", "no ReLU/sigmoid/tanh modules to inspect", layers={})
    worst = {n: max(v for v in s.values() if v is not None) for n, s in per_layer.items()}
    notes = [f"{n}: {worst[n]:.0%} {'dead' if s['dead_frac'] is not None else 'saturated'}"
             for n, s in per_layer.items() if worst[n] > 0]
    flagged = [n for n, w in worst.items() if w > dead_max]
    if flagged:
        return result("init_units", "fail", f"at init {'; '.join(notes)} (limit {dead_max:.0%}): "
                      "check biases/init scale and input normalization", layers=per_layer,
                      flagged=flagged)
    if any(w > warn_above for w in worst.values()):
        return result("init_units", "warn", f"at init {'; '.join(notes)} (units that never fire on "
                      f"the batch get no gradient; He init or smaller negative biases help)",
                      layers=per_layer)
    return result("init_units", "pass", f"{len(per_layer)} activation layers, at most "
                  f"{max(worst.values()):.0%} dead/saturated units at init", layers=per_layer)


def forward_with_stats(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, dict]]:
    """One forward pass in training mode (as the first step sees it), with per-layer stats."""
    sink: dict = {}
    with torch.no_grad(), probe(layer_map(model), sink):
        out = model(x)
    return out, summarise(sink)
