"""``netcoach search`` on a journal file: parallel workers take every trial exactly once,
a SIGKILLed worker's trial is marked failed (or re-run with --retry-failed) when the
study restarts, resuming continues the numbering, and the pruning callback stops a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

import netcoach
from netcoach.cli import main
from netcoach.config import ConfigError
from netcoach.experiments.recovery import is_dead
from netcoach.experiments.space import from_mapping
from netcoach.experiments.spec import StudySpec
from netcoach.experiments.storage import ask_lock, check_folder, prepare
from netcoach.experiments.study import run_study
from netcoach.experiments.trial import HOST, PruningReporter

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--model.name", "mlp", "--model.width", "16", "--train.epochs", "2", "--train.threads", "1",
        "--diagnose.preflight", "false", "--diagnose.monitor", "false", "--report.enabled", "false",
        "--log.steps", "false"]
GRID = '"optim.lr" = {choice = [0.003, 0.01]}\n"model.width" = {choice = [16, 32]}\n'
RANGES = '"optim.lr" = {log_uniform = [1e-3, 3e-2]}\n"model.dropout" = {uniform = [0.0, 0.3]}\n'


def _space(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.toml"
    path.write_text(text)
    return path


def _trials(runs: Path, study: str) -> list:
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(runs / study / "study.journal")))
    return optuna.load_study(study_name=study, storage=storage).trials


def _worker(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "netcoach", "search", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run_folders(runs: Path, study: str) -> list[str]:
    return sorted(p.name for p in (runs / study).iterdir() if p.is_dir() and p.name.startswith("trial-"))


def test_two_worker_processes_evaluate_every_grid_point_once(tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["--space", str(_space(tmp_path, GRID)), "--study", "grid", "--sampler", "grid",
            "--workers", "2", "--no-report", "--run.dir", str(runs), *FAST]
    assert main(["search", *args]) == 0
    trials = _trials(runs, "grid")
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state.name == "COMPLETE" for t in trials)
    points = sorted((t.params["optim.lr"], t.params["model.width"]) for t in trials)
    assert points == [(0.003, 16), (0.003, 32), (0.01, 16), (0.01, 32)]  # none twice, none lost
    assert _run_folders(runs, "grid") == [f"trial-000{i}-seed-0" for i in range(4)]
    for t in trials:  # each trial's value is its run's best validation accuracy
        summary = json.loads((runs / "grid" / f"trial-{t.number:04d}-seed-0" / "summary.json").read_text())
        assert t.value == pytest.approx(summary["best_value"])
        assert t.user_attrs["worker"]["pid"] != os.getpid()  # trained in a worker process
    printed = capsys.readouterr().out
    assert printed.count("COMPLETE") == 4 and "best trial" in printed


def test_separate_workers_on_one_journal_share_the_budget(tmp_path):
    """Two independent ``netcoach search`` processes (as on two machines sharing the folder)."""
    runs = tmp_path / "runs"
    args = ["--space", str(_space(tmp_path, RANGES)), "--study", "shared", "--sampler", "random",
            "--trials", "5", "--no-report", "--run.dir", str(runs), *FAST]
    first, second = _worker(args), _worker(args)  # started together: one creates the study, one joins
    for proc in (first, second):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    trials = _trials(runs, "shared")
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]  # the budget is not overshot
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 5
    assert _run_folders(runs, "shared") == [f"trial-000{i}-seed-0" for i in range(5)]


# A worker that stops for good once trial 0 has finished its first epoch (logged, the
# second not begun), after touching the file named by its first argument; the test kills
# it there. The rest of the trial takes a fraction of a second, so a kill timed from
# outside (on seeing the first epoch's row) can land after the trial completed.
HELD_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from netcoach.cli import main
    from netcoach.experiments.trial import PruningReporter

    held = Path(sys.argv[1])

    def hold(self, trainer):
        if self.trial.number == 0 and trainer.epoch == 1:
            held.touch()
            time.sleep(900)  # until SIGKILLed; the bound only ends a worker whose test is gone

    PruningReporter.on_epoch_start = hold
    sys.exit(main(["search", *sys.argv[2:]]))
""")


