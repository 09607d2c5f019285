"""Live monitor: the update/weight ratio by hand, the monitors.jsonl contract, a default digits run."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import netcoach
from netcoach.config import DiagnoseConfig
from netcoach.diagnose.monitors import Monitor, sample_starts, sampled_epoch

KEYS = {"update_ratio", "grad_norm", "weight_norm", "dead_frac", "saturated_frac", "act_mean", "act_std"}


def test_update_ratio_and_norms_by_hand():
    model = nn.Sequential(nn.Linear(2, 1, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[3.0, 4.0]]))  # ||w|| = 5
    trainer = SimpleNamespace(model=model, loaders={"train": [None, None]}, epoch=0)  # two batches: one pair
    mon = Monitor(DiagnoseConfig(monitor_samples=1))
    mon.on_fit_start(trainer)
    mon.on_epoch_start(trainer)
    mon.on_batch_end(trainer, {})  # batch 0 ends: snapshot, hooks on
    model(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))  # batch 1 forward: outputs 3 and 0 (ReLU)
    with torch.no_grad():
        model[0].weight.add_(torch.tensor([[0.003, 0.004]]))  # ||dw|| = 0.005
    model[0].weight.grad = torch.tensor([[0.6, 0.8]])  # ||g|| = 1
    mon.on_batch_end(trainer, {})  # batch 1 ends: measure
    mon.on_epoch_end(trainer, {"epoch": 1})
    layer = mon.records[0]["layers"]["0"]
    assert set(layer) == KEYS
    assert layer["update_ratio"] == pytest.approx(0.005 / 5, rel=1e-4)  # the course's ~1e-3
    assert layer["grad_norm"] == pytest.approx(1.0)
    assert layer["weight_norm"] == pytest.approx(math.hypot(3.003, 4.004))
    assert layer["dead_frac"] == 0.0 and layer["act_mean"] == pytest.approx(1.5)
    assert layer["saturated_frac"] is None
    assert mon.records[0]["warnings"] == []


def test_sample_starts_spread_over_the_epoch():
    assert sample_starts(1, 3) == set()
    assert sample_starts(17, 1) == {7}
    assert sample_starts(17, 3) == {0, 8, 15}
    assert sample_starts(3, 5) == {0, 1}
    assert sample_starts(2, 1) == {0}


def test_sampled_epochs_start_at_least_min_batches_apart():
    # 17 batches per epoch, 50 between sampled epochs: ceil(50 / 17) = 3, epochs 1, 4, 7, ...
    assert [e for e in range(1, 11) if sampled_epoch(e, 17, 50)] == [1, 4, 7, 10]
    assert [e for e in range(1, 6) if sampled_epoch(e, 17, 0)] == [1, 2, 3, 4, 5]
    assert [e for e in range(1, 6) if sampled_epoch(e, 97, 50)] == [1, 2, 3, 4, 5]  # long epochs: all
    assert [e for e in range(1, 6) if sampled_epoch(e, 50, 51)] == [1, 3, 5]


def test_default_cadence_writes_a_record_for_each_sampled_epoch_only(tmp_path):
    cfg = netcoach.load_config(overrides={"model.name": "mlp", "train.epochs": "7", "run.dir": str(tmp_path),
                                          "run.name": "c", "diagnose.preflight": "false",
                                          "report.enabled": "false"})
    result = netcoach.train(cfg)  # digits: 17 training batches per epoch, default 50 between samples
    lines = [json.loads(s) for s in (result.run_dir / "monitors.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 4, 7]
    assert all(math.isfinite(r["layers"]["head.fc"]["update_ratio"]) for r in lines)
    mon = next(cb for cb in result.trainer.callbacks if isinstance(cb, Monitor))
    assert len(mon.overhead_s) == 7  # its cost is measured on every epoch, sampled or not


def test_monitors_jsonl_contract_and_default_digits_ratios(tmp_path):
    cfg = netcoach.load_config(overrides={"train.epochs": "3", "run.dir": str(tmp_path), "run.name": "m",
                                          "diagnose.monitor_min_batches": "0",  # every epoch
                                          "diagnose.preflight": "false", "report.enabled": "false"})
    result = netcoach.train(cfg)  # the default: digits, cnn, Adam 1e-3
    lines = [json.loads(s) for s in (result.run_dir / "monitors.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    for r in lines:
        assert set(r) == {"epoch", "layers", "warnings"} and isinstance(r["warnings"], list)
        assert list(r["layers"]) == ["backbone.0", "backbone.4", "backbone.7", "head.fc"]  # 3 convs, classifier
        for stats in r["layers"].values():
            assert set(stats) == KEYS
            assert all(v is None or isinstance(v, float) for v in stats.values())
    middle = [r["layers"]["backbone.4"]["update_ratio"] for r in lines]
    # Between the course's two rules of thumb (~0.1% and ~1% per step), inside the warning band;
    # measured ~1.9e-2 in epoch 1 falling to ~1.2e-2 by epoch 3 (bench/diagnose_monitor.py).
    assert all(1e-3 < v < 3e-2 for v in middle), middle
    assert middle[-1] < middle[0]  # Adam's steps shrink relative to the weights as training settles
    assert all(not any("update/weight" in w for w in r["warnings"]) for r in lines)
    assert lines[0]["layers"]["backbone.0"]["dead_frac"] is not None  # conv -> BN -> ReLU is probed
    assert lines[0]["layers"]["head.fc"]["dead_frac"] is None  # logits: mean/std only
    mon = next(cb for cb in result.trainer.callbacks if isinstance(cb, Monitor))
    assert mon.records == lines and len(mon.overhead_s) == 3


def test_monitor_off_and_in_memory_without_run_folder():
    cfg = netcoach.load_config(overrides={"model.name": "mlp", "train.epochs": "1",
                                          "diagnose.preflight": "false", "diagnose.monitor": "false"})
    assert netcoach.diagnose.monitor_callbacks(cfg, None) == []
    cfg = netcoach.load_config(overrides={"model.name": "mlp", "train.epochs": "2", "optim.lr": "5",
                                          "optim.name": "sgd", "diagnose.preflight": "false"})
    result = netcoach.train(cfg, save=False)
    mon = next(cb for cb in result.trainer.callbacks if isinstance(cb, Monitor))
    assert [r["epoch"] for r in mon.records] == [1]  # 17-batch epochs: epoch 2 is not sampled
    assert any("dead units" in w or "too high" in w for w in mon.records[0]["warnings"]), mon.records[0]


def test_warnings_outside_the_band():
    mon = Monitor(DiagnoseConfig(update_ratio_band=[1e-4, 5e-4], dead_max=0.5))
    mon.pairs = [torch.zeros(4, 1)]
    layer = dict.fromkeys(KEYS)
    notes = mon._warnings({"a": {**layer, "update_ratio": 1e-3, "grad_norm": 1.0},
                           "b": {**layer, "update_ratio": 1e-5, "grad_norm": 1.0, "dead_frac": 0.75},
                           "c": {**layer, "update_ratio": 2e-4, "grad_norm": float("nan")}})
    assert notes == ["layer a: update/weight ratio 1.0e-03 > 5e-04 (learning rate too high?)",
                     "layer b: update/weight ratio 1.0e-05 < 1e-04 (learning rate too low?)",
                     "layer b: 75% dead units",
                     "layer c: gradient norm nan, update ratio 0.0002 (diverging)"]
