"""Preflight checks, each against a deliberately broken or a known-good setup."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

import netcoach
from netcoach.api import build_trainer
from netcoach.config import DataConfig
from netcoach.data.normalize import channel_stats
from netcoach.data.sources import datasets
from netcoach.diagnose import preflight
from netcoach.diagnose.checks import check_initial_loss
from netcoach.diagnose.units import output_stats


def _config(**over):
    # no time budget: these tests are about each check's verdict, not the budget (tested below)
    base = {"model.name": "mlp", "train.epochs": "2", "report.enabled": "false", "diagnose.budget_s": "0"}
    base.update(over)
    return netcoach.load_config(overrides=base)


def _run(model=None, data=None, checks=None, **over) -> dict[str, dict]:
    cfg = _config(**over)
    if checks:
        cfg = replace(cfg, diagnose=replace(cfg.diagnose, checks=checks))
    return {r["check"]: r for r in preflight(build_trainer(cfg, model=model, data=data), cfg)}


def _mlp(cfg=None) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def test_default_setup_passes_every_check():
    found = _run()
    assert set(found) == {"output_layer", "initial_loss", "overfit_batch", "gradient_check", "data_stats",
                          "data_labels", "data_inputs", "data_leakage", "init_units", "dropout_bn"}
    assert {r["status"] for r in found.values()} == {"pass"}, found
    for r in found.values():  # the summary["preflight"] contract
        assert set(r) == {"check", "status", "reason", "details"} and r["reason"]


def test_softmax_before_cross_entropy_is_flagged():
    model = nn.Sequential(*_mlp(), nn.Softmax(dim=1))
    found = _run(model=model, checks=["output_layer"])
    assert found["output_layer"]["status"] == "fail"
    assert "softmax" in found["output_layer"]["reason"]


def test_wrong_number_of_outputs_is_flagged():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 7))
    found = _run(model=model)
    assert found["output_layer"]["status"] == "fail"
    assert found["output_layer"]["details"]["classes"] == 10
    for name in ("initial_loss", "overfit_batch", "gradient_check"):  # no loss on mismatched outputs
        assert found[name]["status"] == "fail" and found[name]["reason"].startswith("skipped")


def test_relu_output_warns():
    found = _run(model=nn.Sequential(*_mlp(), nn.ReLU()), checks=["output_layer"])
    assert found["output_layer"]["status"] == "warn"


def test_initial_loss_near_ln_k_passes_and_scaled_last_layer_fails():
    ok = _run(checks=["initial_loss"])["initial_loss"]
    assert ok["status"] == "pass"
    assert ok["details"]["expected"] == pytest.approx(math.log(10)) == pytest.approx(2.302585, abs=1e-6)
    assert abs(ok["details"]["measured"] - 2.30) < 0.2
    model = _mlp()
    with torch.no_grad():
        model[-1].weight.mul_(100)
        model[-1].bias.mul_(100)
    bad = _run(model=model, checks=["initial_loss"])["initial_loss"]
    assert bad["status"] == "fail" and bad["details"]["measured"] > 2 * math.log(10)
    assert f"{bad['details']['measured']:.3f}" in bad["reason"] and "2.303" in bad["reason"]


def test_initial_loss_thresholds_by_hand():
    # uniform predictions over 4 classes give exactly ln 4
    uniform = nn.functional.cross_entropy(torch.zeros(5, 4), torch.tensor([0, 1, 2, 3, 0])).item()
    assert uniform == pytest.approx(math.log(4))
    ln4 = math.log(4)
    assert check_initial_loss(uniform, ln4, 5)["status"] == "pass"
    assert check_initial_loss(1.3 * ln4, ln4, 5)["status"] == "warn"
    assert check_initial_loss(0.3 * ln4, ln4, 5)["status"] == "warn"
    assert check_initial_loss(3.0 * ln4, ln4, 5)["status"] == "fail"


def test_overfit_one_batch_passes_for_working_mlp():
    r = _run(checks=["overfit_batch"])["overfit_batch"]
    assert r["status"] == "pass", r
    assert r["details"]["acc"] == 1.0 and r["details"]["loss"] <= 0.1
    assert 1 <= r["details"]["steps"] <= r["details"]["budget"]


class DetachedHead(nn.Module):
    """Bug: the network's output is detached, only a trailing bias can learn."""

    def __init__(self):
        super().__init__()
        self.body = _mlp()
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return self.body(x).detach() + self.bias


def test_overfit_one_batch_fails_for_detached_output():
    r = _run(model=DetachedHead(), checks=["overfit_batch"])["overfit_batch"]
    assert r["status"] == "fail"
    assert len(r["details"]["params_without_grad"]) == 4  # the body's weights and biases


def test_overfit_one_batch_fails_for_frozen_zero_last_layer():
    model = _mlp()
    with torch.no_grad():
        model[-1].weight.zero_()
    model[-1].requires_grad_(False)  # frozen head: the body's features never reach the output
    r = _run(model=model, checks=["overfit_batch"])["overfit_batch"]
    assert r["status"] == "fail"
    assert "cannot learn" in r["reason"]


