"""Gradient check: the central-difference formula by hand, and a custom layer with a wrong backward."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netcoach.diagnose.gradcheck import (
    central_difference,
    check_gradients,
    gradient_errors,
    relative_error,
)
from netcoach.tasks import Classification


def test_central_difference_by_hand():
    # f(x) = x^3 at x = 2, eps = 1e-3: ((2.001)^3 - (1.999)^3) / 0.002 = 3*2^2 + eps^2 = 12.000001
    x = torch.tensor([2.0], dtype=torch.float64)
    num = central_difference(lambda: float(x[0] ** 3), x, 0, 1e-3)
    assert num == pytest.approx(12.000001, abs=1e-9)
    assert x[0].item() == 2.0  # restored


def test_relative_error_by_hand():
    assert relative_error(1.0, 1.1) == pytest.approx(0.1 / 1.1)
    assert relative_error(-2.0, 2.0) == pytest.approx(2.0)
    assert relative_error(0.0, 0.0) == 0.0
    assert relative_error(1e-9, 0.0) == pytest.approx(1e-9 / 1e-6)  # floor guards round-off noise


class LinearFn(torch.autograd.Function):
    """y = x W^T + b with a hand-written backward; ``wrong`` drops the factor on grad W."""

    @staticmethod
    def forward(ctx, x, weight, bias, wrong):
        ctx.save_for_backward(x, weight)
        ctx.wrong = wrong
        return x @ weight.t() + bias

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_w = grad_out.t() @ x
        if ctx.wrong:
            grad_w = 0.5 * grad_w  # the deliberate bug
        return grad_out @ weight, grad_w, grad_out.sum(0), None


class CustomLinear(nn.Module):
    def __init__(self, n_in: int, n_out: int, wrong: bool = False):
        super().__init__()
        ref = nn.Linear(n_in, n_out)
        self.weight, self.bias, self.wrong = ref.weight, ref.bias, wrong

    def forward(self, x):
        return LinearFn.apply(x, self.weight, self.bias, self.wrong)


def _net(wrong: bool) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), CustomLinear(12, 8, wrong), nn.Tanh(), nn.Linear(8, 3))


def _batch():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(4, 12, generator=gen), torch.tensor([0, 1, 2, 1])


def test_correct_custom_layer_passes():
    x, y = _batch()
    r = check_gradients(_net(False), x, y, Classification().loss, eps=1e-5, coords=4)
    assert r["status"] == "pass", r
    assert r["details"]["max_rel_error"] < 1e-6


def test_wrong_backward_fails_and_names_the_parameter():
    x, y = _batch()
    r = check_gradients(_net(True), x, y, Classification().loss, eps=1e-5, coords=4)
    assert r["status"] == "fail"
    assert r["details"]["worst_param"] == "1.weight"
    assert r["details"]["max_rel_error"] == pytest.approx(0.5, abs=1e-4)  # |a - 2a| / |2a|


def test_verdicts_agree_with_torch_autograd_gradcheck():
    x = torch.randn(3, 5, dtype=torch.float64)
    w = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    for wrong in (False, True):
        torch_ok = torch.autograd.gradcheck(lambda w, b: LinearFn.apply(x, w, b, wrong), (w, b),
                                            raise_exception=False)
        layer = CustomLinear(5, 4, wrong).double()
        with torch.no_grad():
            layer.weight.copy_(w)
            layer.bias.copy_(b)
        ours, _ = gradient_errors(layer, x, torch.zeros(3, 4, dtype=torch.float64),
                               lambda out, t: (out * out).sum())
        ours_ok = max(e["max_rel_error"] for e in ours.values()) <= 1e-4
        assert torch_ok == ours_ok == (not wrong)


def test_a_relu_kink_is_not_reported_as_a_wrong_backward():
    # relu(w * x) with w * x = 5e-6 > 0: the step eps = 1e-5 crosses the kink at 0, so the
    # difference quotient is (relu(1.5e-5) - relu(-5e-6)) / 2e-5 = 0.75 instead of the slope 1.
    layer = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        layer.weight.fill_(5e-6)
    net = nn.Sequential(layer, nn.ReLU())
    x = torch.ones(1, 1, dtype=torch.float64)
    w = layer.weight.detach().clone()
    quotient = central_difference(lambda: float(torch.relu(w * 1.0).sum()), w, 0, 1e-5)
    assert quotient == pytest.approx(0.75)
    errors, retried = gradient_errors(net, x, torch.zeros(1, 1, dtype=torch.float64),
                                      lambda out, t: out.sum(), eps=1e-5, coords=1)
    assert retried == 1 and errors["0.weight"]["max_rel_error"] < 1e-6


def test_model_is_left_untouched():
    model = _net(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _batch()
    check_gradients(model, x, y, Classification().loss, eps=1e-5, coords=4)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert next(model.parameters()).dtype == torch.float32
    assert all(p.grad is None for p in model.parameters())


def test_a_channels_last_conv_is_checked_and_left_untouched():
    # A channels-last conv weight is not contiguous in logical (N, C, H, W) order, so a flat
    # view of it does not exist; the check must still perturb the right element in place.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 2 * 2, 4))
    net = net.to(memory_format=torch.channels_last)
    assert not net[0].weight.is_contiguous()
    before = net[0].weight.detach().clone()
    x = torch.randn(5, 2, 4, 4).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 4, (5,))
    r = check_gradients(net, x, y, Classification().loss, eps=1e-5, coords=4)
    assert r["status"] == "pass", r
    assert torch.equal(net[0].weight, before)
