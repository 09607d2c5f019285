"""The 1-D families: cnn1d and rnn train on a synthetic signal set (sine frequencies),
compute what Conv1d / GRU compute, and take the course's activation/norm/dropout options."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import netcoach
from netcoach.config import ModelConfig
from netcoach.models import build_model
from netcoach.nn import DropConnectConv2d

SIGNAL_FAMILIES = ("cnn1d", "rnn")
EPOCHS = {"cnn1d": 12, "rnn": 20}  # the GRU needs ~15 epochs at lr 0.01 to separate the frequencies


def sine_classes(n: int = 240, length: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2, L) signals: class k is a sine of k + 1 cycles (random phase, noise) on channel 0
    and its cosine on channel 1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = np.linspace(0, 1, length, endpoint=False)
    phase = rng.uniform(0, 2 * math.pi, size=(n, 1))
    angle = 2 * math.pi * (y[:, None] + 1) * t[None] + phase
    x = np.stack([np.sin(angle), np.cos(angle)], axis=1) + 0.2 * rng.normal(size=(n, 2, length))
    return x.astype(np.float32), y


@pytest.mark.parametrize("name", SIGNAL_FAMILIES)
def test_signal_family_learns_sine_frequencies(name, tmp_path):
    x, y = sine_classes()
    cfg = netcoach.load_config(overrides={"model.name": name, "model.width": "32", "train.epochs": EPOCHS[name],
                                          "optim.lr": "0.01", "diagnose.preflight": "false",
                                          "report.enabled": "false", "run.dir": str(tmp_path)})
    result = netcoach.train(cfg, data=(x, y), progress=False, save=False)
    assert result.data.input_shape == (2, 32)
    first, last = result.history[0]["train_loss"], result.history[-1]["train_loss"]
    assert last < 0.5 * first  # it trains, from about ln 3
    assert result.summary["test"]["test_acc"] >= 0.9  # chance is 1/3


def test_cnn1d_block_computes_a_1d_convolution():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="cnn1d", width=32, norm="none", depth=1), (2, 20), 3).eval()
    conv2d = model.backbone[1]
    assert isinstance(conv2d, nn.Conv2d) and conv2d.kernel_size == (1, 5)
    conv1d = nn.Conv1d(2, 8, 5, padding=2)
    conv1d.weight.data.copy_(conv2d.weight.data[:, :, 0])
    conv1d.bias.data.copy_(conv2d.bias.data)
    x = torch.randn(4, 2, 20)
    maps = model.backbone[0](x)  # (N, C, 1, L)
    assert maps.shape == (4, 2, 1, 20)
    torch.testing.assert_close(conv2d(maps)[:, :, 0], conv1d(x))


def test_bidirectional_rnn_features_are_the_final_states_of_both_directions():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="rnn", width=6, depth=2, bidirectional=True), (3, 10), 2).eval()
    encoder = model.backbone[0]
    reference = nn.GRU(3, 6, 2, batch_first=True, bidirectional=True)
    reference.load_state_dict(encoder.state_dict())
    x = torch.randn(4, 3, 10)
    out, _ = reference(x.transpose(1, 2))
    expected = torch.cat([out[:, -1, :6], out[:, 0, 6:]], dim=1)  # forward at the end, backward at the start
    torch.testing.assert_close(encoder(x), expected)
    lstm = build_model(ModelConfig(name="rnn", rnn_cell="lstm", width=6), (3, 10), 2)
    assert isinstance(lstm.backbone[0], nn.LSTM) and lstm(x).shape == (4, 2)


def _types(model: nn.Module) -> list[type]:
    return [type(m) for m in model.backbone.modules()]


def test_activation_norm_and_dropout_options_apply_to_cnn1d():
    model = build_model(ModelConfig(name="cnn1d", width=32, activation="tanh", norm="instance",
                                    block_dropout=0.1, dropout_mode="spatial"), (2, 32), 3)
    kinds = _types(model)
    assert kinds.count(nn.Tanh) == 3 and kinds.count(nn.InstanceNorm2d) == 3 and nn.ReLU not in kinds
    assert kinds.count(nn.Dropout2d) == 3  # whole channels of the signal are dropped
    x = torch.randn(4, 2, 32)
    model.eval()
    norm = [m for m in model.backbone if isinstance(m, nn.InstanceNorm2d)][0]
    conv_out = model.backbone[1](model.backbone[0](x))
    normed = norm(conv_out)  # per sample and channel over the length: mean 0, variance 1
    torch.testing.assert_close(normed.mean(-1), torch.zeros_like(normed.mean(-1)), atol=1e-5, rtol=0)
    after = build_model(ModelConfig(name="cnn1d", width=32, norm="batch", norm_position="after"), (2, 32), 3)
    order = [type(m) for m in after.backbone[1:4]]
    assert order == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d]
    dc = build_model(ModelConfig(name="cnn1d", width=32, block_dropout=0.2, dropout_mode="dropconnect"),
                     (2, 32), 3)
    assert DropConnectConv2d in _types(dc)


def test_activation_norm_and_init_options_apply_to_rnn():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="rnn", width=16, activation="leaky_relu", norm="layer",
                                    init="normal", init_std=1e-3, bias_init="constant", bias_value=0.5),
                        (2, 12), 3)
    kinds = _types(model)
    assert nn.LeakyReLU in kinds and nn.LayerNorm in kinds
    assert model.head_layer.weight.std().item() == pytest.approx(1e-3, rel=0.3)
    assert torch.all(model.head_layer.bias == 0.5)
    assert model(torch.randn(5, 2, 12)).shape == (5, 3)


@pytest.mark.parametrize("name", SIGNAL_FAMILIES)
def test_signal_families_refuse_images_with_a_message(name):
    with pytest.raises(ValueError, match=rf"model '{name}' needs signals or sequences \(C, L\).*got shape \(1, 8, 8\)"):
        build_model(ModelConfig(name=name), (1, 8, 8), 3)
