"""Equal parameter groups are one group: the same update, and a run saved with the groups
apart (two Adam groups without weight decay) resumes exactly into the merged layout."""

from __future__ import annotations

import copy
import importlib

import pytest
import torch
from torch import nn

import netcoach
from netcoach.api import build_trainer
from netcoach.config import OptimConfig
from netcoach.optim import build_optimizer
from netcoach.optim.params import merge_equal_groups, merge_saved_groups, param_groups
from netcoach.train.checkpoint import CheckpointError
from netcoach.train.state import capture, restore

from helpers.runs import single_thread

# the module (the package's ``optimizers`` name is the registry)
optimizers_module = importlib.import_module("netcoach.optim.optimizers")


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def test_without_weight_decay_decay_and_no_decay_are_one_group_weights_first():
    model = net()
    opt = build_optimizer(model, OptimConfig(name="adam", weight_decay=0.0))
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["name"] == "all"
    assert "decay" not in opt.param_groups[0]  # its members disagree; group_report says which decay
    # the old groups' order, concatenated: weights, then biases (torch keys its state by this position)
    expected = [model[0].weight, model[2].weight, model[0].bias, model[2].bias]
    assert [p is q for p, q in zip(opt.param_groups[0]["params"], expected)] == [True] * 4
    assert opt.group_report["decay"] == ["0.weight", "2.weight"]
    decayed = build_optimizer(model, OptimConfig(name="adam", weight_decay=1e-4))
    assert [g["name"] for g in decayed.param_groups] == ["decay", "no_decay"]


def test_only_consecutive_groups_with_equal_options_merge():
    a, b, c, d = (nn.Parameter(torch.zeros(1)) for _ in range(4))
    groups = [{"params": [a], "lr": 1.0, "name": "x.decay", "decay": True},
              {"params": [b], "lr": 1.0, "name": "x.no_decay", "decay": False},
              {"params": [c], "lr": 2.0, "name": "y.decay", "decay": True},
              {"params": [d], "lr": 1.0, "name": "z.decay", "decay": True}]
    merged = merge_equal_groups(groups)
    assert [(g["name"], [id(p) for p in g["params"]], g["lr"]) for g in merged] == [
        ("x", [id(a), id(b)], 1.0), ("y.decay", [id(c)], 2.0), ("z.decay", [id(d)], 1.0)]


def test_one_merged_adam_group_updates_bit_identically_to_the_two_groups():
    model_two, model_one = net(), net()
    groups, _ = param_groups(model_two, weight_decay=0.0)
    two = torch.optim.Adam(groups, lr=1e-2)
    one = build_optimizer(model_one, OptimConfig(name="adam", lr=1e-2, fused=False))  # torch's default step
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for model, opt in ((model_two, two), (model_one, one)):
        for _ in range(5):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    assert all(torch.equal(p, q) for p, q in zip(model_two.parameters(), model_one.parameters()))


def test_saved_groups_that_do_not_line_up_are_left_for_load_state_dict_to_refuse():
    current = [{"params": [0, 1, 2], "lr": 1.0}]
    saved = [{"params": [0, 1], "lr": 1.0}, {"params": [2], "lr": 0.5}]  # unequal options
    assert merge_saved_groups(saved, current) == (saved, None)
    saved = [{"params": [0], "lr": 1.0}, {"params": [1], "lr": 1.0}]  # one parameter short
    assert merge_saved_groups(saved, current) == (saved, None)


def config(epochs: int, **extra):
    return netcoach.load_config(overrides={
        "model.name": "mlp", "model.width": "16", "train.epochs": str(epochs), "schedule.name": "onecycle",
        "diagnose.preflight": "false", "diagnose.monitor": "false", **extra})


def test_a_state_saved_with_two_groups_resumes_exactly_into_one(monkeypatch):
    """A run saved before equal groups merged and Adam was fused (two for-loop Adam groups,
    the onecycle schedule's per-group lists) continues bit-identically to the same run
    continued in the old layout: the saved groups bring their ``fused`` (unset) along."""
    with single_thread():
        with monkeypatch.context() as patch:  # the old layout: no merging, torch's default step
            patch.setattr(optimizers_module, "merge_equal_groups", lambda groups: groups)
            old = build_trainer(config(2, **{"optim.fused": "false"}))
        assert len(old.optimizer.param_groups) == 2
        old.epochs = 1
        old.fit()
        saved = copy.deepcopy(capture(old))
        old.epochs = 2
        old.fit()  # the old run, continued in its own layout
        new = build_trainer(config(2))
        assert len(new.optimizer.param_groups) == 1
        restore(new, saved)
        assert len(new.schedule.state_dict()["scheduler"]["base_lrs"]) == 1
        assert new.optimizer.param_groups[0]["fused"] is None  # the saved run's own step
        new.fit()
    assert new.epoch == old.epoch == 2
    assert all(torch.equal(p, q) for p, q in zip(old.model.parameters(), new.model.parameters()))
    assert [h["val_loss"] for h in new.history] == [h["val_loss"] for h in old.history]


def test_a_state_of_another_model_is_still_refused_with_a_checkpoint_error():
    with single_thread():
        small = build_trainer(config(1))
        other = build_trainer(netcoach.load_config(overrides={
            "model.name": "mlp", "model.width": "8", "model.depth": "3", "diagnose.preflight": "false"}))
    with pytest.raises(CheckpointError, match="does not fit this model/optimizer"):
        restore(other, capture(small))


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_is_fused_by_default_and_optim_fused_false_is_torchs_default_step(name):
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    models = {"fused": net(), "loop": net(), "torch": net()}
    opts = {"fused": build_optimizer(models["fused"], OptimConfig(name=name, lr=1e-2, weight_decay=1e-2)),
            "loop": build_optimizer(models["loop"], OptimConfig(name=name, lr=1e-2, weight_decay=1e-2,
                                                                fused=False)),
            "torch": cls(param_groups(models["torch"], weight_decay=1e-2)[0], lr=1e-2)}
    assert [g["fused"] for g in opts["fused"].param_groups] == [True, True]
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    with single_thread():
        for key, model in models.items():
            for _ in range(20):
                opts[key].zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                opts[key].step()
    loop, fused, plain = (list(models[k].parameters()) for k in ("loop", "fused", "torch"))
    assert all(torch.equal(p, q) for p, q in zip(loop, plain))
    # the same update, rounded differently: equal to float32 precision after 20 steps
    assert all(torch.allclose(p, q, rtol=0, atol=1e-6) for p, q in zip(fused, plain))
