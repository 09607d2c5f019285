"""``netcoach check`` and ``netcoach doctor`` end to end."""

from __future__ import annotations

import json

import netcoach
from netcoach.cli import main


def test_check_prints_a_line_per_check_and_exits_zero(capsys):
    assert main(["check", "--model.name", "mlp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 11 and lines[-1] == "10 passed, 0 warnings, 0 failed"
    assert lines[1].startswith("PASS  initial_loss    initial loss ") and "ln 10 = 2.303" in lines[1]


def test_check_exits_nonzero_on_a_failure(capsys):
    # a one-step budget cannot memorise a batch: the overfit check fails
    code = main(["check", "--model.name", "mlp", "--diagnose.checks", "overfit_batch",
                 "--diagnose.overfit_steps", "1"])
    out = capsys.readouterr().out
    assert code == 1 and out.startswith("FAIL  overfit_batch") and "1 failed" in out


def test_check_rejects_unknown_check_names(capsys):
    assert main(["check", "--diagnose.checks", "nope"]) == 2
    assert "valid: output_layer" in capsys.readouterr().err


def test_doctor_reads_a_run_folder(tmp_path, capsys):
    cfg = netcoach.load_config(overrides={"model.name": "mlp", "train.epochs": "4", "optim.lr": "10",
                                          "run.dir": str(tmp_path), "run.name": "hot",
                                          "report.enabled": "false", "diagnose.preflight": "false"})
    netcoach.train(cfg)
    run = tmp_path / "hot"
    assert main(["doctor", str(run), "--save"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lr_too_high") and "evidence:" in out and "- lower the learning rate" in out
    assert "monitor warnings in" in out  # the live monitor saw it too
    summary = json.loads((run / "summary.json").read_text())
    assert [f["label"] for f in summary["doctor"]] == ["lr_too_high"]
    assert main(["doctor", str(tmp_path / "missing")]) == 2
    assert "not a run folder" in capsys.readouterr().err
