"""Update rules the course gives that torch.optim does not implement.

* ``AdamNoBiasCorrection`` -- the course's first Adam formula (lecture 000):
  ``v <- a v + (1-a) g``, ``u <- b u + (1-b) g^2``, ``theta <- theta - lr v / (sqrt(u) + eps)``.
  ``torch.optim.Adam`` always divides the moments by ``1 - beta^t``; there is no switch.
* ``AdaDeltaSum`` -- AdaDelta as written on the course's slide (lecture 001), whose
  squared-gradient accumulator is a running *sum* (Adagrad's), not the running
  average of Zeiler's paper that ``torch.optim.Adadelta`` implements.

Epsilon placement follows torch: outside the root for Adam (as ``torch.optim.Adam``)
and inside for AdaDelta (as ``torch.optim.Adadelta``), so the variants differ from
their torch siblings only in the one formula change. The course writes
``sqrt(u + eps)`` for Adam; with eps = 1e-8 the two agree to ~1e-8 relative
(tests compare both ways).
"""

from __future__ import annotations

import torch


class _PerParameterOptimizer(torch.optim.Optimizer):
    """The loop both variants share: closure, L2 term added to the gradient, lazy state.

    Subclasses name their state buffers in ``buffers`` and define
    ``update(p, grad, state, group)``, the rule itself.
    """

    buffers: tuple[str, ...] = ()

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state.update({name: torch.zeros_like(p) for name in self.buffers})
                state["step"] += 1
                self.update(p, grad, state, group)
        return loss


class AdamNoBiasCorrection(_PerParameterOptimizer):
    """Adam without bias correction (written here: torch.optim.Adam has no such switch).

    Args:
        params: parameters or parameter groups.
        lr: step size.
        betas: (beta1, beta2) decay of the first and second moment.
        eps: added to sqrt(u) in the denominator.
        weight_decay: L2 term added to the gradient (as torch.optim.Adam).
    """

    buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def update(self, p, grad, state, group) -> None:
        beta1, beta2 = group["betas"]
        m, u = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(grad, 1 - beta1)                       # m <- b1 m + (1-b1) g
        u.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        p.addcdiv_(m, u.sqrt().add_(group["eps"]), value=-group["lr"])


class AdaDeltaSum(_PerParameterOptimizer):
    """AdaDelta with a running sum of squared gradients, as on the course's slide.

    ``v <- v + g^2``; ``dw = -sqrt(s + eps) / sqrt(v + eps) * g``; ``w <- w + lr dw``;
    ``s <- rho s + (1 - rho) dw^2`` (the course has no lr: keep ``lr = 1``).

    Args:
        params: parameters or parameter groups.
        lr: multiplier of the update (1.0 in the course).
        rho: decay of the running average of squared updates (the course's gamma).
        eps: inside both roots.
        weight_decay: L2 term added to the gradient.
    """

    buffers = ("square_sum", "acc_delta")

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def update(self, p, grad, state, group) -> None:
        rho, eps = group["rho"], group["eps"]
        v, s = state["square_sum"], state["acc_delta"]
        v.addcmul_(grad, grad)
        delta = s.add(eps).sqrt_().div_(v.add(eps).sqrt_()).mul_(grad)
        p.add_(delta, alpha=-group["lr"])
        s.mul_(rho).addcmul_(delta, delta, value=1 - rho)