def _kill_mid_trial(args: list[str], runs: Path, tmp_path: Path) -> None:
    """Start a worker, SIGKILL it once it holds after its first trial's first epoch, reap it."""
    held = tmp_path / "held"
    proc = subprocess.Popen([sys.executable, "-c", HELD_WORKER, str(held), *args],
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not held.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the first trial never reached its second epoch"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()  # reaped: the pid is really gone
    assert (runs / "killed" / "trial-0000-seed-0" / "metrics.jsonl").read_text().count("\n") == 1


@pytest.mark.parametrize("retry", [False, True], ids=["plain", "retry-failed"])
def test_sigkilled_worker_trial_fails_and_the_restart_finishes(tmp_path, retry):
    runs = tmp_path / "runs"
    space = _space(tmp_path, RANGES)

    def command(trials: int) -> list[str]:
        return ["--space", str(space), "--study", "killed", "--sampler", "random", "--trials", str(trials),
                "--no-report", "--heartbeat", "1", "--run.dir", str(runs), *FAST,
                "--train.epochs", "4", "--data.batch_size", "16"]

    args = command(2)
    _kill_mid_trial(args, runs, tmp_path)
    assert [t.state.name for t in _trials(runs, "killed")] == ["RUNNING"]  # as the kill left it
    assert not (runs / "killed" / "trial-0000-seed-0" / "summary.json").exists()

    restart = _worker(args + (["--retry-failed"] if retry else []))
    out, err = restart.communicate(timeout=300)
    assert restart.returncode == 0, err
    trials = _trials(runs, "killed")
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[0].user_attrs["fail_reason"] == "its worker died"
    if retry:
        assert trials[1].user_attrs["retry_of"] == 0
        assert trials[1].params == trials[0].params  # re-run with the killed trial's parameters
    else:
        assert trials[1].params != trials[0].params
    assert "trial   0" not in out  # the restart reports only the trials it ran
    if retry:
        return

    # the killed trial's run folder is an ordinary one: it resumes, and doctor and compare read it
    killed = runs / "killed" / "trial-0000-seed-0"
    assert main(["train", "--resume", str(killed), "--quiet"]) == 0
    assert json.loads((killed / "summary.json").read_text())["epochs_run"] == 4
    assert main(["doctor", str(killed)]) == 0
    assert main(["compare", str(runs / "killed" / "trial-*"), "--out", str(tmp_path / "cmp")]) == 0

    # resuming with a larger budget continues the numbering: no trial run twice
    more = _worker(command(3))
    assert more.communicate(timeout=300)[0].count("COMPLETE") == 1
    trials = _trials(runs, "killed")
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert _run_folders(runs, "killed") == [f"trial-000{i}-seed-0" for i in range(4)]


def test_timeout_stops_starting_trials(tmp_path):
    base = netcoach.load_config(overrides={"run.dir": str(tmp_path / "runs"), "model.name": "mlp",
                                           "model.width": "8", "train.epochs": "1",
                                           "diagnose.preflight": "false", "report.enabled": "false"})
    spec = StudySpec("t", base, from_mapping({"optim.lr": {"log_uniform": [1e-3, 1e-1]}}),
                     sampler="random", timeout=0.01)
    study = run_study(spec)  # the first trial starts at once; it takes longer than the timeout
    assert [t.state.name for t in study.trials] == ["COMPLETE"]


class _Running:
    def __init__(self, host, pid, heartbeat):
        self.user_attrs = {"worker": {"host": host, "pid": pid, "started": heartbeat - 1},
                           "heartbeat": heartbeat}


def test_dead_worker_is_known_by_pid_here_and_by_heartbeat_elsewhere():
    now, interval = 1000.0, 10.0
    dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_pid.wait()  # an exited, reaped process: its pid is free
    assert is_dead(_Running(HOST, dead_pid.pid, now), now, interval)  # same host: at once
    assert not is_dead(_Running(HOST, os.getpid(), now - 5), now, interval)
    assert not is_dead(_Running("other-host", 1, now - 29), now, interval)  # < 3 missed beats
    assert is_dead(_Running("other-host", 1, now - 31), now, interval)
    assert is_dead(_Running(HOST, os.getpid(), now - 31), now, interval)  # alive pid, silent: reused pid


def test_resuming_with_another_space_is_refused(tmp_path):
    base = netcoach.load_config(overrides={"run.dir": str(tmp_path / "runs"), "model.name": "mlp"})
    spec = StudySpec("s", base, from_mapping({"optim.lr": {"log_uniform": [1e-3, 1e-1]}}), trials=2)
    prepare(spec)
    other = StudySpec("s", base, from_mapping({"optim.lr": {"log_uniform": [1e-4, 1e-1]}}), trials=2)
    with pytest.raises(ConfigError, match="already exists with a different space"):
        prepare(other)


def test_study_folder_with_only_a_starting_workers_lock_is_joined_and_a_foreign_one_refused(tmp_path):
    base = netcoach.load_config(overrides={"run.dir": str(tmp_path / "runs"), "model.name": "mlp"})
    spec = StudySpec("s", base, from_mapping({"optim.lr": {"log_uniform": [1e-3, 1e-1]}}), trials=2)
    spec.folder.mkdir(parents=True)
    with ask_lock(spec):  # a worker creating the study holds the lock; its journal is not written yet
        check_folder(spec)
    (spec.folder / "notes.txt").write_text("not a study")
    with pytest.raises(ConfigError, match=r"runs/s exists and holds no study journal; choose another --study"):
        prepare(spec)
    assert sorted(p.name for p in spec.folder.iterdir()) == ["notes.txt"]


def test_budget_and_storage_options_are_checked_first(tmp_path):
    base = netcoach.load_config(overrides={"run.dir": str(tmp_path / "runs")})
    space = from_mapping({"optim.lr": {"log_uniform": [1e-3, 1e-1]}})
    with pytest.raises(ConfigError, match="needs a budget: give --trials N or --timeout"):
        prepare(StudySpec("s", base, space, sampler="tpe"))
    with pytest.raises(ConfigError, match="sqlite:// is not safe for concurrent writers"):
        prepare(StudySpec("s", base, space, trials=2, storage="sqlite:///x.db"), workers=2)
    with pytest.raises(ConfigError, match="unknown URL scheme 'redis'"):
        prepare(StudySpec("s", base, space, trials=2, storage="redis://localhost"))
    with pytest.raises(ConfigError, match="--model.name: unknown model 'foo'; available: .*mlp"):
        prepare(StudySpec("s", netcoach.load_config(overrides={"run.dir": str(tmp_path / "runs"),
                                                              "model.name": "foo"}), space, trials=2))
    with pytest.raises(ConfigError, match="--dist.nproc 2: search trains each run in one process"):
        prepare(StudySpec("s", netcoach.load_config(overrides={"run.dir": str(tmp_path / "runs"),
                                                              "dist.nproc": "2"}), space, trials=2))
    assert not (tmp_path / "runs").exists()


def test_asha_pruner_stops_a_hopeless_trial_after_one_epoch(tmp_path):
    runs = tmp_path / "runs"
    base = netcoach.load_config(overrides={"run.dir": str(runs), "model.name": "mlp", "model.width": "16",
                                           "train.epochs": "3", "train.threads": "1",
                                           "diagnose.preflight": "false", "report.enabled": "false"})
    spec = StudySpec("asha", base, from_mapping({"optim.lr": {"log_uniform": [1e-7, 1e-1]}}),
                     sampler="random", pruner="asha", trials=2)
    study = prepare(spec)
    study.enqueue_trial({"optim.lr": 1e-2})  # learns
    study.enqueue_trial({"optim.lr": 1e-7})  # stays at chance
    study = run_study(spec)
    good, hopeless = study.trials
    assert good.state.name == "COMPLETE" and good.user_attrs["epochs"] == 3
    # successive halving with two trials at the first rung promotes only the better one
    assert hopeless.state.name == "PRUNED" and hopeless.user_attrs["pruned_at"] == 1
    assert hopeless.user_attrs["epochs"] == 1
    summary = json.loads((runs / "asha" / "trial-0001-seed-0" / "summary.json").read_text())
    assert summary["epochs_run"] == 1  # the pruned run still finished: tested, summarised


class _AlwaysPrune:
    """An Optuna-trial stand-in whose pruner says stop at once."""

    def __init__(self):
        self.reported = []

    def report(self, value, step):
        self.reported.append((step, value))

    def should_prune(self):
        return True


def test_pruning_callback_reports_each_epoch_and_stops_the_run(quick_overrides):
    trial = _AlwaysPrune()
    reporter = PruningReporter(trial, "val_acc", offset=5)
    config = netcoach.load_config(overrides={**quick_overrides, "train.epochs": "4"})
    result = netcoach.train(config, callbacks=[reporter])
    assert result.summary["epochs_run"] == 1  # stopped after the first epoch
    assert reporter.pruned_at == 6  # offset 5 (earlier seeds) + epoch 1
    assert trial.reported == [(6, pytest.approx(result.history[0]["val_acc"]))]
