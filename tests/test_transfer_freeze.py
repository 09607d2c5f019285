"""[transfer]: frozen blocks (BatchNorm statistics included), unfreezing, discriminative lr, exact resume."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import netcoach
from tests.helpers.interrupt import RaiseAt
from netcoach.config import ConfigError, ModelConfig, TransferConfig
from netcoach.models import build_model
from netcoach.transfer import backbone_blocks, lr_multipliers

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A small CNN with BatchNorm trained on digits: the weights to transfer (read only)."""
    runs = tmp_path_factory.mktemp("freeze-source")
    cfg = netcoach.load_config(overrides={"model.name": "cnn", "model.width": "8", "train.epochs": "1",
                                          "run.dir": str(runs), "run.name": "src",
                                          "diagnose.preflight": "false", "report.enabled": "false"})
    return netcoach.train(cfg, progress=False).run_dir


def _overrides(quick_overrides, source_run, **extra):
    return {**quick_overrides, "model.name": "cnn", "model.width": "8",
            "model.init_from": str(source_run), **{k.replace("__", "."): str(v) for k, v in extra.items()}}


def test_blocks_are_a_weight_layer_with_the_norm_activation_and_pool_after_it():
    model = build_model(ModelConfig(name="cnn", width=8, depth=2), (1, 16, 16), 10)
    blocks = backbone_blocks(model)
    kinds = [[type(m).__name__ for m in block] for block in blocks]
    assert kinds == [["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"],
                     ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "AdaptiveAvgPool2d", "Flatten"]]
    mlp = build_model(ModelConfig(name="mlp", width=8), SHAPE, 10)
    assert [[type(m).__name__ for m in b] for b in backbone_blocks(mlp)] == [
        ["Flatten", "Linear", "ReLU"], ["Linear", "ReLU"]]


def test_layer_decay_and_backbone_mult_give_hand_computed_group_lrs():
    model = build_model(ModelConfig(name="mlp", width=8), SHAPE, 10)
    parts = lr_multipliers(model, TransferConfig(backbone_lr_mult=0.1, layer_decay=0.5))
    # B = 2 blocks: block0 0.1 * 0.5^2, block1 0.1 * 0.5^1, head 1
    assert [(name, mult) for name, _, mult in parts] == [("head", 1.0), ("block0", 0.025), ("block1", 0.05)]
    optimizer = netcoach.api.build_optimizer(model, netcoach.load_config().optim, lr_scales=parts)
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    # without weight decay each part's decay and no-decay groups are one group
    assert lrs == pytest.approx({"head": 1e-3, "block0": 2.5e-5, "block1": 5e-5})
    decayed = netcoach.api.build_optimizer(model, netcoach.load_config(overrides={"optim.weight_decay": "1e-4"}).optim,
                                           lr_scales=parts)
    assert {g["name"]: g["lr"] for g in decayed.param_groups} == pytest.approx(
        {"head.decay": 1e-3, "head.no_decay": 1e-3, "block0.decay": 2.5e-5, "block0.no_decay": 2.5e-5,
         "block1.decay": 5e-5, "block1.no_decay": 5e-5})
    grouped = sum(len(g["params"]) for g in optimizer.param_groups)
    assert grouped == len(list(model.parameters()))


def test_frozen_backbone_keeps_weights_and_batchnorm_statistics_bit_identical(tmp_path, quick_overrides,
                                                                                source_run):
    from netcoach.transfer import read_state_dict

    before = read_state_dict(source_run)
    cfg = netcoach.load_config(overrides=_overrides(
        quick_overrides, source_run, train__epochs=1, run__name="frozen", transfer__freeze="backbone",
        regularize__weight_decay=0.01, regularize__max_norm=0.01))  # both would move frozen weights
    result = netcoach.train(cfg, progress=False)
    after = result.model.state_dict()
    backbone = [k for k in before if k.startswith("backbone.")]
    assert any(k.endswith("running_mean") for k in backbone)
    assert any(k.endswith("num_batches_tracked") for k in backbone)
    for key in backbone:
        assert torch.equal(after[key], before[key]), key
    assert not torch.equal(after["head.fc.weight"], before["head.fc.weight"])


def test_freezing_the_first_block_leaves_the_second_training(tmp_path, quick_overrides, source_run):
    from netcoach.transfer import read_state_dict

    before = read_state_dict(source_run)
    cfg = netcoach.load_config(overrides=_overrides(quick_overrides, source_run, train__epochs=1,
                                                    run__name="one", transfer__freeze=1))
    after = netcoach.train(cfg, progress=False).model.state_dict()
    assert torch.equal(after["backbone.0.weight"], before["backbone.0.weight"])
    assert torch.equal(after["backbone.1.running_mean"], before["backbone.1.running_mean"])
    assert not torch.equal(after["backbone.4.weight"], before["backbone.4.weight"])
    assert not torch.equal(after["backbone.5.running_mean"], before["backbone.5.running_mean"])


