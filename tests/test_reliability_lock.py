"""The run-folder lock: one writer per run folder (training, resume, report).

A second writer must stop with "RUN is in use by process PID" (exit 2) and leave the
first run's logs intact; the lock of a killed process is taken over (the kernel
releases an flock when its holder dies).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import netcoach
from netcoach.cli import main
from netcoach.train.run import RunFolder, RunInUseError

ROOT = Path(__file__).resolve().parents[1]

SLOW_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    import netcoach

    overrides, held, go = eval(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])

    class Hold(netcoach.Callback):
        # keeps the run mid-training (after epoch 2) until the test has tried its writers,
        # however long they take on a busy machine; ``held`` tells the test it is there.
        # The bound only ends a child whose test is gone.
        def on_epoch_end(self, trainer, logs):
            if logs["epoch"] != 2:
                return
            held.touch()
            end = time.monotonic() + 900
            while not go.exists() and time.monotonic() < end:
                time.sleep(0.05)

    netcoach.train(netcoach.load_config(overrides=overrides), callbacks=[Hold()])
""")


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def overrides(tmp_path: Path, epochs: int = 6) -> dict:
    return {"model.name": "mlp", "model.width": "16", "train.epochs": str(epochs),
            "run.dir": str(tmp_path), "run.name": "busy", "diagnose.preflight": "false",
            "report.enabled": "false", "train.threads": "1", "diagnose.monitor": "false"}


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    """Wait until ``proc`` has written ``path``; fail at once with its stderr if it exits first."""
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"exit {proc.returncode} before {path.name}: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def test_second_writer_exits_2_with_lock_message_and_first_run_keeps_one_row_per_epoch(tmp_path):
    held, go = tmp_path / "held", tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", SLOW_CHILD, repr(overrides(tmp_path)), str(held), str(go)],
                             env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "busy"
    try:
        wait_for(held, first)  # the run is held after epoch 2 until ``go``, with its lock
        second = subprocess.run([sys.executable, "-m", "netcoach", "train", "--resume", str(run), "--quiet"],
                                env=env(), capture_output=True, text=True, timeout=300)
        report = subprocess.run([sys.executable, "-m", "netcoach", "report", str(run)],
                                env=env(), capture_output=True, text=True, timeout=300)
    finally:
        go.touch()
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    for proc in (second, report):
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert f"{run} is in use by process {first.pid}" in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4, 5, 6]
    assert len((run / "steps.jsonl").read_text().splitlines()) == 6 * 17


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    run = tmp_path / "busy"
    netcoach.train(netcoach.load_config(overrides={**overrides(tmp_path, 1), "checkpoint.every_steps": "0"}))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from netcoach.train.run import RunFolder
        held = RunFolder({str(run)!r}).lock()
        print("locked", flush=True)
        time.sleep(600)
    """)], env=env(), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunInUseError, match=f"in use by process {holder.pid}"):
        RunFolder(run).lock()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    # the dead process's PID is still in the file, but its flock is gone
    assert (run / ".lock").read_text().strip() == str(holder.pid)
    assert main(["train", "--resume", str(run), "--train.epochs", "2", "--quiet"]) == 0
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2


def test_lock_is_released_after_training_and_reentrant_in_one_process(tmp_path):
    run = tmp_path / "busy"
    netcoach.train(netcoach.load_config(overrides={**overrides(tmp_path, 1), "report.enabled": "true"}))
    folder = RunFolder(run).lock()  # train() gave its lock back when it finished
    assert (run / ".lock").read_text().strip() == str(os.getpid())
    folder.release()
    assert main(["report", str(run)]) == 0
