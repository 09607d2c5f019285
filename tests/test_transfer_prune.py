"""Iterative magnitude pruning: targets, global and structured masks, the sparsity report
against a direct count, masks in checkpoints, resume, lottery-ticket rewind, export."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn.utils import prune

import netcoach
from tests.helpers.interrupt import RaiseAt
from netcoach.config import ConfigError, ModelConfig
from netcoach.models import build_model
from netcoach.transfer.prune import (effective_weight, permanent_state, prune_run, prune_to, pruning_skeleton, rewind,
                                     round_targets, sparsity_report)

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """An MLP trained on digits with a checkpoint per epoch (read only: jobs write elsewhere);
    its rounds checkpoint every epoch too (``checkpoint.min_interval_s 0``), so an interrupt
    can land before or after a round's first checkpoint."""
    runs = tmp_path_factory.mktemp("prune-source")
    cfg = netcoach.load_config(overrides={"model.name": "mlp", "model.width": "32", "train.epochs": "2",
                                          "run.dir": str(runs), "run.name": "src",
                                          "checkpoint.every_epochs": "1", "checkpoint.min_interval_s": "0",
                                          "diagnose.preflight": "false",
                                          "report.enabled": "false"})
    return netcoach.train(cfg, progress=False).run_dir


def test_round_targets_remove_the_same_fraction_of_survivors_each_round():
    # 1 - 0.1^(1/2) = 0.683772..., then 0.9; 1 - 0.5^(r/3) for 0.5 over 3 rounds
    assert round_targets(0.9, 2) == pytest.approx([0.6837722339831621, 0.9])
    assert round_targets(0.5, 3) == pytest.approx([0.2062994740159002, 0.3700394750525634, 0.5])


def test_global_pruning_removes_the_smallest_magnitudes_across_layers():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="mlp", width=16), SHAPE, 10)
    prune_to(model, 0.6)
    weights = [m.weight for m in (model.backbone[1], model.backbone[3], model.head_layer)]
    pruned = torch.cat([m.weight_orig[m.weight_mask == 0].abs() for m in
                        (model.backbone[1], model.backbone[3], model.head_layer)])
    kept = torch.cat([w[w != 0].abs() for w in weights])
    assert pruned.max() <= kept.min()
    total = sum(w.numel() for w in weights)
    assert sparsity_report(model)["zeros"] == round(0.6 * total)
    assert model.backbone[1].bias.ne(0).all()  # biases are never pruned


def test_structured_pruning_zeroes_whole_output_channels_and_keeps_the_head():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="cnn", width=8, depth=2), (1, 16, 16), 10)
    prune_to(model, 0.5, structured=True)
    conv = model.backbone[0]
    zero_rows = (conv.weight.flatten(1).abs().sum(1) == 0).sum().item()
    assert zero_rows == 4  # round(0.5 * 8) of the 8 output channels
    assert not hasattr(model.head_layer, "weight_mask")


def test_report_matches_a_direct_count_and_masks_live_in_the_checkpoints(tmp_path, source):
    report = prune_run(source, amount=0.8, rounds=2, finetune_epochs=1, out=tmp_path / "job")
    assert json.loads((tmp_path / "job" / "prune.json").read_text()) == report
    last = report["rounds"][-1]
    assert last["zeros"] == round(0.8 * last["total"])  # exact count of masked weights
    exported = load_file(tmp_path / "job" / "pruned.safetensors")
    assert not any(k.endswith(("_mask", "_orig")) for k in exported)  # pruning made permanent
    layers = {k[:-len(".weight")]: v for k, v in exported.items() if k.endswith(".weight")}
    zeros = {name: int((w == 0).sum()) for name, w in layers.items()}
    assert sum(zeros.values()) == last["zeros"]
    assert sum(w.numel() for w in layers.values()) == last["total"]
    assert {n: z / layers[n].numel() for n, z in zeros.items()} == pytest.approx(last["layers"])
    fresh = build_model(netcoach.load_run(source)[0].model, SHAPE, 10)
    fresh.load_state_dict(exported)  # strict: a plain model of the source's architecture
    ckpt = load_file(tmp_path / "job" / "round-2" / "checkpoints" / "best.safetensors")
    assert {"backbone.1.weight_orig", "backbone.1.weight_mask", "head.fc.weight_mask"} <= set(ckpt)
    assert report["dense"]["test"] == json.loads((source / "summary.json").read_text())["test"]
    assert report["dense"]["sparsity"] == 0.0


@pytest.fixture(scope="module")
def full_job(tmp_path_factory, source):
    """The 2-round job run without interruption: what every interrupted job must end as."""
    out = tmp_path_factory.mktemp("prune-full") / "full"
    return prune_run(source, amount=0.7, rounds=2, finetune_epochs=2, out=out), out


def _interrupt(source, cut, at_batch):
    """Run the job until a KeyboardInterrupt after ``at_batch`` training batches (both rounds counted)."""
    with pytest.raises(KeyboardInterrupt):
        prune_run(source, amount=0.7, rounds=2, finetune_epochs=2, out=cut, callbacks=[RaiseAt(at_batch)])


