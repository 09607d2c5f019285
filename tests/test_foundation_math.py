"""The course's worked examples for the linear softmax classifier (lecture 003)."""

import math

import torch
import torch.nn.functional as F

import netcoach
from netcoach.tasks import build_task


def test_softmax_worked_example():
    # Scores of cat / dog / alpaca -> exp -> normalise: (3.83, -0.21, 0.74) -> (0.94, 0.02, 0.04).
    scores = torch.tensor([3.83, -0.21, 0.74], dtype=torch.float64)
    u = scores.exp()
    assert torch.allclose(u, torch.tensor([46.1, 0.81, 2.10], dtype=torch.float64), atol=0.05)
    p = F.softmax(scores, dim=0)
    assert torch.allclose(p, torch.tensor([0.94, 0.02, 0.04], dtype=torch.float64), atol=0.005)
    # The task's loss is -log of the true class's softmax probability.
    loss = build_task().loss(scores[None], torch.tensor([0]))
    assert math.isclose(loss.item(), -math.log(p[0].item()), rel_tol=1e-6)


def test_initial_loss_is_ln_k(quick_overrides):
    """A freshly initialised 10-class classifier predicts ~uniformly: loss ~ ln 10 = 2.302."""
    for model in ("linear", "mlp", "cnn"):
        cfg = netcoach.load_config(overrides={**quick_overrides, "model.name": model})
        trainer = netcoach.build_trainer(cfg)
        x, y = next(iter(trainer.loaders["train"]))
        with torch.no_grad():
            loss = trainer.task.loss(trainer.model(x), y).item()
        assert abs(loss - math.log(10)) < 0.1, (model, loss)


def test_linear_softmax_gradient_matches_autograd():
    """dL/dW = 1/N sum (p_hat - p) x^T and dL/db = 1/N sum (p_hat - p)  (K x D and K)."""
    gen = torch.Generator().manual_seed(0)
    n, d, k = 32, 7, 5
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randint(0, k, (n,), generator=gen)
    w = (torch.randn(k, d, generator=gen, dtype=torch.float64) * 0.001).requires_grad_()  # N(0, 0.001) as in the course
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(x @ w.T + b, y)
    loss.backward()
    p_hat = F.softmax(x @ w.T + b, dim=1).detach()
    p = F.one_hot(y, k).double()
    grad_w = (p_hat - p).T @ x / n
    grad_b = (p_hat - p).mean(0)
    assert torch.allclose(w.grad, grad_w, atol=1e-12)
    assert torch.allclose(b.grad, grad_b, atol=1e-12)
