"""Initialization schemes: the course's bounds and variances, biases, and use through the config."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from netcoach.config import ModelConfig
from netcoach.models import build_model
from netcoach.nn import InitScheme, init_model, inits

N_IN, N_OUT = 400, 300


def _weights(scheme: str, **kw) -> torch.Tensor:
    torch.manual_seed(0)
    return init_model(nn.Linear(N_IN, N_OUT), scheme, **kw).weight.detach()


@pytest.mark.parametrize("scheme", ["xavier_uniform", "glorot_uniform"])
def test_xavier_uniform_bounds_and_variance(scheme):
    w = _weights(scheme)
    bound = math.sqrt(6 / (N_IN + N_OUT))
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() > 0.99 * bound  # it does reach the edges of U[-b, b]
    assert w.var().item() == pytest.approx(2 / (N_IN + N_OUT), rel=0.02)


def test_xavier_normal_variance():
    assert _weights("xavier_normal").var().item() == pytest.approx(2 / (N_IN + N_OUT), rel=0.02)


@pytest.mark.parametrize("scheme", ["he_normal", "kaiming_normal", "he_uniform"])
def test_he_variance_is_two_over_fan_in(scheme):
    w = _weights(scheme)
    assert w.var().item() == pytest.approx(2 / N_IN, rel=0.02)
    assert w.mean().item() == pytest.approx(0.0, abs=0.002)


def test_he_normal_uses_the_conv_fan_in():
    torch.manual_seed(0)
    conv = init_model(nn.Conv2d(16, 64, 3), "he_normal")
    assert conv.weight.var().item() == pytest.approx(2 / (16 * 3 * 3), rel=0.03)


def test_lecun_normal_variance():
    assert _weights("lecun_normal").var().item() == pytest.approx(1 / N_IN, rel=0.02)


def test_normal_std_as_the_course_initializes_a_linear_classifier():
    w = _weights("normal", std=0.001)  # w = 1e-3 * np.random.randn(10, 3072)
    assert w.std().item() == pytest.approx(0.001, rel=0.02)


def test_bias_zeros_and_constant():
    layer = init_model(nn.Linear(3, 4), bias="zeros")
    assert torch.equal(layer.bias, torch.zeros(4))
    layer = init_model(nn.Linear(3, 4), bias="constant", bias_value=0.1)
    assert torch.equal(layer.bias, torch.full((4,), 0.1))
    with pytest.raises(ValueError, match="available: default, zeros, constant"):
        init_model(nn.Linear(3, 4), bias="ones")


def test_default_keeps_the_weights():
    torch.manual_seed(0)
    layer = nn.Linear(3, 4)
    before = layer.weight.clone()
    assert torch.equal(init_model(layer, "default").weight, before)


@pytest.mark.parametrize("scheme", inits.names())
def test_every_scheme_applies_to_a_whole_model_through_the_config(scheme):
    cfg = ModelConfig(name="cnn", width=32, init=scheme, init_std=0.05, bias_init="constant",
                      bias_value=0.5, norm="none")
    model = build_model(cfg, (1, 8, 8), 3)
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert convs and all(torch.equal(m.bias, torch.full_like(m.bias, 0.5)) for m in convs)
    if scheme == "normal":
        assert all(m.weight.std().item() == pytest.approx(0.05, rel=0.3) for m in convs)


def test_unknown_scheme_lists_the_schemes():
    with pytest.raises(KeyError, match="available: .*he_normal"):
        init_model(nn.Linear(2, 2), "orthogonalish")


def test_init_scheme_applies_the_same_draws_as_init_model():
    torch.manual_seed(0)
    expected = init_model(nn.Linear(N_IN, N_OUT), "he_uniform", bias="constant", bias_value=0.3)
    torch.manual_seed(0)
    got = InitScheme("he_uniform", bias="constant", bias_value=0.3).apply(nn.Linear(N_IN, N_OUT))
    assert torch.equal(got.weight, expected.weight) and torch.all(got.bias == 0.3)
    bound = math.sqrt(6 / N_IN)  # He uniform: U[-sqrt(6/n_in), +sqrt(6/n_in)]
    assert got.weight.abs().max() <= bound and got.weight.abs().max() > 0.99 * bound


def test_built_model_keeps_its_init_scheme_for_new_layers():
    cfg = ModelConfig(name="mlp", init="lecun_normal", init_std=0.2, bias_init="zeros")
    assert build_model(cfg, (8,), 3).init_scheme == InitScheme("lecun_normal", 0.2, "zeros", 0.0)
