"""LR finder: the record it writes, that it leaves no trace, and that its suggestion trains."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

import netcoach
from netcoach.cli import main
from netcoach.optim.lr_finder import default_lrs, suggest, sweep
from netcoach.train.lr_find import lr_find
from netcoach.report.plots import DPI


def overrides(tmp_path, **extra):
    base = {"model.name": "mlp", "optim.name": "sgd", "optim.lr": "0.05", "train.epochs": "2",
            "run.dir": str(tmp_path / "runs"), "diagnose.preflight": "false", "report.enabled": "false"}
    return {**base, **extra}


def test_default_lrs_are_the_course_grid():
    lrs = default_lrs()
    assert len(lrs) == 200 and lrs[0] == pytest.approx(1e-8) and lrs[-1] == pytest.approx(1.0)
    assert lrs[1] / lrs[0] == pytest.approx(10 ** (8 / 199))


def test_suggestion_rules_on_a_known_curve():
    lrs = [10.0 ** e for e in range(-6, 1)]          # 1e-6 .. 1
    smoothed = [2.0, 2.0, 1.9, 1.2, 0.5, 0.4, 3.0]     # minimum at 0.1, fastest fall at 1e-3
    assert suggest(lrs, smoothed, "min/10") == pytest.approx(1e-1 / 10)
    assert suggest(lrs, smoothed, "steepest") == pytest.approx(1e-3)
    assert suggest(lrs, [2.0, 2.1, 2.2, 2.3], "min/10") is None   # never decreased


def test_sweep_smooths_with_bias_correction_and_stops_on_divergence_without_a_trainer():
    calls = []
    losses = iter([4.0, 2.0, 1.0])
    used, raw, smoothed, early = sweep(lambda lr: calls.append(lr) or next(losses), [1e-3, 1e-2, 1e-1], beta=0.5)
    # by hand: avg 2, 2, 1.5 over (1 - 0.5 ** k) = 0.5, 0.75, 0.875
    assert smoothed == pytest.approx([4.0, 2.0 / 0.75, 1.5 / 0.875]) and raw == [4.0, 2.0, 1.0]
    assert used == calls == [1e-3, 1e-2, 1e-1] and not early
    values = iter([1.0, 1.0, 100.0, 1.0])
    used, _, smoothed, early = sweep(lambda lr: next(values), [1, 2, 3, 4], beta=0.0, diverge=4.0, min_steps=1)
    assert used == [1, 2, 3] and smoothed == [1.0, 1.0, 100.0] and early   # 100 > 4 x 1: stopped
    values = iter([1.0, math.inf, 1.0])
    used, raw, smoothed, early = sweep(lambda lr: next(values), [1, 2, 3])
    assert used == [1, 2] and raw[1] == smoothed[1] == math.inf and early


def test_cli_writes_record_and_smoothing_is_the_stated_average(tmp_path, capsys):
    out = tmp_path / "lrf"
    code = main(["lr-find", "--model.name", "mlp", "--optim.name", "sgd", "--num", "60",
                 "--start-exp", "-4", "--end-exp", "1", "--out", str(out),
                 "--run.dir", str(tmp_path / "runs")])
    assert code == 0
    record = json.loads((out / "lr_find.json").read_text())
    assert set(record) >= {"lrs", "losses", "smoothed", "suggestion", "rule"}
    n = len(record["lrs"])
    assert 10 < n <= 60 and record["lrs"][0] == pytest.approx(1e-4)
    assert len(record["losses"]) == len(record["smoothed"]) == n
    avg = 0.0
    for i, loss in enumerate(record["losses"]):
        if not math.isfinite(loss):
            break
        avg = 0.98 * avg + 0.02 * loss
        assert record["smoothed"][i] == pytest.approx(avg / (1 - 0.98 ** (i + 1)))
    assert isinstance(record["suggestion"], float) and "minimum of the smoothed loss" in record["rule"]
    assert "suggested lr" in capsys.readouterr().out


def test_cli_writes_the_plot_of_the_record(tmp_path):
    out = tmp_path / "lrf"
    assert main(["lr-find", "--model.name", "mlp", "--num", "30", "--out", str(out)]) == 0
    record = json.loads((out / "lr_find.json").read_text())
    assert 0 < len(record["lrs"]) <= 30 and record["lrs"] == sorted(record["lrs"])
    with Image.open(out / "lr_find.png") as png:
        png.verify()  # a complete, uncorrupted PNG
    with Image.open(out / "lr_find.png") as png:
        assert png.format == "PNG" and png.size == (round(6.0 * DPI), round(3.4 * DPI))
        colours = png.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 10  # curves and labels drawn, not a blank canvas
    # the suggested-lr line is crimson (220, 20, 60), blended by antialiasing
    crimson = sum(n for n, (r, g, b) in colours if r > 150 and r - g > 100 and r - b > 80)
    assert (crimson > 0) == (record["suggestion"] is not None)


def test_stops_early_when_the_loss_diverges(tmp_path):
    trainer = netcoach.build_trainer(netcoach.load_config(overrides=overrides(tmp_path)))
    record = lr_find(trainer, default_lrs(-3, 4, 100))
    assert record["stopped_early"] and len(record["lrs"]) < 100
    assert record["smoothed"][-1] > 4 * min(record["smoothed"]) or not math.isfinite(record["losses"][-1])


def _fit_two_epochs(tmp_path, with_finder: bool):
    cfg = netcoach.load_config(overrides=overrides(tmp_path, **{"optim.name": "momentum",
                                                                 "model.dropout": "0.3"}))
    trainer = netcoach.build_trainer(cfg)
    trainer.epochs = 1
    trainer.fit()                      # optimizer has momentum state, loader has advanced
    if with_finder:
        before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        opt_before = {k: v["momentum_buffer"].clone() for k, v in trainer.optimizer.state.items()}
        lrs = [g["lr"] for g in trainer.optimizer.param_groups]
        record = lr_find(trainer)
        assert len(record["lrs"]) > 20
        after = trainer.model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)   # bit-identical
        assert all(torch.equal(opt_before[p], s["momentum_buffer"]) for p, s in trainer.optimizer.state.items())
        assert [g["lr"] for g in trainer.optimizer.param_groups] == lrs
    trainer.epochs = 2
    trainer.fit()
    return trainer


def test_finder_leaves_training_bit_identical(tmp_path):
    plain = _fit_two_epochs(tmp_path, with_finder=False)
    found = _fit_two_epochs(tmp_path, with_finder=True)
    for (name, a), b in zip(plain.model.state_dict().items(), found.model.state_dict().values()):
        assert torch.equal(a, b), name
    strip = lambda h: [{k: v for k, v in e.items() if "time" not in k and "per_s" not in k} for e in h]  # noqa: E731
    assert strip(plain.history) == strip(found.history)


def test_suggestion_trains_digits_mlp_sgd_to_95_percent(tmp_path):
    cfg = netcoach.load_config(overrides=overrides(tmp_path))
    record = lr_find(netcoach.build_trainer(cfg))
    lr = record["suggestion"]
    assert lr is not None and 1e-4 < lr < 1.0
    tuned = netcoach.load_config(overrides=overrides(tmp_path, **{"optim.lr": str(lr), "train.epochs": "30"}))
    result = netcoach.train(tuned, save=False)
    assert result.summary["test"]["test_acc"] >= 0.95, (lr, result.summary["test"])


def test_finder_loss_at_an_lr_equals_the_trainers_step_loss_with_bf16_and_grad_accum_2(tmp_path):
    lr = 0.05
    over = overrides(tmp_path, **{"optim.lr": str(lr), "optim.name": "momentum", "train.epochs": "1",
                                  "train.precision": "bf16", "train.grad_accum": "2"})
    cfg = netcoach.load_config(overrides=over)
    record = lr_find(netcoach.build_trainer(cfg), lrs=[lr] * 3)
    trainer = netcoach.build_trainer(cfg)
    trainer.fit()
    # same state, same two micro-batches per step, same autocast and update: the same losses
    # (the 2nd and 3rd also check that the finder's updates are the trainer's updates)
    assert record["losses"] == [r["loss"] for r in trainer.step_records[:3]]
    fp32 = netcoach.load_config(overrides={**over, "train.precision": "fp32"})
    assert lr_find(netcoach.build_trainer(fp32), lrs=[lr])["losses"][0] != record["losses"][0]
