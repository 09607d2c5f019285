"""Checkpoints that cost nothing: checkpoint.min_interval_s and the background writer.

The interval decides when files are written (never what training computes), the
background writer writes snapshots in order without overlap, and a kill during a
background write leaves the previous checkpoint valid (resume is exact).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
import threading
import time

import pytest
from test_train_resume import EPOCHS, STEPS_PER_EPOCH, overrides

import netcoach
from tests.helpers.interrupt import RaiseAt
from netcoach.train.builtin import DiskSchedule
from netcoach.train.checkpoint import BackgroundWriter

from helpers.kill import run_killed
from helpers.runs import assert_same_run, single_thread


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_disk_schedule_is_due_only_after_the_interval():
    clock = FakeClock()
    disk = DiskSchedule(10.0, clock=clock)
    disk.start()  # training starts: the first checkpoint waits for the interval too
    clock.now += 9.9
    assert not disk.due()
    clock.now += 0.1
    assert disk.due()
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


def test_long_interval_writes_last_once_at_the_end_and_results_do_not_change(tmp_path, one_thread):
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
    assert saved == [4]  # a run shorter than the interval: only the end of training
    saved.clear()
    netcoach.train(netcoach.load_config(overrides=quick(tmp_path, "every", **{
        "train.epochs": "3", "checkpoint.min_interval_s": "0"})))
    assert saved == [1, 2, 3]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    with single_thread():
        netcoach.train(netcoach.load_config(overrides={**overrides(folder, "ref"), "checkpoint.background": "false"}))
    return folder / "ref"


def test_sigkill_during_a_background_write_keeps_the_previous_checkpoint(tmp_path, reference, one_thread):
    assert EPOCHS * STEPS_PER_EPOCH // 5 > 8  # the kill below lands inside training
    kill_write = random.Random().randint(4, 24)
    over = {**overrides(tmp_path, "torn"), "checkpoint.background": "true"}
    # the best and last files only, each on the writer's thread (averages such as the EMA are
    # written by their own callback on the loop's thread, to other files)
    run_killed(over, kill_write=kill_write, under="checkpoints", names=("last", "best"),
               thread="netcoach-checkpoints")
    torn = tmp_path / "torn"
    assert list((torn / "checkpoints").rglob(".*.tmp")), "the torn temp file should be left behind"
    netcoach.train(resume=torn)
    assert_same_run(reference, torn, f"killed during background write {kill_write}")
    assert not list((torn / "checkpoints").rglob(".*.tmp"))


def test_a_run_ended_by_an_exception_finishes_its_background_writes_before_train_returns(tmp_path, monkeypatch):
    # a slow disk: the epoch-1 checkpoint is still being written when the callback raises
    from netcoach.train import run as run_module

    real = run_module.RunFolder.save_flat_training_state

    def slow(self, name, meta, tensors):
        time.sleep(0.5)
        real(self, name, meta, tensors)

    monkeypatch.setattr(run_module.RunFolder, "save_flat_training_state", slow)
    with pytest.raises(KeyboardInterrupt):
        netcoach.train(netcoach.load_config(overrides=quick(tmp_path, "cut", **{
            "checkpoint.background": "true", "checkpoint.min_interval_s": "0"})), callbacks=[RaiseAt(STEPS_PER_EPOCH + 1)])
    last = tmp_path / "cut" / "checkpoints" / "last.json"
    assert last.is_file(), "the write in flight must land before the folder's lock is given back"
    assert json.loads(last.read_text())["state"]["epoch"] == 1


def test_only_the_resumable_state_and_the_logs_it_counts_are_fsynced(tmp_path, monkeypatch):
    # best/last weights are copies of tensors the state holds (a resume writes them again),
    # so they are written atomically but not fsynced; the state, last.json and logs are
    from netcoach.train import run as run_module
    from netcoach.utils import io

    real, durable, synced_logs = io.atomic_path, {}, []

    def recording(target, durable_flag=True):
        durable[Path(target).relative_to(tmp_path / "run").as_posix()] = durable_flag
        return real(target, durable_flag)

    monkeypatch.setattr(io, "atomic_path", recording)
    monkeypatch.setattr(run_module, "fsync_file", lambda path: synced_logs.append(Path(path).name))
    netcoach.train(netcoach.load_config(overrides=quick(tmp_path, "run", **{"train.epochs": "2"})))
    checkpoints = {k: v for k, v in durable.items() if k.startswith("checkpoints/")}
    state = [k for k in checkpoints if k.startswith("checkpoints/state/")]
    assert len(state) == 1 and checkpoints[state[0]] and checkpoints["checkpoints/last.json"]
    assert not any(checkpoints[k] for k in ("checkpoints/best.safetensors", "checkpoints/best.json",
                                            "checkpoints/last.safetensors"))
    assert sorted(synced_logs) == ["metrics.jsonl", "monitors.jsonl", "steps.jsonl"]
    assert durable["summary.json"]  # files no state holds stay durable
