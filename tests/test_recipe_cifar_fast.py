"""The cifar10-fast recipe (airbench94 on CPUs) and the general options it is built from:
norm-bias lr multipliers, fixed normalization scales, dirac conv init, onecycle's shape
options and per-group peaks, and a bf16 + channels-last run that resumes bit-exactly."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from torch import nn

import netcoach
from tests.helpers.interrupt import InterruptAt
from netcoach.config import ModelConfig, OptimConfig, ScheduleConfig
from netcoach.train.resume import with_overrides
from netcoach.models import build_model
from netcoach.nn.init import inits
from netcoach.optim import build_optimizer, build_schedule
from netcoach.api import build_trainer
from netcoach.recipes import get_recipe
from netcoach.train import final
from netcoach.train.load import load_run
from safetensors.torch import load_file

from helpers.runs import assert_same_weights

KILOSTEP = 1024 * (1 + 1 / (1 - 0.85))  # airbench94's kilostep_scale at momentum 0.85: 7850.67


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.Flatten(),
                         nn.Linear(4 * 2 * 2, 2))


def test_cifar10_fast_gives_airbench94s_steps_in_mean_loss_units():
    config = get_recipe("cifar10-fast").config()
    b, o = config.data.batch_size, config.optim
    # airbench: torch lr 11.5 / kilostep on a summed loss = lr x B on a mean loss
    assert o.lr == pytest.approx(11.5 * b / KILOSTEP, rel=1e-3)           # 0.75 at B = 512
    # decay per step lr x wd = 0.0153 B / kilostep, for every group
    assert o.lr * o.weight_decay == pytest.approx(0.0153 * b / KILOSTEP, rel=1e-3)
    assert (o.momentum, o.name, o.norm_bias_lr_mult, o.decay_bias_norm) == (0.85, "nesterov", 64.0, True)
    s = config.schedule
    assert (s.name, s.anneal_strategy, s.pct_start) == ("onecycle", "linear", 0.23)
    assert 1 / s.div_factor == pytest.approx(0.2) and 1 / s.div_factor / s.final_div_factor == pytest.approx(0.07)
    assert config.loss.label_smoothing == 0.2
    assert (config.model.norm_scale, config.model.init, config.model.width_mult) == ("fixed", "dirac", 1.0)
    assert (config.train.precision, config.train.channels_last) == ("bf16", True)
    assert config.average.lookahead and config.train.test_weights == "last"


def test_cifar10_94_gives_the_same_steps_at_batch_1024():
    config = get_recipe("cifar10-94").config()
    o = config.optim
    assert config.data.batch_size == 1024
    assert o.lr == pytest.approx(1.5, rel=1e-3)
    assert o.weight_decay == pytest.approx(0.0153 / 11.5, rel=1e-3)
    assert o.norm_bias_lr_mult == 64.0 and config.model.norm_scale == "fixed"


def test_norm_bias_lr_mult_moves_bn_shifts_to_a_group_with_64x_lr_and_decay_over_64():
    model = small_net()
    cfg = OptimConfig(name="nesterov", lr=0.75, momentum=0.85, weight_decay=1.3304e-3,
                      decay_bias_norm=True, norm_bias_lr_mult=64.0)
    opt = build_optimizer(model, cfg)
    by_name = {g["name"]: g for g in opt.param_groups}
    assert list(by_name) == ["decay", "decay.norm_bias"]  # the main group stays first (its lr is logged)
    shifted = by_name["decay.norm_bias"]
    assert [p is model[1].bias for p in shifted["params"]] == [True]
    assert shifted["lr"] == pytest.approx(48.0) and shifted["lr_mult"] == 64.0
    assert shifted["weight_decay"] == pytest.approx(1.3304e-3 / 64)
    # the decay per step lr x wd is the same in both groups: 0.75 x 1.3304e-3 = 9.978e-4
    assert shifted["lr"] * shifted["weight_decay"] == pytest.approx(9.978e-4, rel=1e-4)
    assert by_name["decay"]["lr"] * by_name["decay"]["weight_decay"] == pytest.approx(9.978e-4, rel=1e-4)
    held = {id(p) for p in by_name["decay"]["params"]}
    assert id(model[1].weight) in held and id(model[3].bias) in held


def test_norm_bias_lr_mult_one_keeps_the_usual_groups_and_a_bad_value_is_refused():
    model = small_net()
    opt = build_optimizer(model, OptimConfig(name="sgd", lr=0.1, weight_decay=0.01))
    assert [g["name"] for g in opt.param_groups] == ["decay", "no_decay"]
    with pytest.raises(ValueError, match="optim.norm_bias_lr_mult must be > 0"):
        build_optimizer(model, OptimConfig(name="sgd", norm_bias_lr_mult=0.0))


def test_linear_onecycle_follows_airbenchs_schedule_in_every_group():
    model = small_net()
    opt = build_optimizer(model, OptimConfig(name="sgd", lr=1.0, norm_bias_lr_mult=10.0))
    cfg = ScheduleConfig(name="onecycle", pct_start=0.25, anneal_strategy="linear",
                         div_factor=5.0, final_div_factor=0.2 / 0.07)
    schedule = build_schedule(opt, cfg, epochs=1, steps_per_epoch=9)  # 9 steps: up over steps 0..2, down 2..8
    seen = []
    for _ in range(9):
        seen.append([g["lr"] for g in opt.param_groups])
        schedule.after_batch()
    # torch's OneCycleLR: phase 1 ends at step pct_start x 9 - 1 = 1.25; linear 0.2 -> 1 -> 0.07
    expected = [0.2, 0.2 + 0.8 / 1.25, 1.0 - 0.93 * 0.75 / 6.75, None, None, None, None, None, 0.07]
    for step, value in enumerate(expected):
        if value is not None:
            assert seen[step][0] == pytest.approx(value, rel=1e-6), step
    assert all(row[-1] == pytest.approx(10 * row[0]) for row in seen)  # the 10x group keeps its ratio


def test_fixed_norm_scales_are_not_trained_and_stay_one():
    model = build_model(ModelConfig(name="airbench", activation="gelu", width_mult=0.125,
                                    norm_scale="fixed"), (3, 16, 16), 10)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not bn.weight.requires_grad and bn.bias.requires_grad for bn in bns)
    opt = build_optimizer(model, OptimConfig(name="sgd", lr=0.5))
    held = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not any(id(bn.weight) in held for bn in bns)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    assert all(torch.equal(bn.weight, torch.ones_like(bn.weight)) for bn in bns)
    learned = build_model(ModelConfig(name="airbench", width_mult=0.125), (3, 16, 16), 10)
    assert all(m.weight.requires_grad for m in learned.modules() if isinstance(m, nn.BatchNorm2d))


def test_dirac_init_passes_each_input_channel_through_its_filter():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="cnn", width=8, depth=1, init="dirac"), (3, 8, 8), 4)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    x = torch.randn(2, conv.in_channels, 8, 8)
    out = nn.functional.conv2d(x, conv.weight, None, padding=conv.padding)
    assert torch.allclose(out[:, :conv.in_channels], x)  # identity on the first C_in filters
    assert conv.weight[conv.in_channels:].abs().sum() > 0  # the others keep their random init
    w = torch.zeros(2, 5, 3, 3)  # fewer filters than inputs: each filter passes one channel
    inits.get("dirac")(w, 0.0)
    assert w.sum() == 2 and w[0, 0, 1, 1] == 1 and w[1, 1, 1, 1] == 1


def _images(n: int = 96, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
    x[:, y % 3] = (x[:, y % 3] // 2 + 100).clamp(max=255)  # a learnable colour cue per class
    return x, y


def test_cifar10_fast_settings_train_in_bf16_channels_last_and_resume_bit_exactly(tmp_path):
    torch.set_num_threads(1)
    base = {"model.width_mult": "0.125", "train.epochs": "2", "data.batch_size": "16",
            "data.val_fraction": "0.2", "data.test_fraction": "0.2", "train.threads": "1",
            "run.dir": str(tmp_path), "report.enabled": "false", "checkpoint.min_interval_s": "0"}
    recipe = get_recipe("cifar10-fast").config()
    data = _images()
    whole = netcoach.train(with_overrides(recipe, {**base, "run.name": "whole"}),
                           data=data, progress=False).run_dir
    cut_config = with_overrides(recipe, {**base, "run.name": "cut"})
    cut = netcoach.train(cut_config, data=data, callbacks=[InterruptAt(5)], progress=False).run_dir
    assert not (cut / "summary.json").exists() or json.loads((cut / "summary.json").read_text())["epochs_run"] < 2
    netcoach.train(resume=cut, data=data, progress=False)
    assert_same_weights(whole, cut, ("last", "best"), "interrupted after batch 5 and resumed")
    summary = json.loads((whole / "summary.json").read_text())
    assert math.isfinite(summary["test"]["test_loss"]) and "test_acc_tta" in summary["test"]
    config = (whole / "config.toml").read_text()
    assert 'precision = "bf16"' in config and "channels_last = true" in config
    weights = load_file(str(whole / "checkpoints" / "last.safetensors"))
    scales = [v for k, v in weights.items() if k.endswith(".weight") and v.dim() == 1]
    assert scales and all(torch.equal(v, torch.ones_like(v)) for v in scales)  # BN scales fixed at 1


def test_lookahead_pulls_to_the_slow_weights_with_the_ramped_share():
    from netcoach.train.lookahead import Lookahead

    look = Lookahead(every=5, decay=0.95 ** 5, power=3.0)
    assert look.factor(5, 10) == pytest.approx(0.95 ** 5 * 0.5 ** 3)   # 0.0967
    assert look.factor(10, 10) == pytest.approx(0.7737809)
    layer = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    look.pull(layer, 0.5)                      # the first pull only starts the slow copy
    assert float(layer.weight.detach()) == 1.0
    with torch.no_grad():
        layer.weight.fill_(3.0)
    look.pull(layer, 0.25)                     # slow = 0.25 x 1 + 0.75 x 3 = 2.5; fast <- slow
    assert float(layer.weight.detach()) == pytest.approx(2.5) and float(look.slow["weight"]) == pytest.approx(2.5)
    again = Lookahead()
    again.load_state_dict(look.state_dict())
    assert torch.equal(again.slow["weight"], look.slow["weight"])
    with pytest.raises(ValueError, match="average.lookahead_every"):
        Lookahead(every=0)


def test_a_lookahead_run_ends_on_its_slow_weights(tmp_path):
    torch.set_num_threads(1)
    over = {"model.name": "mlp", "model.width": "16", "train.epochs": "2", "average.lookahead": "true",
            "average.lookahead_every": "3", "average.lookahead_power": "0", "average.lookahead_decay": "0.5",
            "run.dir": str(tmp_path), "run.name": "la", "diagnose.preflight": "false",
            "report.enabled": "false"}
    result = netcoach.train(netcoach.load_config(overrides=over), progress=False)
    checkpoints = result.run_dir / "checkpoints"
    pointer = json.loads((checkpoints / "last.json").read_text())
    saved = load_file(str(checkpoints / pointer["tensors"]))
    last = load_file(str(checkpoints / "last.safetensors"))
    slow = {name: next(v for k, v in saved.items() if "lookahead" in k and k.endswith(name)) for name in last}
    assert all(torch.equal(last[k], slow[k]) for k in last)  # the run ended on the slow weights


def test_test_weights_last_evaluates_the_last_epoch_not_the_best_one(tmp_path):
    torch.set_num_threads(1)
    over = {"model.name": "mlp", "model.width": "16", "train.epochs": "3", "train.test_weights": "last",
            "schedule.name": "onecycle", "optim.lr": "0.01", "run.dir": str(tmp_path), "run.name": "last",
            "diagnose.preflight": "false", "report.enabled": "false"}
    result = netcoach.train(netcoach.load_config(overrides=over), progress=False)
    assert "tested the last epoch's weights (train.test_weights last)" in result.summary["notes"]
    _, last = load_run(result.run_dir, "last")
    trainer = build_trainer(netcoach.load_config(overrides={**over, "run.name": "again"}))
    trainer.model.load_state_dict(last.state_dict())
    outputs = final.predict(trainer.model, trainer.loaders["test"])
    tested = final.test_metrics(trainer.task, outputs, trainer.loaders["test"].split.y.cpu())
    assert tested["test_acc"] == result.summary["test"]["test_acc"]
    assert tested["test_loss"] == pytest.approx(result.summary["test"]["test_loss"], rel=1e-9)


def test_cifar10_94_recipe_runs_whole_on_the_cpu_compiled_in_bf16(tmp_path):
    # the GPU recipe's every setting but the device (torch.compile, bf16, channels-last,
    # lookahead, TTA), so a GPU run cannot fail on the recipe itself
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        pytest.skip("torch.compile's CPU backend needs a C++ compiler")
    torch.set_num_threads(1)
    over = {"train.device": "cpu", "model.width_mult": "0.125", "train.epochs": "1", "data.batch_size": "16",
            "data.val_fraction": "0.2", "data.test_fraction": "0.2", "train.threads": "1",
            "run.dir": str(tmp_path), "run.name": "gpu-recipe", "report.enabled": "false"}
    result = netcoach.train(with_overrides(get_recipe("cifar10-94").config(), over), data=_images(), progress=False)
    config = (result.run_dir / "config.toml").read_text()
    assert "compile = true" in config and 'precision = "bf16"' in config and "channels_last = true" in config
    assert math.isfinite(result.summary["test"]["test_loss"]) and "test_acc_tta" in result.summary["test"]
