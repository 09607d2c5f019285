"""Preflight's dropout-before-batch-norm warning (variance shift, Li et al. 2018)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

import netcoach
from netcoach.api import build_trainer
from netcoach.diagnose import preflight
from netcoach.diagnose.preflight_layout import check_dropout_before_batchnorm, execution_order


def _checks(model=None, checks=("dropout_bn",), **over) -> dict[str, dict]:
    base = {"model.name": "cnn", "model.width": "8", "train.epochs": "1", "report.enabled": "false",
            "diagnose.budget_s": "0", **over}
    cfg = netcoach.load_config(overrides=base)
    cfg = replace(cfg, diagnose=replace(cfg.diagnose, checks=list(checks)))
    return {r["check"]: r for r in preflight(build_trainer(cfg, model=model), cfg)}


def test_block_dropout_before_the_next_blocks_batch_norm_warns_with_reason_and_fix():
    r = _checks(**{"model.norm": "batch", "model.block_dropout": "0.3"})["dropout_bn"]
    assert r["status"] == "warn"
    assert "variance shift, Li et al. 2018" in r["reason"]
    assert "only after the last batch-norm layer" in r["reason"] and "lower p" in r["reason"]
    first = r["details"]["layers"][0]
    assert first["p"] == pytest.approx(0.3) and first["dropout"].startswith("backbone.")
    assert first["batch_norm"].startswith("backbone.")


def test_dropout_after_the_last_batch_norm_does_not_warn():
    r = _checks(**{"model.norm": "batch", "model.dropout": "0.5"})["dropout_bn"]
    assert r["status"] == "pass", r
    assert _checks(**{"model.norm": "none", "model.block_dropout": "0.3"})["dropout_bn"]["status"] == "pass"


def test_a_user_module_is_read_in_the_order_its_layers_run():
    class Swapped(nn.Module):
        """Registers BN first but runs dropout first: the registration order would mislead."""

        def __init__(self):
            super().__init__()
            self.bn, self.drop = nn.BatchNorm1d(64), nn.Dropout(0.2)
            self.flat, self.fc = nn.Flatten(), nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(self.bn(self.drop(self.flat(x))))

    x = torch.randn(4, 1, 8, 8)
    assert [n for n, _ in execution_order(Swapped(), x)] == ["drop", "bn"]
    r = check_dropout_before_batchnorm(Swapped(), x)
    assert r["status"] == "warn" and "dropout drop (p=0.2) runs before batch norm bn" in r["reason"]
    inert = nn.Sequential(nn.Flatten(), nn.Dropout(0.0), nn.BatchNorm1d(64), nn.Linear(64, 10))
    assert check_dropout_before_batchnorm(inert, x)["status"] == "pass"  # p = 0 changes nothing


def test_the_saturating_activation_check_still_runs_beside_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))
    with torch.no_grad():
        model[1].weight.mul_(100)
    found = _checks(model=model, checks=("init_units", "dropout_bn"))
    assert found["init_units"]["status"] == "fail" and found["dropout_bn"]["status"] == "pass"
