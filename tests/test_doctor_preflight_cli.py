"""``netcoach train`` shows the recipe before epoch 1: what it is doing, the compact
preflight block (a FAIL with its fix), and ``diagnose.strict`` stopping a run that fails."""

from __future__ import annotations

from netcoach.cli import main
from netcoach.diagnose import summary_lines

BAD_INIT = ["--model.name", "mlp", "--model.init", "normal", "--model.init_std", "5",
            "--diagnose.checks", "initial_loss,init_units", "--report.enabled", "false",
            "--diagnose.monitor", "false", "--train.epochs", "1"]


def test_preflight_summary_is_one_line_when_all_pass_and_one_line_per_flag_otherwise():
    ok = {"check": "data_stats", "status": "pass", "reason": "fine", "details": {}}
    assert summary_lines([ok] * 6) == ["preflight: 6 checks passed"]
    bad = {"check": "initial_loss", "status": "fail", "reason": "initial loss 40 vs ln 10: check the init",
           "details": {}}
    warn = {"check": "init_units", "status": "warn", "reason": "30% dead: He init helps", "details": {}}
    assert summary_lines([ok, bad, warn]) == [
        "preflight: 1 passed, 1 warned, 1 failed",
        "  FAIL  initial_loss: initial loss 40 vs ln 10: check the init",
        "  WARN  init_units: 30% dead: He init helps"]


def test_train_prints_stages_and_the_preflight_fail_before_epoch_1(tmp_path, capsys):
    code = main(["train", *BAD_INIT, "--run.dir", str(tmp_path), "--run.name", "bad"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("loading data (digits) and building the model (mlp)")
    assert any(line.startswith("preflight checks: initial_loss, init_units ...") for line in lines)
    fail = next(i for i, line in enumerate(lines) if "FAIL  initial_loss" in line)
    assert "check the init scale of the last layer" in lines[fail]
    assert fail < next(i for i, line in enumerate(lines) if line.startswith("best epoch"))
    assert (tmp_path / "bad" / "checkpoints").is_dir()


def test_strict_preflight_fail_stops_before_training_with_exit_1_and_no_checkpoint(tmp_path, capsys):
    code = main(["train", *BAD_INIT, "--diagnose.strict", "true", "--run.dir", str(tmp_path),
                 "--run.name", "strict"])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAIL  initial_loss" in captured.out
    assert "diagnose.strict is true: training not started" in captured.err
    assert not (tmp_path / "strict").exists()  # no folder, so no partial checkpoint either
