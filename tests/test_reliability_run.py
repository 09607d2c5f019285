"""Run-folder reliability: a diverged run's record, a killed report's temp files, and a
full disk (a clear error, the previous checkpoint still loads and resumes exactly)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import netcoach
from netcoach.cli import main
from netcoach.train.checkpoint import load_training_state
from netcoach.utils.io import DiskFullError


def quick(tmp_path: Path, name: str, **extra) -> dict:
    return {"model.name": "mlp", "model.width": "16", "train.epochs": "2", "run.dir": str(tmp_path),
            "run.name": name, "diagnose.preflight": "false", "report.enabled": "false",
            "train.threads": "1", **extra}


def test_nan_before_the_first_checkpoint_gives_no_test_metrics_and_keeps_the_steps(tmp_path, capsys):
    flags = [f"--{k}={v}" for k, v in quick(tmp_path, "nan", **{"optim.name": "sgd", "optim.lr": "1e6"}).items()]
    assert main(["train", "--quiet", *flags]) == 1
    out = capsys.readouterr().out
    assert "test_acc" not in out and "no test metrics: the run diverged before its first epoch ended" in out
    summary = json.loads((tmp_path / "nan" / "summary.json").read_text())
    assert summary["test"] == {} and "non-finite loss" in summary["failure"]
    steps = [json.loads(line) for line in (tmp_path / "nan" / "steps.jsonl").read_text().splitlines()]
    assert steps and {s["epoch"] for s in steps} == {1}  # the diverging epoch's steps are kept
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    assert summary["steps"] == len(steps)


def test_next_report_removes_a_killed_reports_temp_files(tmp_path):
    netcoach.train(netcoach.load_config(overrides=quick(tmp_path, "r", **{"train.epochs": "1"})))
    plots = tmp_path / "r" / "plots"
    plots.mkdir(exist_ok=True)
    torn = [plots / ".curves.png.abc123.tmp", tmp_path / "r" / ".report.html.xyz.tmp"]
    for path in torn:
        path.write_bytes(b"half a file")
    assert main(["report", str(tmp_path / "r")]) == 0
    assert not any(p.exists() for p in torn)
    assert (plots / "curves.png").is_file()


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs (needs root and a kernel that allows mounting here)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'mount failed'}); "
                    f"the full-disk test needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


class FillDisk(netcoach.Callback):
    """After epoch 1 (its checkpoint written), fill the disk but a few bytes."""

    def __init__(self, disk: Path):
        self.disk = disk

    def on_epoch_end(self, trainer, logs):
        if logs["epoch"] == 1:
            free = shutil.disk_usage(self.disk).free
            with open(self.disk / "filler", "wb") as fh:
                try:
                    fh.write(b"\0" * max(free - 512, 0))
                except OSError:
                    pass


def test_full_disk_is_a_clear_error_and_the_last_checkpoint_resumes_exactly(tmp_path, small_disk):
    torch.set_num_threads(1)
    over = {"checkpoint.every_steps": "5", "checkpoint.min_interval_s": "0", "train.epochs": "3"}
    reference = netcoach.train(netcoach.load_config(overrides=quick(tmp_path, "ref", **over)))
    config = netcoach.load_config(overrides=quick(small_disk, "full", **over))
    with pytest.raises(DiskFullError, match=r"full/.*: no space left on the device .*previous version is intact"):
        netcoach.train(config, callbacks=[FillDisk(small_disk)])
    run = small_disk / "full"
    # the user's callback runs before the epoch checkpoint: the last one is a mid-epoch one
    step = load_training_state(run / "checkpoints", "last")["step"]
    assert step > 0 and step % 5 == 0
    (small_disk / "filler").unlink()
    resumed = netcoach.train(resume=run)
    timeless = [[{k: v for k, v in h.items() if k not in ("epoch_time", "samples_per_s")} for h in r.history]
                for r in (resumed, reference)]
    assert timeless[0] == timeless[1]
    assert resumed.summary["test"] == reference.summary["test"]
    assert (run / "steps.jsonl").read_text() == (reference.run_dir / "steps.jsonl").read_text()
    a, b = load_file(run / "checkpoints" / "last.safetensors"), load_file(reference.run_dir / "checkpoints" / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resuming_a_run_killed_after_training_keeps_the_averages_and_removes_torn_files(tmp_path):
    over = quick(tmp_path, "done", **{"average.ema": "true", "train.epochs": "1"})
    first = netcoach.train(netcoach.load_config(overrides=over))
    torn = tmp_path / "done" / ".predictions.safetensors.k1ll3d.tmp"  # a kill mid-write of the summary phase
    torn.write_bytes(b"half")
    again = netcoach.train(resume=tmp_path / "done")
    assert not torn.exists()
    assert again.summary["averages"] == first.summary["averages"]
    assert set(again.summary["averages"]["ema"]) >= {"val_loss", "val_acc", "test_loss", "test_acc"}


def test_resume_writes_the_records_a_kill_during_folder_creation_left_out(tmp_path):
    first = netcoach.train(netcoach.load_config(overrides=quick(tmp_path, "made", **{"train.epochs": "1"})))
    records = {n: (first.run_dir / n).read_text() for n in ("data.json", "model.json", "model_summary.json")}
    for name in records:  # as if killed right after config.toml and before these were written
        (first.run_dir / name).unlink()
    netcoach.train(resume=first.run_dir)
    assert {n: (first.run_dir / n).read_text() for n in records} == records
