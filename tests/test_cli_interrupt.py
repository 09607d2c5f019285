"""Ctrl-C in a real terminal: ``netcoach train`` runs in a pseudo-terminal, gets SIGINT
mid-epoch, stops after the current step with exit 130, writes the checkpoint, the summary
(marked interrupted) and the report, prints the resume command; ``--resume`` then ends
bit-identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import netcoach
from netcoach.cli import main

from helpers.runs import assert_same_weights, history

ROOT = Path(__file__).resolve().parents[1]
# 12 short epochs: the SIGINT sent after epoch 1 lands in training even when a busy machine
# delays the terminal output that triggers it by several epochs
FLAGS = {"model.name": "mlp", "model.width": "32", "train.epochs": "12", "data.batch_size": "2",
         "train.threads": "1", "diagnose.preflight": "false", "diagnose.monitor": "false"}


def _argv(run_dir: Path, name: str) -> list[str]:
    flags = [x for k, v in FLAGS.items() for x in (f"--{k}", v)]
    return ["train", *flags, "--run.dir", str(run_dir), "--run.name", name]


def _run_in_pty(argv: list[str], interrupt_after: str, timeout: float = 240) -> tuple[int, str]:
    """Run ``python -m netcoach argv`` on a pseudo-terminal; send SIGINT once ``interrupt_after``
    has appeared in its output (so it lands inside a later epoch)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "netcoach", *argv], stdin=follower, stdout=follower,
                            stderr=follower, env=env, cwd=ROOT, start_new_session=True)
    os.close(follower)
    out, sent, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if not sent and interrupt_after.encode() in out:
            time.sleep(0.1)  # past the epoch's end-of-epoch work, into the next epoch (one takes ~0.1 s)
            proc.send_signal(signal.SIGINT)
            sent = True
    os.close(leader)
    code = proc.wait(timeout=60)
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))


def test_ctrl_c_mid_epoch_saves_reports_and_resumes_bit_identical(tmp_path, one_thread, capsys):
    code, out = _run_in_pty(_argv(tmp_path, "cut"), interrupt_after="epoch   1")
    run = tmp_path / "cut"
    assert code == 130, out
    assert "stopping after the current step" in out
    assert f"resume with: netcoach train --resume {run}" in out
    summary = json.loads((run / "summary.json").read_text())
    cut = summary["interrupted"]
    assert 1 <= cut["epoch"] < 12 and cut["step"] > 539 * cut["epoch"]  # 1077 / 2 steps per epoch
    assert summary["interrupted"]["resume"] == f"netcoach train --resume {run}"
    assert (run / "report.html").is_file()
    last = json.loads((run / "checkpoints" / "last.json").read_text())
    assert last["state"]["step"] == summary["interrupted"]["step"]  # the checkpoint is of the last step
    assert last["state"]["partial"]  # mid-epoch: the unfinished epoch's sums are kept

    assert main(["train", "--resume", str(run), "--train.threads", "1"]) == 0
    resumed_out = capsys.readouterr().out
    assert f"resuming at epoch {cut['epoch'] + 1}, batch {cut['step'] - 539 * cut['epoch'] + 1} of 539" in resumed_out

    reference = netcoach.load_config(overrides={**FLAGS, "run.dir": str(tmp_path), "run.name": "whole"})
    netcoach.train(reference, progress=False)
    whole = tmp_path / "whole"
    assert history(run) == history(whole)
    assert_same_weights(run, whole, ["last"], "after Ctrl-C and --resume")


def test_second_ctrl_c_exits_at_once_and_the_handler_lives_only_during_fit():
    from rich.console import Console

    from netcoach.cli.train_cmd import CtrlC

    class Trainer:
        interrupted = stop_training = False

        def interrupt(self):
            self.interrupted = self.stop_training = True

    before = signal.getsignal(signal.SIGINT)
    trainer, ctrl_c = Trainer(), CtrlC(Console(file=open(os.devnull, "w")))
    ctrl_c.on_fit_start(trainer)
    assert signal.getsignal(signal.SIGINT) == ctrl_c.handle
    ctrl_c.handle(signal.SIGINT, None)
    assert trainer.interrupted and trainer.stop_training
    with pytest.raises(KeyboardInterrupt):  # netcoach.cli turns it into exit code 130
        ctrl_c.handle(signal.SIGINT, None)
    ctrl_c.on_fit_end(trainer, {})
    assert signal.getsignal(signal.SIGINT) == before


def test_resume_accepts_speed_only_changes_and_refuses_others(tmp_path):
    from netcoach.config import ConfigError
    from netcoach.train.resume import resume_config

    cfg = netcoach.load_config(overrides={**FLAGS, "train.epochs": "1", "run.dir": str(tmp_path),
                                          "run.name": "r", "report.enabled": "false"})
    netcoach.train(cfg, progress=False)
    new = resume_config(tmp_path / "r", overrides={"train.threads": "2", "data.eval_batch_size": "64",
                                                   "log.csv": "true", "report.enabled": "true"})
    assert (new.train.threads, new.data.eval_batch_size, new.log.csv) == (2, 64, True)
    with pytest.raises(ConfigError, match="cannot change optim.lr"):
        resume_config(tmp_path / "r", overrides={"optim.lr": "0.1"})
