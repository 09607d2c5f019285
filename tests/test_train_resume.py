"""Exact resume after SIGKILL (mid-epoch and mid-checkpoint-write), and checkpoints
that never unpickle.

A child process trains and kills itself with SIGKILL at a randomly chosen batch
(or in the middle of writing a checkpoint file); the run is resumed from its
folder and must end with metrics, per-step losses and weights identical to an
uninterrupted run with the same seed (CPU, one thread).
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import pytest
import torch

import netcoach
from netcoach.train.checkpoint import CheckpointError

from helpers.kill import run_killed
from helpers.runs import assert_same_run, single_thread

STEPS_PER_EPOCH = 17  # digits train split (1077 samples) / batch 64
EPOCHS = 3


def overrides(tmp_path: Path, name: str) -> dict:
    return {"model.name": "mlp", "model.width": "32", "model.dropout": "0.2",
            "train.epochs": str(EPOCHS), "schedule.name": "step", "schedule.step_size": "1",
            "schedule.gamma": "0.7", "checkpoint.every_steps": "5", "checkpoint.min_interval_s": "0",
            "log.csv": "true",
            "average.ema": "true", "average.ema_decay": "0.9", "early_stop.enabled": "true",
            "early_stop.patience": "5", "run.dir": str(tmp_path), "run.name": name,
            "diagnose.monitor_min_batches": "0",  # every epoch sampled: a pair in each of the 3
            "diagnose.preflight": "false", "report.enabled": "false"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run (shared by the kill tests)."""
    folder = tmp_path_factory.mktemp("reference")
    with single_thread():
        netcoach.train(netcoach.load_config(overrides=overrides(folder, "ref")))
    return folder / "ref"


def test_sigkill_at_random_batch_then_resume_is_exact(tmp_path, reference, one_thread):
    kill_batch = random.Random().randint(2, EPOCHS * STEPS_PER_EPOCH - 1)
    context = f"killed at batch {kill_batch}"
    run_killed(overrides(tmp_path, "killed"), kill_batch=kill_batch)
    killed = tmp_path / "killed"
    assert not (killed / "summary.json").exists()
    netcoach.train(resume=killed)
    assert_same_run(reference, killed, context)


@pytest.mark.parametrize("kill_batch", [12, 27])
def test_mid_epoch_resume_keeps_the_monitor_samples_exact(tmp_path, reference, one_thread, kill_batch):
    # The monitor samples batches 7 and 8 of each epoch; checkpoints come every 5 steps.
    # Batch 12: resumed from step 10, after epoch 1's sampled pair. Batch 27: resumed from
    # step 25, between the two steps of epoch 2's pair (its weight snapshot is open).
    run_killed(overrides(tmp_path, "mid"), kill_batch=kill_batch)
    netcoach.train(resume=tmp_path / "mid")
    assert_same_run(reference, tmp_path / "mid", f"killed at batch {kill_batch}")
    assert config_lines(reference) == config_lines(tmp_path / "mid")


def config_lines(run_dir: Path) -> list[str]:
    """config.toml without the [run] lines that name the folder."""
    return [line for line in (run_dir / "config.toml").read_text().splitlines()
            if not line.startswith(("name = ", "dir = "))]


def test_sigkill_before_the_first_checkpoint_restarts_exactly(tmp_path, reference, one_thread):
    # checkpoint.every_steps is 5: a kill at batch 3 leaves no checkpoint behind.
    run_killed(overrides(tmp_path, "early"), kill_batch=3)
    assert not (tmp_path / "early" / "checkpoints" / "last.json").exists()
    result = netcoach.train(resume=tmp_path / "early")
    assert result.summary["resumed_from"] == {"epoch": 0, "step": 0}
    assert_same_run(reference, tmp_path / "early", "killed before the first checkpoint")


def test_sigkill_during_checkpoint_write_keeps_previous_checkpoint(tmp_path, reference, one_thread):
    # Writes under checkpoints/: per 5 steps 3 files (state tensors, last weights, last.json),
    # per epoch a few more; any of the first ~40 lands inside training.
    kill_write = random.Random().randint(4, 40)
    context = f"killed during checkpoint write {kill_write}"
    run_killed(overrides(tmp_path, "torn"), kill_write=kill_write, under="checkpoints")
    torn = tmp_path / "torn"
    assert list((torn / "checkpoints").rglob(".*.tmp")), "the torn temp file should be left behind"
    netcoach.train(resume=torn)
    assert_same_run(reference, torn, context)
    assert not list((torn / "checkpoints").rglob(".*.tmp"))  # cleaned up by the next save
    assert len(list((torn / "checkpoints" / "state").iterdir())) == 1


class Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_in_place_of_checkpoints_is_refused(tmp_path, one_thread):
    over = {**overrides(tmp_path, "evil"), "train.epochs": "1", "checkpoint.every_steps": "0"}
    netcoach.train(netcoach.load_config(overrides=over))
    run = tmp_path / "evil"
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Payload(marker))
    state_file = next((run / "checkpoints" / "state").glob("*.safetensors"))
    for target in (run / "checkpoints" / "best.safetensors", state_file):
        torch.save({"weights": Payload(marker)}, target)  # torch's pickle-in-zip format
    (run / "checkpoints" / "last.safetensors").write_bytes(evil)
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        netcoach.load_run(run, "best")
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        netcoach.load_run(run, "last")
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        netcoach.train(resume=run, config=None)
    (run / "checkpoints" / "last.json").write_bytes(evil)
    with pytest.raises(CheckpointError, match="not a valid JSON"):
        netcoach.train(resume=run)
    assert not marker.exists()


def test_resume_refuses_changed_options(tmp_path, one_thread):
    over = {**overrides(tmp_path, "done"), "train.epochs": "1", "checkpoint.every_steps": "0"}
    netcoach.train(netcoach.load_config(overrides=over))
    from netcoach.api import resume_config

    with pytest.raises(ValueError, match="cannot change optim.lr"):
        resume_config(tmp_path / "done", overrides={"optim.lr": "0.1"})
    longer = resume_config(tmp_path / "done", overrides={"train.epochs": "2"})
    result = netcoach.train(longer, resume=tmp_path / "done")
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert result.summary["resumed_from"] == {"epoch": 1, "step": STEPS_PER_EPOCH}


def test_cli_resume_continues_and_rejects_changes(tmp_path, one_thread, capsys):
    from netcoach.cli import main

    with pytest.raises(SystemExit) as help_exit:  # every new option's help text renders
        main(["train", "--help"])
    assert help_exit.value.code == 0 and "--early_stop.patience" in capsys.readouterr().out
    over = {**overrides(tmp_path, "cli"), "train.epochs": "1", "checkpoint.every_steps": "0"}
    netcoach.train(netcoach.load_config(overrides=over))
    run = str(tmp_path / "cli")
    assert main(["train", "--resume", run, "--optim.lr", "0.5", "--quiet"]) == 2
    assert "cannot change optim.lr" in capsys.readouterr().err
    assert main(["train", "--resume", run, "--train.epochs", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "run folder:" in out and "restored the weights of the best epoch" in out
    assert len((tmp_path / "cli" / "metrics.jsonl").read_text().splitlines()) == 2
