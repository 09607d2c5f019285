"""The optimization pieces as reached from the config: build_trainer, train, CLI flags."""

from __future__ import annotations

import netcoach
from netcoach.cli import build_parser, main


def cfg(tmp_path, **extra):
    base = {"model.name": "mlp", "train.epochs": "3", "run.dir": str(tmp_path / "runs"),
            "diagnose.preflight": "false", "report.enabled": "false"}
    return netcoach.load_config(overrides={**base, **extra})


def test_gd_uses_the_whole_training_split_as_one_batch(tmp_path):
    trainer = netcoach.build_trainer(cfg(tmp_path, **{"optim.name": "gd", "optim.lr": "0.5"}))
    assert len(trainer.loaders["train"]) == 1
    assert trainer.loaders["train"].batch_size == len(trainer.data.train)
    trainer.fit()
    assert trainer.step == 3                         # one step per epoch


def test_regularized_run_with_warmup_and_grow_batch(tmp_path):
    c = cfg(tmp_path, **{"optim.name": "momentum", "optim.lr": "0.02", "optim.weight_decay": "1e-4",
                         "regularize.l2": "0.5", "regularize.max_norm": "3.0", "regularize.clip_norm": "5.0",
                         "regularize.noise_eta": "0.001", "schedule.name": "step", "schedule.step_size": "1",
                         "schedule.gamma": "0.5", "schedule.grow_batch": "true",
                         "schedule.warmup_steps": "5"})
    result = netcoach.train(c, save=False)
    trainer = result.trainer
    assert trainer.loaders["train"].batch_size == 64 * 8      # grown by 1/0.5 per epoch, 3 epochs
    assert [round(h["lr"], 6) for h in result.history] == [0.004, 0.02, 0.02]  # warmup 1/5 at step 0
    assert result.summary["test"]["test_acc"] > 0.5   # learns (chance 0.1) in ~30 steps
    report = trainer.optimizer.group_report
    assert all(n.endswith("weight") for n in report["decay"])
    assert all(n.endswith("bias") for n in report["no_decay"])
    for w in (p for n, p in trainer.model.named_parameters() if n.endswith("weight")):
        assert (w.detach().flatten(1).norm(dim=1) <= 3.0 + 1e-5).all()


def test_cli_flags_and_errors(tmp_path, capsys):
    parser = build_parser()
    text = parser.format_help()
    assert "lr-find" in text
    code = main(["lr-find", "--rule", "min/10", "--optim.name", "adamw2", "--model.name", "mlp",
                 "--out", str(tmp_path / "x")])
    assert code == 2
    assert "adamw2" in capsys.readouterr().err
    code = main(["train", "--regularize.max_norm", "-1", "--model.name", "mlp", "--quiet",
                 "--run.dir", str(tmp_path / "runs"), "--train.epochs", "1"])
    assert code == 2
    assert "regularize.max_norm" in capsys.readouterr().err
