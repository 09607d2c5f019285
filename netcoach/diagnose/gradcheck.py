"""Numerical gradient check: autograd vs central finite differences, in float64.

    df/dθ ≈ (f(θ + ε) − f(θ − ε)) / 2ε         relative error = |a − n| / max(|a|, |n|, floor)

Written here rather than calling ``torch.autograd.gradcheck`` because that one
answers pass/fail and builds the full Jacobian over every input (two forward passes
per parameter: far too slow for a whole network); the course's recipe wants the
error itself, so we check a few coordinates of every parameter tensor (the one with
the largest gradient plus random ones) and report the maximum relative error.
``tests/test_diagnose_gradcheck.py`` cross-checks the verdicts with
``torch.autograd.gradcheck`` on a small layer.

Thresholds (cs231n's guidance for double precision): <= 1e-4 pass, <= 1e-2 warn, above
fail. A coordinate above 1e-4 is re-measured with a 100x smaller step first, because a
ReLU/max-pool kink within ε of the point spoils the difference quotient (not the backward).
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from netcoach.diagnose.checks import result

PASS_BELOW = 1e-4
FAIL_ABOVE = 1e-2
FLOOR = 1e-6  # below this, |a - n| is float64 round-off of (f+ - f-)/2ε rather than a bug


def central_difference(f: Callable[[], float], value: torch.Tensor, index: int, eps: float) -> float:
    """(f(x + ε) − f(x − ε)) / 2ε for the element ``index`` of ``value`` (restored afterwards)."""
    # a position, not a flat view: a channels-last weight is not contiguous in logical order
    pos = tuple(int(i) for i in torch.unravel_index(torch.tensor(index), value.shape))
    original = value[pos].item()
    value[pos] = original + eps
    plus = f()
    value[pos] = original - eps
    minus = f()
    value[pos] = original
    return (plus - minus) / (2 * eps)


def relative_error(analytic: float, numeric: float, floor: float = FLOOR) -> float:
    """|a − n| / max(|a|, |n|, floor)."""
    return abs(analytic - numeric) / max(abs(analytic), abs(numeric), floor)


def _numeric(f, value: torch.Tensor, index: int, eps: float, analytic: float) -> tuple[float, float, int]:
    """Central difference and its relative error; on a mismatch, retry with a 100x smaller step.

    A ReLU or max-pool kink within ε of the point makes f non-smooth there, so the
    difference quotient is off although the backward is right (seen on a depth-3 CNN: a
    pre-activation 6.5e-6 from zero with ε = 1e-5). A wrong backward is wrong at every
    step size; a kink disappears at a smaller one. Returns (numeric, error, retried).
    """
    num = central_difference(f, value, index, eps)
    err = relative_error(analytic, num)
    if err <= PASS_BELOW:
        return num, err, 0
    num_small = central_difference(f, value, index, eps / 100)
    err_small = relative_error(analytic, num_small)
    return (num_small, err_small, 1) if err_small < err else (num, err, 1)


def _coordinates(grad: torch.Tensor, k: int, gen: torch.Generator) -> list[int]:
    """The largest-|gradient| coordinate plus up to k-1 random ones."""
    n = grad.numel()
    picks = [int(grad.abs().reshape(-1).argmax())]
    picks += torch.randint(0, n, (max(k - 1, 0),), generator=gen).tolist()
    return list(dict.fromkeys(picks))  # unique, order kept


def gradient_errors(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, eps: float = 1e-5,
                    coords: int = 4, seed: int = 0) -> tuple[dict[str, dict], int]:
    """Per parameter tensor: max relative error and the gradients behind it; and the number
    of coordinates re-measured with a smaller step (suspected kinks).

    ``model`` is copied to float64 on the CPU in eval mode (dropout off, fixed
    batch-norm statistics), so the loss is a deterministic function of the parameters.
    """
    net = copy.deepcopy(model).to("cpu", torch.float64).eval()
    x = x.detach().to("cpu", torch.float64 if x.is_floating_point() else x.dtype)
    y = y.detach().to("cpu")
    if y.is_floating_point():
        y = y.double()
    params = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    net.zero_grad(set_to_none=True)
    loss_fn(net(x), y).backward()

    def f() -> float:
        with torch.no_grad():
            return float(loss_fn(net(x), y))

    gen = torch.Generator().manual_seed(seed)
    errors: dict[str, dict] = {}
    kinks = 0
    for name, p in params:
        grad = p.grad if p.grad is not None else torch.zeros_like(p)
        worst = {"max_rel_error": 0.0, "analytic": 0.0, "numeric": 0.0, "index": 0}
        with torch.no_grad():
            for i in _coordinates(grad, coords, gen):
                a = float(grad.reshape(-1)[i])
                num, err, retried = _numeric(f, p.data, i, eps, a)
                kinks += retried
                if err >= worst["max_rel_error"]:
                    worst = {"max_rel_error": err, "analytic": a, "numeric": num, "index": i}
        errors[name] = worst
    return errors, kinks


def check_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, eps: float,
                    coords: int) -> dict:
    """The preflight record: max relative error over all checked coordinates."""
    errors, retried = gradient_errors(model, x, y, loss_fn, eps, coords)
    if not errors:
        return result("gradient_check", "warn", "no trainable parameters to check", params={})
    worst_name = max(errors, key=lambda n: errors[n]["max_rel_error"])
    worst = errors[worst_name]["max_rel_error"]
    details = dict(max_rel_error=worst, worst_param=worst_name, eps=eps, samples=len(x),
                   params={n: e["max_rel_error"] for n, e in errors.items()},
                   worst=errors[worst_name], retried_smaller_step=retried)
    text = (f"max relative error {worst:.1e} over {len(errors)} parameter tensors "
            f"(worst: {worst_name})")
    if worst <= PASS_BELOW:
        return result("gradient_check", "pass", text, **details)
    if worst <= FAIL_ABOVE:
        return result("gradient_check", "warn", text + ": borderline (a ReLU kink, or a subtle "
                      "error in a custom backward)", **details)
    a, n = errors[worst_name]["analytic"], errors[worst_name]["numeric"]
    return result("gradient_check", "fail", text + f": autograd {a:.4g} vs numeric {n:.4g}; a "
                  "custom backward is wrong", **details)
