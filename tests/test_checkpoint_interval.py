"""Checkpoints that cost nothing: checkpoint.min_interval_s and the background writer.

The interval decides when files are written (never what training computes), the
background writer writes snapshots in order without overlap, and a kill during a
background write leaves the previous checkpoint valid (resume is exact).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch
from test_train_resume import EPOCHS, ROOT, STEPS_PER_EPOCH, assert_same_run, overrides

import netcoach
from netcoach.train.builtin import DiskSchedule
from netcoach.train.checkpoint import BackgroundWriter


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_disk_schedule_is_due_only_after_the_interval():
    clock = FakeClock()
    disk = DiskSchedule(10.0, clock=clock)
    assert disk.due()  # the first checkpoint is never delayed
    disk.write(lambda: None)
    clock.now += 9.9
    assert not disk.due()
    clock.now += 0.1
    assert disk.due()
    disk.write(lambda: None)
    clock.now += 9.9
    assert not disk.due()
    disk.write(lambda: None, restart=False)  # an explicit file does not restart the interval
    clock.now += 0.1
    assert disk.due()
    assert DiskSchedule(0.0, clock=clock).due()


def test_negative_interval_is_refused():
    with pytest.raises(ValueError, match="checkpoint.min_interval_s must be >= 0"):
        DiskSchedule(-1.0)


def test_background_writer_runs_jobs_in_order_without_overlap():
    writer, log, active = BackgroundWriter(), [], []

    def job(i):
        def run():
            active.append(i)
            assert len(active) == 1, "two writes overlapped"
            time.sleep(0.01)
            log.append((i, threading.current_thread().name))
            active.remove(i)
        return run

    for i in range(5):
        writer.submit(job(i))
    writer.flush()
    assert [i for i, _ in log] == [0, 1, 2, 3, 4]
    assert {name for _, name in log} == {"netcoach-checkpoints"}


def test_background_writer_hands_a_failed_write_to_the_training_thread():
    writer = BackgroundWriter()
    writer.submit(lambda: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        writer.flush()
    writer.submit(lambda: None)  # the error was reported once; the writer still works
    writer.flush()


def quick(tmp_path, name, **over):
    return {"model.name": "mlp", "model.width": "32", "train.epochs": "3", "run.dir": str(tmp_path),
            "run.name": name, "diagnose.preflight": "false", "report.enabled": "false", **over}


def test_long_interval_writes_last_once_at_the_end_and_results_do_not_change(tmp_path):
    torch.set_num_threads(1)
    every = netcoach.train(netcoach.load_config(overrides=quick(tmp_path, "every", **{
        "checkpoint.min_interval_s": "0", "checkpoint.background": "false"})))
    rare = netcoach.train(netcoach.load_config(overrides=quick(tmp_path, "rare", **{
        "checkpoint.min_interval_s": "3600"})))
    assert every.summary["test"] == rare.summary["test"]
    for run in (every, rare):
        last = json.loads((run.run_dir / "checkpoints" / "last.json").read_text())
        assert last["state"]["step"] == run.summary["steps"]  # the end of training is always saved
        best = json.loads((run.run_dir / "checkpoints" / "best.json").read_text())
        assert best["epoch"] == run.summary["best_epoch"]
    rare_files = list((rare.run_dir / "checkpoints" / "state").iterdir())
    assert len(rare_files) == 1 and f"{rare.summary['steps']:09d}" in rare_files[0].name


def test_long_interval_skips_the_middle_epochs(tmp_path, monkeypatch):
    from netcoach.train import run as run_module

    saved = []
    real = run_module.RunFolder.save_flat_training_state
    monkeypatch.setattr(run_module.RunFolder, "save_flat_training_state",
                        lambda self, name, meta, tensors: (saved.append(meta["epoch"]),
                                                           real(self, name, meta, tensors)))
    netcoach.train(netcoach.load_config(overrides=quick(tmp_path, "rare", **{
        "train.epochs": "4", "checkpoint.min_interval_s": "3600"})))
    assert saved == [1, 4]  # the first epoch, then only the end of training
    saved.clear()
    netcoach.train(netcoach.load_config(overrides=quick(tmp_path, "every", **{
        "train.epochs": "3", "checkpoint.min_interval_s": "0"})))
    assert saved == [1, 2, 3]


CHILD = textwrap.dedent("""
    import os, signal, sys, threading
    import torch
    torch.set_num_threads(1)
    import netcoach
    from netcoach.train import checkpoint as ck
    from netcoach.utils import io

    overrides, kill_write = eval(sys.argv[1]), int(sys.argv[2])
    writes = {"n": 0}
    real = io.atomic_write_bytes
    def dying_write(target, data):
        if "checkpoints" in str(target) and any(n in target.name for n in ("last", "best")):
            assert threading.current_thread().name == "netcoach-checkpoints", "written on the loop's thread"
            writes["n"] += 1
            if writes["n"] == kill_write:  # half a file in the temp name, then die
                with io.atomic_path(target) as tmp:
                    tmp.write_bytes(data[: len(data) // 2])
                    os.kill(os.getpid(), signal.SIGKILL)
        real(target, data)
    io.atomic_write_bytes = dying_write
    ck.atomic_write_bytes = dying_write
    # averages (ema) are written by their own callback on the loop's thread, to other files
    netcoach.train(netcoach.load_config(overrides=overrides))
""")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    netcoach.train(netcoach.load_config(overrides={**overrides(folder, "ref"), "checkpoint.background": "false"}))
    torch.set_num_threads(threads)
    return folder / "ref"


def test_sigkill_during_a_background_write_keeps_the_previous_checkpoint(tmp_path, reference):
    assert EPOCHS * STEPS_PER_EPOCH // 5 > 8  # the kill below lands inside training
    kill_write = random.Random().randint(4, 24)
    over = {**overrides(tmp_path, "torn"), "checkpoint.background": "true"}
    proc = subprocess.run([sys.executable, "-c", CHILD, repr(over), str(kill_write)],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    torn = tmp_path / "torn"
    assert list((torn / "checkpoints").rglob(".*.tmp")), "the torn temp file should be left behind"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        netcoach.train(resume=torn)
    finally:
        torch.set_num_threads(threads)
    assert_same_run(reference, torn, f"killed during background write {kill_write}")
    assert not list((torn / "checkpoints").rglob(".*.tmp"))
