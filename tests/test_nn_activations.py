"""Activations: formulas on small inputs, maxout, gradient checks, registry coverage."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from netcoach.nn import Maxout, activations, make_activation, width_factor

# The course's constants (Klambauer et al., 2017), to more digits than float64 holds.
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def test_selu_matches_the_course_formula_with_its_constants():
    x = torch.tensor([-3.0, -1.0, -0.25, 0.0, 0.5, 2.0], dtype=torch.float64)
    expected = torch.tensor([SELU_LAMBDA * (SELU_ALPHA * math.exp(v) - SELU_ALPHA) if v <= 0
                             else SELU_LAMBDA * v for v in x.tolist()], dtype=torch.float64)
    torch.testing.assert_close(make_activation("selu")(x), expected, rtol=1e-12, atol=1e-12)
    # spot value by hand: selu(-1) = 1.0507 * 1.6733 * (e^-1 - 1) = -1.1113307378125625
    assert make_activation("selu")(torch.tensor(-1.0, dtype=torch.float64)).item() == pytest.approx(
        -1.1113307378125625, abs=1e-12)


def test_leaky_relu_uses_the_configured_slope():
    x = torch.tensor([-2.0, 3.0])
    torch.testing.assert_close(make_activation("leaky_relu", slope=0.1)(x), torch.tensor([-0.2, 3.0]))
    torch.testing.assert_close(make_activation("leaky_relu")(x), torch.tensor([-0.02, 3.0]))


def test_prelu_learns_its_slope_and_rrelu_uses_mean_slope_in_eval():
    prelu = make_activation("prelu")
    assert [p.numel() for p in prelu.parameters()] == [1]
    out = prelu(torch.tensor([-4.0]))
    assert out.item() == pytest.approx(-1.0)  # 0.25 * -4
    rrelu = make_activation("rrelu").eval()
    mean_slope = (1 / 8 + 1 / 3) / 2
    assert rrelu(torch.tensor([-1.0])).item() == pytest.approx(-mean_slope)


def test_maxout_takes_the_max_over_pieces():
    x = torch.tensor([[1.0, 5.0, -2.0, -3.0, 0.5, 0.25]])
    torch.testing.assert_close(Maxout(2)(x), torch.tensor([[5.0, -2.0, 0.5]]))
    torch.testing.assert_close(Maxout(3)(x), torch.tensor([[5.0, 0.5]]))
    maps = torch.arange(2 * 4 * 2 * 2, dtype=torch.float32).reshape(2, 4, 2, 2)
    out = Maxout(2)(maps)
    assert out.shape == (2, 2, 2, 2)
    torch.testing.assert_close(out, torch.maximum(maps[:, 0::2], maps[:, 1::2]))


def test_maxout_rejects_widths_not_divisible_by_pieces():
    with pytest.raises(ValueError, match="divisible by 3"):
        Maxout(3)(torch.zeros(1, 4))


def test_maxout_gradcheck():
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)  # ties have probability 0
    assert torch.autograd.gradcheck(Maxout(3), (x,))
    maps = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(Maxout(2), (maps,))


@pytest.mark.parametrize("name", activations.names())
def test_every_activation_builds_and_backpropagates(name):
    act = make_activation(name, pieces=2)
    x = torch.randn(4, 6, requires_grad=True)
    out = act(x)
    assert out.shape == (4, 6 // width_factor(name, 2))
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_unknown_activation_lists_the_available_ones():
    with pytest.raises(KeyError, match="available: .*maxout"):
        make_activation("swishy")


def test_registry_has_every_course_activation():
    wanted = {"sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu", "elu", "selu", "softplus",
              "gelu", "maxout"}
    assert wanted <= set(activations.names())
    assert isinstance(make_activation("selu"), nn.SELU)
