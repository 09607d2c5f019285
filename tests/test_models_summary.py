"""Model summary: the conv output-size formula, shapes, parameters, MACs; CLI, API and run folder."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import netcoach
from netcoach.api import model_summary
from netcoach.cli import main
from netcoach.config import ModelConfig
from netcoach.models import build_model, conv_output_size, count_parameters, models, summarize
from netcoach.models.autoencoder import AUTOENCODERS
from netcoach.models.summary import summary_record

# The classifier families; the autoencoders (tests/test_tasks_autoencoder.py) reconstruct their inputs.
CLASSIFIERS = [n for n in models.names() if n not in AUTOENCODERS]


@pytest.mark.parametrize("n_in,f,p,s,n_out", [
    (32, 5, 0, 1, 28),   # LeNet's C1: (32 - 5 + 0)/1 + 1
    (28, 5, 2, 1, 28),   # 'same' padding for MNIST
    (32, 3, 1, 2, 16),   # stride-2 3x3 conv of ResNet
    (7, 3, 0, 2, 3),     # (7 - 3)/2 + 1, the cs231n example
    (28, 2, 0, 2, 14),   # 2x2 max-pool, stride 2
    (5, 3, 1, 2, 3),     # (5 - 3 + 2)/2 + 1
])
def test_conv_output_size_formula_hand_values(n_in, f, p, s, n_out):
    assert conv_output_size(n_in, f, p, s) == n_out
    real = nn.Conv2d(1, 1, f, s, p)(torch.zeros(1, 1, n_in, n_in)).shape[-1]
    assert real == n_out


def test_lenet5_summary_rows_by_hand():
    model = build_model(ModelConfig(name="lenet5"), (1, 32, 32), 10)
    summary = summarize(model, (1, 32, 32))
    convs = [r for r in summary["layers"] if r["type"] == "Conv2d"]
    assert [r["output_shape"] for r in convs] == [[6, 28, 28], [16, 10, 10]]
    assert [r["params"] for r in convs] == [156, 2_416]               # (5*5*1 + 1) * 6, (5*5*6 + 1) * 16
    assert [r["macs"] for r in convs] == [6 * 28 * 28 * 25, 16 * 10 * 10 * 150]
    linears = [r for r in summary["layers"] if r["type"] == "Linear"]
    assert [r["macs"] for r in linears] == [400 * 120, 120 * 84, 84 * 10]
    assert summary["total_params"] == 61_706 and summary["output_shape"] == [10]
    assert summary["total_macs"] == 117_600 + 240_000 + 48_000 + 10_080 + 840
    assert summary["formula_ok"] and all(r["formula_ok"] for r in summary["layers"]
                                         if r["type"] in ("Conv2d", "MaxPool2d"))


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_summary_of_every_model_agrees_with_the_formula_and_counts(name):
    shape = {"linear": (12,), "mlp": (12,), "cnn1d": (2, 24), "rnn": (2, 12)}.get(name, (3, 16, 16))
    model = build_model(ModelConfig(name=name, width=16, width_mult=0.25), shape, 4)
    summary = summarize(model, shape)
    assert summary["formula_ok"] is True
    assert summary["output_shape"] == [4]
    assert summary["total_params"] == count_parameters(model)
    assert sum(r["params"] for r in summary["layers"]) == summary["total_params"]  # leaves cover all
    assert summary["total_macs"] > 0


def test_summary_flags_a_shape_the_formula_does_not_explain():
    class Odd(nn.Module):  # a conv whose output is cropped by hand afterwards
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return self.conv(x)

    summary = summarize(Odd(), (1, 6, 6))
    assert summary["layers"][0]["formula_hw"] == [4, 4] and summary["formula_ok"]
    dilated = summarize(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2)), (1, 9, 9))
    assert dilated["layers"][0]["formula_ok"] is None  # outside the course's formula: not judged


def test_summary_leaves_the_model_unchanged():
    model = build_model(ModelConfig(name="cnn", width=32), (1, 8, 8), 3).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    summarize(model, (1, 8, 8))
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())  # no BN stat updates


def test_api_model_summary_uses_the_dataset_shape_by_default():
    config = netcoach.load_config(overrides={"model.name": "mlp"})
    summary = model_summary(config)
    assert summary["input_shape"] == [1, 8, 8] and summary["num_classes"] == 10  # embedded digits
    assert summary["total_params"] == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10


def test_cli_model_summary(capsys):
    assert main(["model", "summary", "--model.name", "lenet5", "--input-shape", "1,32,32",
                 "--classes", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_params"] == 61_706 and out["formula_ok"]
    assert main(["model", "summary", "--model.name", "resnet", "--model.width_mult", "0.5"]) == 0
    assert "MACs per sample" in capsys.readouterr().out
    assert main(["model", "summary", "--input-shape", "3,x"]) == 2
    assert "--input-shape" in capsys.readouterr().err


def test_train_writes_model_summary_json(quick_overrides):
    config = netcoach.load_config(overrides={**quick_overrides, "train.epochs": "1",
                                             "model.name": "lenet5", "run.name": "lenet"})
    result = netcoach.train(config)
    written = json.loads((result.run_dir / "model_summary.json").read_text())
    assert written["total_params"] == result.summary["parameters"] == 61_706
    assert written["formula_ok"] is True


def test_summary_record_reports_a_model_it_cannot_run_instead_of_raising():
    record = summary_record(nn.Linear(5, 2), (3,))
    assert record["input_shape"] == [3] and "RuntimeError" in record["error"]


def test_training_with_and_without_a_run_folder_gives_the_same_history(quick_overrides):
    # the summary's forward pass (eval mode, zeros) must not touch RNG or BN statistics
    overrides = {**quick_overrides, "train.epochs": "1", "model.name": "cnn", "model.width": "32"}
    saved = netcoach.train(netcoach.load_config(overrides=overrides))
    unsaved = netcoach.train(netcoach.load_config(overrides=overrides), save=False)
    assert saved.history[0]["train_loss"] == unsaved.history[0]["train_loss"]
    assert saved.history[0]["val_acc"] == unsaved.history[0]["val_acc"]