def _assert_ends_as(full_job, cut):
    """Resume the job in ``cut``; its rounds (masks per layer, test metrics) and export equal the uninterrupted job's."""
    resumed = prune_run(full_job[0]["source"], amount=0.7, rounds=2, finetune_epochs=2, out=cut)
    full, out = full_job
    strip = [[{k: v for k, v in r.items() if k != "run"} for r in rep["rounds"]] for rep in (full, resumed)]
    assert strip[0] == strip[1]
    a, b = load_file(out / "pruned.safetensors"), load_file(cut / "pruned.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_interrupted_job_resumes_to_the_same_result(tmp_path, source, full_job):
    _interrupt(source, tmp_path / "cut", 17 * 2 + 17 + 5)  # round 2's second epoch
    assert (tmp_path / "cut" / "round-2" / "checkpoints" / "last.json").is_file()
    _assert_ends_as(full_job, tmp_path / "cut")
    with pytest.raises(ConfigError, match="other settings"):
        prune_run(source, amount=0.5, rounds=2, finetune_epochs=2, out=tmp_path / "cut")


def test_a_job_interrupted_before_a_rounds_first_checkpoint_prunes_it_as_the_uninterrupted_one(
        tmp_path, source, full_job):
    # round 2 has a folder but no checkpoint: the resume prunes round 1's best weights
    # loaded from disk into a model whose last forward pass saw other weights
    _interrupt(source, tmp_path / "cut", 17 * 2 + 5)
    assert not (tmp_path / "cut" / "round-2" / "checkpoints" / "last.json").exists()
    assert (tmp_path / "cut" / "round-2" / "config.toml").is_file()
    _assert_ends_as(full_job, tmp_path / "cut")


def test_rewind_resets_surviving_weights_to_the_initialisation_and_keeps_the_mask():
    torch.manual_seed(0)
    init = build_model(ModelConfig(name="mlp", width=16), SHAPE, 10)
    trained = build_model(ModelConfig(name="mlp", width=16), SHAPE, 10)
    prune_to(trained, 0.5)
    mask = trained.backbone[1].weight_mask.clone()
    rewind(trained, init.state_dict())
    assert torch.equal(trained.backbone[1].weight_orig * mask, init.backbone[1].weight * mask)
    assert torch.equal(trained.backbone[1].weight_mask, mask)
    assert torch.equal(trained.backbone[1].bias, init.backbone[1].bias)


def test_skeleton_takes_a_pruned_state_and_permanent_copy_has_plain_weights():
    model = build_model(ModelConfig(name="mlp", width=16), SHAPE, 10)
    prune_to(model, 0.5)
    other = pruning_skeleton(build_model(ModelConfig(name="mlp", width=16), SHAPE, 10))
    other.load_state_dict(model.state_dict())
    assert torch.equal(effective_weight(other.backbone[1]), effective_weight(model.backbone[1]))
    plain = permanent_state(model)
    assert not any(k.endswith(("_orig", "_mask")) for k in plain)
    assert torch.equal(plain["backbone.1.weight"], effective_weight(model.backbone[1]))
    # the same as torch's own prune.remove on the module
    prune.remove(model.backbone[1], "weight")
    assert isinstance(model.backbone[1].weight, nn.Parameter)
    assert torch.equal(plain["backbone.1.weight"], model.backbone[1].weight.detach())


@pytest.mark.parametrize("kwargs, expected", [({"amount": 1.0}, "--amount must be in"),
                                              ({"rounds": 0}, "--rounds and --finetune-epochs"),
                                              ({"rewind_epoch": 5}, "epoch-5.safetensors not found")])
def test_bad_pruning_arguments_are_named(tmp_path, source, kwargs, expected):
    args = {"amount": 0.5, "rounds": 1, "finetune_epochs": 1, "out": tmp_path / "job", **kwargs}
    with pytest.raises(ConfigError, match=expected):
        prune_run(source, **args)
    assert not (tmp_path / "job").exists()


def test_prune_cli_prints_rounds_and_layers(tmp_path, source, capsys):
    from netcoach.cli import main

    assert main(["prune", str(source), "--amount", "0.5", "--rounds", "1", "--finetune-epochs", "1",
                 "--out", str(tmp_path / "job")]) == 0
    out = capsys.readouterr().out
    assert "round 1" in out and "sparsity 0.500" in out and "backbone.1" in out and "pruned.safetensors" in out


def test_a_job_killed_while_a_round_folder_was_being_made_resumes(tmp_path, source, full_job, monkeypatch):
    # the folder exists (with its lock) but config.toml was never written: a kill inside RunFolder.create
    from netcoach.train.run import RunFolder

    real = RunFolder.write_config

    def dies_in_round_2(self, config):
        if self.path.name == "round-2":
            raise KeyboardInterrupt
        real(self, config)

    monkeypatch.setattr(RunFolder, "write_config", dies_in_round_2)
    with pytest.raises(KeyboardInterrupt):
        prune_run(source, amount=0.7, rounds=2, finetune_epochs=2, out=tmp_path / "cut")
    assert [p.name for p in (tmp_path / "cut" / "round-2").iterdir()] == [".lock"]
    monkeypatch.setattr(RunFolder, "write_config", real)
    _assert_ends_as(full_job, tmp_path / "cut")