class _Record(netcoach.Callback):
    """The first conv's weight after every epoch."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, trainer, logs):
        self.weights.append(trainer.model.backbone[0].weight.detach().clone())


def test_backbone_trains_from_the_unfreeze_epoch_on(tmp_path, quick_overrides, source_run):
    from netcoach.transfer import read_state_dict

    start = read_state_dict(source_run)["backbone.0.weight"]
    record = _Record()
    cfg = netcoach.load_config(overrides=_overrides(
        quick_overrides, source_run, train__epochs=3, run__name="unfreeze", transfer__freeze="backbone",
        transfer__unfreeze_epoch=2, transfer__backbone_lr_mult=0.1))
    netcoach.train(cfg, callbacks=[record], progress=False)
    assert torch.equal(record.weights[0], start) and torch.equal(record.weights[1], start)
    assert not torch.equal(record.weights[2], start)


@pytest.mark.parametrize("at_batch", [20, 34])  # mid-epoch 2 (still frozen); the unfreeze boundary
def test_resume_across_the_unfreeze_epoch_equals_an_uninterrupted_run(tmp_path, quick_overrides,
                                                                       source_run, at_batch):
    common = dict(train__epochs=3, transfer__freeze="backbone", transfer__unfreeze_epoch=2,
                  transfer__layer_decay=0.5, checkpoint__every_steps=3, checkpoint__min_interval_s=0,
                  optim__weight_decay=1e-3)
    full = netcoach.train(netcoach.load_config(overrides=_overrides(
        quick_overrides, source_run, run__name="full", **common)), progress=False)
    cfg = netcoach.load_config(overrides=_overrides(quick_overrides, source_run, run__name="cut", **common))
    with pytest.raises(KeyboardInterrupt):
        netcoach.train(cfg, callbacks=[RaiseAt(at_batch)], progress=False)
    resumed = netcoach.train(resume=tmp_path / "runs" / "cut", progress=False)
    drop = ("epoch_time", "samples_per_s")
    strip = [[{k: v for k, v in h.items() if k not in drop} for h in r.history] for r in (full, resumed)]
    assert strip[0] == strip[1]
    assert resumed.summary["test"] == full.summary["test"]
    for key, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    steps = [json.loads(line) for line in (tmp_path / "runs" / "cut" / "steps.jsonl").read_text().splitlines()]
    full_steps = [json.loads(line) for line in (full.run_dir / "steps.jsonl").read_text().splitlines()]
    assert [s["loss"] for s in steps] == [s["loss"] for s in full_steps]


@pytest.mark.parametrize("key, value, expected", [
    ("transfer.freeze", "everything", "expected none, backbone or a number"),
    ("transfer.freeze", "9", "the backbone has 3"),
    ("transfer.layer_decay", "1.5", "must be in \\(0, 1\\]"),
    ("transfer.unfreeze_epoch", "2", "nothing to unfreeze"),
])
def test_bad_transfer_options_fail_before_a_run_folder(tmp_path, quick_overrides, key, value, expected):
    cfg = netcoach.load_config(overrides={**quick_overrides, "model.name": "cnn", "model.width": "8",
                                          key: value})
    with pytest.raises(ConfigError, match=expected):
        netcoach.train(cfg, progress=False)
    assert not (tmp_path / "runs").exists()


def test_transfer_options_on_a_model_without_a_backbone_say_so():
    with pytest.raises(ConfigError, match="no `backbone`"):
        backbone_blocks(nn.Linear(3, 2))


def test_discriminative_lr_with_a_one_range_schedule_is_refused(tmp_path, quick_overrides):
    cfg = netcoach.load_config(overrides={**quick_overrides, "transfer.layer_decay": "0.5",
                                          "schedule.name": "cyclic"})
    with pytest.raises(ConfigError, match="schedule.name cyclic sets one lr range"):
        netcoach.train(cfg, progress=False)
    assert not (tmp_path / "runs").exists()


def test_freezing_with_several_processes_is_refused(tmp_path, quick_overrides):
    from netcoach.transfer import prepare

    cfg = netcoach.load_config(overrides={**quick_overrides, "transfer.freeze": "backbone", "dist.nproc": "2"})
    with pytest.raises(ConfigError, match="dist.nproc > 1 is not supported"):
        prepare(build_model(ModelConfig(name="mlp", width=8), SHAPE, 10), cfg)


def test_unfreezing_leaves_the_models_fixed_norm_scales_fixed():
    from netcoach.transfer.freeze import Freezer

    model = build_model(ModelConfig(name="cnn", width=8, depth=2, norm_scale="fixed"), (1, 16, 16), 10)
    blocks = backbone_blocks(model)
    scales = [m.weight for b in blocks for m in b if isinstance(m, nn.BatchNorm2d)]
    convs = [m.weight for b in blocks for m in b if isinstance(m, nn.Conv2d)]
    assert scales and not any(s.requires_grad for s in scales)
    freezer = Freezer([m for b in blocks for m in b], unfreeze_epoch=1)
    freezer.on_fit_start(SimpleNamespace(epoch=0))
    assert not any(c.requires_grad for c in convs)
    freezer.on_epoch_start(SimpleNamespace(epoch=1))  # the unfreeze epoch
    assert all(c.requires_grad for c in convs)
    assert not any(s.requires_grad for s in scales)  # still fixed at 1, in no optimizer group
