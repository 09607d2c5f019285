"""Per-channel statistics: uint8 inputs go through a histogram, floats through sums;
both must give the mean and (population) std of the values / scale."""

import math

import torch

from netcoach.data.normalize import channel_stats


def test_uint8_channel_stats_match_the_hand_computed_mean_and_std():
    # channel 0 holds 0, 51, 102, 153 (/255: 0, .2, .4, .6); channel 1 is constant 255
    x = torch.tensor([[[0], [255]], [[51], [255]], [[102], [255]], [[153], [255]]], dtype=torch.uint8)
    mean, std = channel_stats(x, 255.0)
    assert math.isclose(mean[0], 0.3, abs_tol=1e-15)
    assert math.isclose(std[0], math.sqrt(0.05), abs_tol=1e-15)  # mean of squared deviations .09 .01 .01 .09
    assert mean[1] == 1.0 and std[1] == 1.0  # a constant channel is left unscaled


def test_uint8_histogram_path_equals_the_float_path():
    x = torch.randint(0, 256, (257, 3, 5, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    hist_mean, hist_std = channel_stats(x, 255.0)
    sum_mean, sum_std = channel_stats(x.to(torch.float32), 255.0, chunk=50)
    for a, b in zip(hist_mean + hist_std, sum_mean + sum_std):
        assert abs(a - b) < 1e-12
