"""Trials whose worker died, and failed trials run again.

A worker is dead when it ran on this host and its process is gone, or when its trial's
heartbeat is older than ``STALE_BEATS`` intervals (other hosts). Optuna's own heartbeat
exists only for RDB storages and only inside ``study.optimize``; we keep one mechanism
for both storages, in the trial's user attributes (written by ``trial.Heartbeat``).
"""

from __future__ import annotations

import os
import time

from netcoach.experiments.trial import HOST

STALE_BEATS = 3  # heartbeats missed before another host's trial counts as dead
MAX_ATTEMPTS = 3  # runs of the same parameters with retry_failed (the first and two retries)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_dead(trial, now: float, heartbeat_s: float) -> bool:
    """Whether the worker running ``trial`` is gone (see the module docstring)."""
    worker = trial.user_attrs.get("worker")
    if worker is None:
        return False
    if worker.get("host") == HOST and not _pid_alive(int(worker["pid"])):
        return True
    return now - float(trial.user_attrs.get("heartbeat", worker["started"])) > STALE_BEATS * heartbeat_s


def fail_dead_trials(study, heartbeat_s: float) -> list[int]:
    """Mark RUNNING trials of dead workers FAIL; returns their numbers."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    now, failed = time.time(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if is_dead(t, now, heartbeat_s):
            try:
                study._storage.set_trial_user_attr(t._trial_id, "fail_reason", "its worker died")
                study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
                failed.append(t.number)
            except UpdateFinishedTrialError:  # it finished meanwhile
                continue
    return failed


def enqueue_retries(study) -> list[int]:
    """Queue the parameters of each failed trial again (once per failure, at most
    ``MAX_ATTEMPTS`` runs of the same parameters); returns the failed trials' numbers."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    queued = []
    for t in trials:
        attempt = int(t.user_attrs.get("attempt", 1))
        if t.state == TrialState.FAIL and t.number not in retried and attempt < MAX_ATTEMPTS:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, "attempt": attempt + 1},
                                skip_if_exists=False)
            queued.append(t.number)
    return queued
