"""A hyperparameter study on Optuna: the worker loop and the local worker processes.

The study lives in an Optuna storage: by default a journal file
``runs/<study>/study.journal`` (many processes, and machines sharing the folder, can
append to it), or an RDB URL such as ``postgresql+psycopg2://user@host/db`` for machines
without a shared filesystem. Every worker runs the same loop::

    lock -> fail trials of dead workers -> (re-enqueue failed ones) -> budget left? -> ask + sample
    unlock -> train the trial's seeds -> tell COMPLETE / PRUNED / FAIL

The parts live beside this module: ``spec`` (what defines a study, checked before
anything is touched), ``storage`` (storage, samplers, pruners, the study and the ask
lock), ``recovery`` (trials of dead workers, retries) and ``trial`` (one trial's runs).
The budget ``trials`` counts trials that finished (complete or pruned) or are running; a
failed trial does not use it up, so a killed worker's trial is replaced, or re-run with
the same parameters when ``retry_failed`` is set. Running the same study again resumes
it: the numbers of the trials already in the storage are never reused.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any, Callable, Optional

from netcoach.experiments.recovery import enqueue_retries, fail_dead_trials
from netcoach.experiments.spec import StudySpec, grid_size, spec_from_dict
from netcoach.experiments.storage import ask_lock, build_sampler, load, prepare
from netcoach.experiments.trial import Heartbeat, TrialFailed, monitor_direction, seed_configs, train_trial


class WorkerError(RuntimeError):
    """A local worker process of a study exited with an error."""


def budget_left(study, spec: StudySpec) -> bool:
    """Whether another trial may start (see the module docstring for what counts)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    active = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING) for t in trials)
    limit = spec.trials
    if spec.sampler == "grid":
        size = grid_size(spec)
        limit = size if limit is None else min(limit, size)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        visited = {tuple(sorted(t.params.items())) for t in trials if t.state != TrialState.WAITING}
        if not waiting and len(visited) >= size:
            return False
    return limit is None or active < limit


def run_worker(spec: StudySpec, on_trial: Optional[Callable[[Any], None]] = None,
               progress: bool = False) -> list[int]:
    """Run trials until the budget is spent; returns the numbers of the trials it ran.

    Each trial is sampled by a sampler seeded from ``sampler_seed`` and the trial's number
    (made under the lock): the draws depend on the trial, not on which worker took it, so
    parallel workers never repeat each other's points and a one-worker study is
    reproducible.
    """
    study = load(spec)
    monitor, _ = monitor_direction(spec.base)
    started, done = time.monotonic(), []
    while spec.timeout is None or time.monotonic() - started < spec.timeout:
        with ask_lock(spec):
            fail_dead_trials(study, spec.heartbeat_s)
            if spec.retry_failed:
                enqueue_retries(study)
            if not budget_left(study, spec):
                break
            study.sampler = build_sampler(spec, trial_seed(spec, len(study.get_trials(deepcopy=False))))
            trial = study.ask()
            params = spec.space.suggest(trial)
        _run_one(study, trial, params, spec, monitor, progress)
        done.append(trial.number)
        if on_trial is not None:
            on_trial(study.trials[trial.number])
    return done


def trial_seed(spec: StudySpec, number: int) -> int:
    """The sampler seed of trial ``number`` (numpy seeds are 32-bit)."""
    return (spec.sampler_seed * 1_000_003 + number) % 2**32


def _run_one(study, trial, params: dict, spec: StudySpec, monitor: str, progress: bool) -> None:
    from optuna.trial import TrialState

    configs = seed_configs(spec.base, params, str(spec.folder), trial.number, spec.seeds)
    try:
        with Heartbeat(trial, spec.heartbeat_s):
            result = train_trial(trial, configs, monitor, progress)
    except BaseException as exc:  # the trial is marked failed, whatever stopped it
        trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}")
        study.tell(trial, state=TrialState.FAIL)
        if isinstance(exc, TrialFailed):
            return
        raise
    trial.set_user_attr("values", result.values)
    trial.set_user_attr("test", result.test)
    trial.set_user_attr("epochs", result.epochs)
    if result.pruned_at is not None:
        trial.set_user_attr("pruned_at", result.pruned_at)
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, sum(result.values) / len(result.values))


def _worker_process(data: dict) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_worker(spec_from_dict(data))


def run_study(spec: StudySpec, workers: int = 1, on_trial: Optional[Callable[[Any], None]] = None,
              progress: bool = False, poll_s: float = 1.0):
    """Prepare the study and run ``workers`` local worker processes on it (in this process
    when ``workers`` is 1). ``on_trial(frozen_trial)`` is called as trials finish.
    Returns the study.

    Raises:
        WorkerError: a worker process exited with an error (it printed its traceback).
    """
    study = prepare(spec, workers)
    if workers == 1:
        run_worker(spec, on_trial, progress)
        return study
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch threads
    data = spec.to_dict()
    procs = [ctx.Process(target=_worker_process, args=(data,), name=f"netcoach-worker-{i}")
             for i in range(workers)]
    for p in procs:
        p.start()
    seen: set[int] = set()
    while True:
        alive = any(p.is_alive() for p in procs)
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in seen:
                seen.add(t.number)
                if on_trial is not None:
                    on_trial(t)
        if not alive:
            break
        time.sleep(poll_s)
    codes = [p.exitcode for p in procs]
    if any(codes):
        raise WorkerError(f"worker processes exited with status {codes}; the study keeps every "
                           "finished trial, run the same command to resume it")
    return study

