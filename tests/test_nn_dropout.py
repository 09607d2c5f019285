"""Dropout variants: train/eval behaviour as the course shows it, and gradient checks."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call
from torch.nn import functional as F

from netcoach.nn import DirectDropout, DropConnectConv2d, DropConnectLinear, make_dropout


def test_inverted_dropout_keeps_the_mean_in_training_and_is_identity_in_eval():
    torch.manual_seed(0)
    drop = make_dropout("inverted", 0.4, spatial=False)
    x = torch.full((200_000,), 3.0)
    out = drop.train()(x)
    kept = out[out != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 3.0 / 0.6))  # survivors scaled by 1/(1-p)
    assert (out == 0).float().mean().item() == pytest.approx(0.4, abs=0.005)
    assert out.mean().item() == pytest.approx(3.0, rel=0.01)
    assert torch.equal(drop.eval()(x), x)


def test_direct_dropout_does_not_scale_in_training_and_multiplies_by_keep_prob_in_eval():
    torch.manual_seed(0)
    drop = make_dropout("direct", 0.4, spatial=False)
    assert isinstance(drop, DirectDropout)
    x = torch.full((200_000,), 3.0)
    out = drop.train()(x)
    assert set(out.unique().tolist()) == {0.0, 3.0}
    assert out.mean().item() == pytest.approx(3.0 * 0.6, rel=0.01)  # train mean = (1-p) x
    torch.testing.assert_close(drop.eval()(x), x * 0.6)  # the course: hidden *= (1 - 0.4)


def test_spatial_dropout_zeroes_whole_channels():
    torch.manual_seed(0)
    drop = make_dropout("spatial", 0.5, spatial=True).train()
    out = drop(torch.ones(8, 16, 5, 5))
    per_channel = out.flatten(2)
    zero = (per_channel == 0).all(dim=2)
    full = (per_channel == 2.0).all(dim=2)
    assert (zero | full).all()  # every channel entirely dropped or entirely kept (and scaled)
    assert 0 < zero.sum() < zero.numel()


def test_alpha_dropout_keeps_mean_and_variance_of_selu_activations():
    torch.manual_seed(0)
    drop = make_dropout("alpha", 0.2, spatial=False).train()
    out = drop(torch.randn(400_000))
    assert out.mean().item() == pytest.approx(0.0, abs=0.01)
    assert out.std().item() == pytest.approx(1.0, abs=0.01)


def test_dropconnect_eval_output_equals_the_expected_output():
    torch.manual_seed(0)
    layer = DropConnectLinear(5, 3, p=0.3)
    x = torch.randn(4, 5)
    expected = F.linear(x, layer.weight * 0.7, layer.bias)  # E[(M * W) x + b], M ~ Bernoulli(0.7)
    torch.testing.assert_close(layer.eval()(x), expected)
    layer.train()
    with torch.no_grad():
        mc = torch.stack([layer(x) for _ in range(20_000)]).mean(0)
    torch.testing.assert_close(mc, expected, atol=0.03, rtol=0.0)


def test_dropconnect_zeroes_individual_weights_in_training():
    torch.manual_seed(0)
    layer = DropConnectLinear(50, 40, bias=False, p=0.5).train()
    # one-hot inputs read single weight entries: y[j] = (M * W)[j, i]
    out = layer(torch.eye(50)).T
    dropped = (out == 0).float().mean().item()
    assert dropped == pytest.approx(0.5, abs=0.05)
    assert torch.equal(out[out != 0], layer.weight[out != 0])  # no rescaling of survivors


def test_dropconnect_conv_eval_uses_expected_kernel():
    torch.manual_seed(0)
    conv = DropConnectConv2d(2, 3, 3, padding=1, p=0.25).eval()
    x = torch.randn(1, 2, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * 0.75, conv.bias, padding=1))


def test_dropconnect_gradcheck_with_fixed_mask():
    torch.manual_seed(0)
    for layer, x in [(DropConnectLinear(4, 3, p=0.5), torch.randn(2, 4)),
                     (DropConnectConv2d(2, 2, 3, padding=1, p=0.5), torch.randn(1, 2, 4, 4))]:
        layer = layer.double().train()
        layer.fixed_mask = (torch.rand_like(layer.weight) >= 0.5).double()
        w = layer.weight.detach().clone().requires_grad_(True)
        b = layer.bias.detach().clone().requires_grad_(True)
        xi = x.double().requires_grad_(True)
        fn = lambda xi, w, b, layer=layer: functional_call(layer, {"weight": w, "bias": b}, (xi,))  # noqa: E731
        assert torch.autograd.gradcheck(fn, (xi, w, b))


def test_direct_dropout_gradcheck():
    drop = DirectDropout(0.3).train()

    def fn(x):
        torch.manual_seed(1)  # the same mask on every call, so finite differences see one function
        return drop(x)

    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradcheck(drop.eval(), (x,))


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_invalid_probability_is_rejected(p):
    with pytest.raises(ValueError, match="dropout probability"):
        DirectDropout(p)


def test_unknown_mode_lists_the_modes():
    with pytest.raises(ValueError, match="available: inverted, direct, spatial, alpha, dropconnect"):
        make_dropout("gaussian", 0.5, spatial=False)
