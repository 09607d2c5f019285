"""The course's worked examples for the linear softmax classifier (lecture 003)."""

import math

import torch
import torch.nn.functional as F
from torch import nn

import netcoach
from netcoach.config import ModelConfig
from netcoach.models import build_model
from netcoach.tasks import build_task


def test_task_loss_on_the_softmax_worked_example():
    # Scores of cat / dog / alpaca (3.83, -0.21, 0.74) -> probabilities (0.94, 0.02, 0.04);
    # the loss of each true class is -log of its probability, here computed by hand.
    scores = [3.83, -0.21, 0.74]
    log_z = math.log(sum(math.exp(s) for s in scores))
    task = build_task()
    for label, rounded in enumerate([0.94, 0.02, 0.04]):
        loss = task.loss(torch.tensor([scores], dtype=torch.float64), torch.tensor([label])).item()
        assert math.isclose(loss, log_z - scores[label], rel_tol=1e-12)
        assert abs(math.exp(-loss) - rounded) < 0.005  # the course's rounded probabilities


def test_initial_loss_is_ln_k(quick_overrides):
    """A freshly initialised 10-class classifier predicts ~uniformly: loss ~ ln 10 = 2.302."""
    for model in ("linear", "mlp", "cnn"):
        cfg = netcoach.load_config(overrides={**quick_overrides, "model.name": model})
        trainer = netcoach.build_trainer(cfg)
        x, y = next(iter(trainer.loaders["train"]))
        with torch.no_grad():
            loss = trainer.task.loss(trainer.model(x), y).item()
        assert abs(loss - math.log(10)) < 0.1, (model, loss)


def test_linear_model_gradient_is_the_course_formula():
    """dL/dW = 1/N sum (p_hat - p) x^T and dL/db = 1/N sum (p_hat - p)  (K x D and K),
    for netcoach's linear model initialised as in the course (N(0, 0.001)) and its task's loss."""
    torch.manual_seed(0)
    n, d, k = 32, 7, 5
    model = build_model(ModelConfig(name="linear", init="normal", init_std=0.001), (d,), k).double()
    (layer,) = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert 0.0005 < layer.weight.std().item() < 0.002
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randint(0, k, (n,), generator=gen)
    build_task().loss(model(x), y).backward()
    with torch.no_grad():
        p_hat = torch.exp(x @ layer.weight.T + layer.bias)
        p_hat = p_hat / p_hat.sum(1, keepdim=True)
    p = F.one_hot(y, k).double()
    assert torch.allclose(layer.weight.grad, (p_hat - p).T @ x / n, atol=1e-12)
    assert torch.allclose(layer.bias.grad, (p_hat - p).mean(0), atol=1e-12)
