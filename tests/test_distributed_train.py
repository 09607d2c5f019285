"""Two gloo processes launched by ``netcoach train --dist.nproc 2`` (torch elastic) on the CPU:
the same losses as one process with the same global batch, one record per epoch, a clear
one-line error when a rank is SIGKILLed, and an exact resume with the same process count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import netcoach
from netcoach.api import resume_config
from netcoach.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
N_TRAIN = 1077  # digits' training split with the default fractions (data.json records it)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL and gloo on the CPU are exercised on Linux")


def options(run_dir: Path, name: str, **extra: str) -> dict:
    """A small MLP on digits without dropout or BatchNorm, global batch 64, a resumable
    checkpoint every 4 steps (17 steps per epoch: most of them mid-epoch; no minimum interval)."""
    base = {"checkpoint.every_steps": "4", "checkpoint.min_interval_s": "0", "model.name": "mlp", "model.width": "64", "model.norm": "none", "data.batch_size": "64",
            "train.epochs": "3", "train.threads": "1", "run.dir": str(run_dir), "run.name": name,
            "diagnose.preflight": "false", "diagnose.monitor": "false", "report.enabled": "false"}
    return {**base, **extra}


def command(opts: dict, *more: str) -> list[str]:
    flags = [part for key, value in opts.items() for part in (f"--{key}", value)]
    return [sys.executable, "-m", "netcoach", "train", "--quiet", *flags, *more]


def environment() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def launch(opts: dict, *more: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(command(opts, "--dist.nproc", "2", *more), env=environment(),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def comparable(run: Path) -> dict:
    """Everything that must be bit-identical between two runs (wall times excluded)."""
    rows = [{k: v for k, v in row.items() if k not in ("epoch_time", "samples_per_s")} for row in metrics(run)]
    summary = json.loads((run / "summary.json").read_text())
    return {"metrics": rows, "steps": (run / "steps.jsonl").read_text(), "test": summary["test"],
            "best_epoch": summary["best_epoch"]}


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dist")
    launch(options(folder, "two"))
    return folder / "two"


def test_two_processes_give_the_one_process_losses_with_the_same_global_batch(two_process_run, tmp_path):
    threads = torch.get_num_threads()
    try:
        one = netcoach.train(netcoach.load_config(overrides=options(tmp_path, "one")), progress=False)
    finally:
        torch.set_num_threads(threads)
    two = metrics(two_process_run)
    assert [r["epoch"] for r in two] == [1, 2, 3]  # one line per epoch, written once
    for a, b in zip(one.history, two):
        for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
            assert abs(a[key] - b[key]) < 1e-5, (key, a[key], b[key])
    steps_one = [json.loads(x)["loss"] for x in (one.run_dir / "steps.jsonl").read_text().splitlines()]
    steps_two = [json.loads(x)["loss"] for x in (two_process_run / "steps.jsonl").read_text().splitlines()]
    assert len(steps_two) == len(steps_one) == 3 * -(-N_TRAIN // 64)
    assert max(abs(a - b) for a, b in zip(steps_one, steps_two)) < 1e-5


def test_each_epoch_counts_every_training_sample_once(two_process_run):
    data = json.loads((two_process_run / "data.json").read_text())
    assert data["sizes"]["train"] == N_TRAIN
    for row in metrics(two_process_run):  # samples/s x time = the samples of both ranks together
        assert round(row["samples_per_s"] * row["epoch_time"]) == N_TRAIN


def test_resume_with_another_process_count_is_refused(two_process_run):
    with pytest.raises(ConfigError, match=r"cannot change dist.nproc when resuming"):
        resume_config(two_process_run, overrides={"dist.nproc": "1"})


# Put on the launched workers' path, this makes rank 1 SIGKILL itself right after optimizer
# step KILL_STEP: a kill at a known point, independent of how fast the test process polls.
KILL_STEP = 22  # mid-epoch 2 (17 steps per epoch); rank 0 has checkpointed steps 4, 8, ... 20
SELF_KILL = f"""
import os, signal
if os.environ.get("RANK") == "1":
    from netcoach.train.trainer import Trainer
    real = Trainer._update
    def update(self):
        real(self)
        if self.step == {KILL_STEP}:
            os.kill(os.getpid(), signal.SIGKILL)
    Trainer._update = update
"""


def checkpoint_step(run: Path) -> int:
    try:
        return int(json.loads((run / "checkpoints" / "last.json").read_text())["state"]["step"])
    except (OSError, ValueError, KeyError):
        return 0


def test_sigkill_of_one_rank_ends_the_job_clearly_and_resume_is_exact(two_process_run, tmp_path):
    steps_per_epoch = -(-N_TRAIN // 64)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SELF_KILL)
    env = {**environment(), "PYTHONPATH": f"{hook}{os.pathsep}{ROOT}"}
    run = tmp_path / "run"
    proc = subprocess.run(command(options(tmp_path, "run"), "--dist.nproc", "2"), env=env,
                          capture_output=True, text=True, timeout=180)
    err = proc.stderr
    assert proc.returncode == 1, err[-3000:]
    line = [x for x in err.splitlines() if x.startswith("netcoach: error:")]
    assert len(line) == 1 and "rank 1 (pid" in line[0] and "SIGKILL" in line[0], err[-3000:]
    step = checkpoint_step(run)
    assert 0 < step <= KILL_STEP and step % steps_per_epoch, step  # a mid-epoch checkpoint, before the end

    subprocess.run(command({}, "--resume", str(run), "--dist.nproc", "2"), env=environment(),
                   capture_output=True, text=True, timeout=180, check=True)
    assert comparable(run) == comparable(two_process_run)
    for name in ("last", "best"):
        a = load_file(run / "checkpoints" / f"{name}.safetensors")
        b = load_file(two_process_run / "checkpoints" / f"{name}.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