def test_overfit_one_batch_fails_when_everything_is_frozen_or_output_detached():
    frozen = _mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):  # refused before any check runs
        _run(model=frozen, checks=["overfit_batch"])

    class Detached(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _mlp()

        def forward(self, x):
            return self.net(x).detach()

    r = _run(model=Detached(), checks=["overfit_batch"])["overfit_batch"]
    assert r["status"] == "fail" and "detached" in r["reason"]


def _digits():
    return datasets.get("digits")(DataConfig())


def test_duplicates_between_train_and_val_are_counted():
    bundle = _digits()
    val_x, test_x = bundle.val.x.clone(), bundle.test.x.clone()
    val_x[:7] = bundle.train.x[:7]
    test_x[:3] = bundle.train.x[10:13]
    leaky = replace(bundle, val=replace(bundle.val, x=val_x), test=replace(bundle.test, x=test_x))
    r = _run(data=leaky, checks=["data"])["data_leakage"]
    assert r["status"] == "warn"
    assert r["details"]["val_in_train"] == 7 and r["details"]["test_in_train"] == 3
    assert "7 of" in r["reason"] and "3 of" in r["reason"]
    clean = _run(checks=["data"])["data_leakage"]
    assert clean["status"] == "pass" and clean["details"]["val_in_train"] == 0


def test_statistics_from_all_splits_are_flagged():
    bundle = _digits()
    mean, std = channel_stats(torch.cat([bundle.train.x, bundle.val.x, bundle.test.x]), bundle.scale)
    r = _run(data=replace(bundle, mean=mean, std=std), checks=["data"])["data_stats"]
    assert r["status"] == "fail" and "train+val+test" in r["reason"]


def test_labels_out_of_range_fail_the_label_check_and_stop_the_build():
    from netcoach.diagnose.datacheck import check_labels
    from netcoach.tasks import build_task

    bundle = _digits()
    y = bundle.val.y.clone()
    y[0] = 12
    bad = replace(bundle, val=replace(bundle.val, y=y))
    r = check_labels(bad, build_task("classification"))
    assert r["status"] == "fail" and "val split" in r["reason"] and "label 12" in r["reason"]
    with pytest.raises(ValueError, match=r"val split: task classification: label 12 is outside the classes 0..9"):
        build_trainer(_config(), data=bad)


def test_large_negative_biases_give_dead_relus():
    model = _mlp()
    with torch.no_grad():
        model[1].bias.fill_(-100.0)
    r = _run(model=model, checks=["init_units"])["init_units"]
    assert r["status"] == "fail"
    assert r["details"]["layers"]["1"]["dead_frac"] == 1.0
    assert _run(checks=["init_units"])["init_units"]["status"] == "pass"


def test_saturated_tanh_is_flagged():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))
    with torch.no_grad():
        model[1].weight.mul_(100)
    r = _run(model=model, checks=["init_units"])["init_units"]
    assert r["status"] == "fail" and r["details"]["layers"]["1"]["saturated_frac"] > 0.5


def test_output_stats_by_hand():
    relu_out = torch.tensor([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]])  # unit 0 never fires
    mean, std, dead, sat = output_stats(nn.ReLU(), relu_out).tolist()
    assert dead == pytest.approx(1 / 3) and mean == pytest.approx(1.0) and math.isnan(sat)
    sig = torch.tensor([[0.005, 0.5, 0.995, 0.98]])  # two of four within 0.01 of a bound
    assert output_stats(nn.Sigmoid(), sig)[3].item() == pytest.approx(0.5)


def test_unknown_check_name_is_a_clear_error():
    with pytest.raises(ValueError, match="initial_los.*valid.*output_layer"):
        _run(checks=["initial_los"])


def test_preflight_does_not_change_the_run(tmp_path):
    over = {"model.dropout": "0.3", "train.epochs": "2", "run.dir": str(tmp_path)}
    on = netcoach.train(_config(**over, **{"diagnose.preflight": "true"}), save=False)
    off = netcoach.train(_config(**over, **{"diagnose.preflight": "false"}), save=False)
    assert len(on.summary["preflight"]) == 10 and off.summary["preflight"] == []
    timing = {"epoch_time", "samples_per_s"}
    strip = lambda h: [{k: v for k, v in e.items() if k not in timing} for e in h]  # noqa: E731
    assert strip(on.history) == strip(off.history)
    for a, b in zip(on.model.state_dict().values(), off.model.state_dict().values()):
        assert torch.equal(a, b)


def test_the_time_budget_stops_the_overfit_check_with_a_warning_not_a_failure():
    # a learning rate too small to memorise in 100,000 steps: the budget (at least 0.1 s) ends it first
    r = _run(checks=["overfit_batch"], **{"diagnose.budget_s": "0.0001", "diagnose.overfit_steps": "100000",
                                          "diagnose.overfit_lr": "1e-7"})
    r = r["overfit_batch"]
    assert r["status"] == "warn" and "time budget" in r["reason"], r
    assert r["details"]["steps"] < 100000
