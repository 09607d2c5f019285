"""Normalization layers by name, their statistics, and placement before/after the activation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netcoach.config import ModelConfig
from netcoach.nn import make_norm, norms
from netcoach.nn.blocks import Blocks
from netcoach.nn.norms import divisor_at_most


def test_batch_norm_uses_batch_statistics_in_train_and_running_statistics_in_eval():
    bn = make_norm("batch", 1, spatial=False)
    x = torch.tensor([[1.0], [2.0], [3.0], [6.0]])  # mean 3, biased variance (4+1+0+9)/4 = 3.5
    out = bn.train()(x)
    torch.testing.assert_close(out, (x - 3.0) / torch.sqrt(torch.tensor(3.5 + 1e-5)))
    # running averages after one step with momentum 0.1: 0.9*0 + 0.1*3 and 0.9*1 + 0.1*(14/3)
    torch.testing.assert_close(bn.running_mean, torch.tensor([0.3]))
    torch.testing.assert_close(bn.running_var, torch.tensor([0.9 + 0.1 * 14 / 3]))
    y = torch.tensor([[10.0]])
    expected = (10.0 - 0.3) / (0.9 + 0.1 * 14 / 3 + 1e-5) ** 0.5
    assert bn.eval()(y).item() == pytest.approx(expected, rel=1e-6)  # batch of one: running stats


def test_spatial_batch_norm_averages_over_batch_and_pixels_per_channel():
    torch.manual_seed(0)
    out = make_norm("batch", 3, spatial=True).train()(torch.randn(4, 3, 5, 5) * 7 + 2)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3, rtol=0)


@pytest.mark.parametrize("name,dims", [("layer", (1, 2, 3)), ("instance", (2, 3)), ("group", None)])
def test_per_sample_norms_standardize_over_their_axes(name, dims):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 3) * 5 + 1
    out = make_norm(name, 4, spatial=True, groups=2)(x)
    if dims is None:  # group: 2 groups of 2 channels each
        dims, out = (2, 3, 4), out.reshape(2, 2, 2, 3, 3)
    torch.testing.assert_close(out.mean(dim=dims), torch.zeros(out.mean(dim=dims).shape), atol=1e-5, rtol=0)
    # eval gives the same output: these norms have no running statistics
    assert torch.allclose(make_norm(name, 4, spatial=True, groups=2).eval()(x).reshape(out.shape), out,
                          atol=1e-6)


def test_layer_norm_on_flat_features_is_per_sample():
    out = make_norm("layer", 3, spatial=False)(torch.tensor([[1.0, 2.0, 3.0], [10.0, 20.0, 60.0]]))
    torch.testing.assert_close(out.mean(dim=1), torch.zeros(2), atol=1e-6, rtol=0)


def test_instance_norm_needs_feature_maps():
    with pytest.raises(ValueError, match="use norm layer, group or batch"):
        make_norm("instance", 8, spatial=False)


def test_group_count_is_rounded_down_to_a_divisor():
    assert divisor_at_most(6, 8) == 6 and divisor_at_most(16, 6) == 4 and divisor_at_most(7, 4) == 1
    assert make_norm("group", 6, spatial=True, groups=8).num_groups == 6


@pytest.mark.parametrize("name", norms.names())
@pytest.mark.parametrize("spatial", [False, True])
def test_every_norm_keeps_the_shape(name, spatial):
    if name == "instance" and not spatial:  # defined for feature maps only
        with pytest.raises(ValueError, match="feature map"):
            make_norm(name, 8, spatial)
        return
    x = torch.randn(3, 8, 4, 4) if spatial else torch.randn(3, 8)
    assert make_norm(name, 8, spatial).train()(x).shape == x.shape


def _kinds(mods):
    return [type(m).__name__ for m in mods]


def test_norm_position_before_and_after_the_activation():
    before = Blocks(ModelConfig(norm="batch", norm_position="before"))
    after = Blocks(ModelConfig(norm="batch", norm_position="after"))
    assert _kinds(before.conv(3, 8)) == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert _kinds(after.conv(3, 8)) == ["Conv2d", "ReLU", "BatchNorm2d"]
    # a bias right before batch norm is cancelled by it, so it is left out; after ReLU it is kept
    assert before.conv(3, 8)[0].bias is None and after.conv(3, 8)[0].bias is not None


def test_maxout_blocks_widen_the_layer_and_norm_the_right_width():
    blocks = Blocks(ModelConfig(activation="maxout", maxout_pieces=3, norm="batch"))
    layer, norm, act = blocks.dense(5, 4)
    assert layer.out_features == 12 and norm.num_features == 12
    after = Blocks(ModelConfig(activation="maxout", maxout_pieces=3, norm="layer", norm_position="after"))
    assert after.dense(5, 4)[2].normalized_shape == (4,)
    assert after.dense(5, 4)[0](torch.randn(2, 5)).shape == (2, 12)
    assert nn.Sequential(*after.dense(5, 4)).eval()(torch.randn(2, 5)).shape == (2, 4)
