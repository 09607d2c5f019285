"""Snapshot ensembles (Huang et al. 2017, "Snapshot Ensembles: Train 1, get M for free").

With a cyclic learning rate (SGDR's ``cosine_restarts`` or the triangular ``cyclic``)
each cycle ends in a low-LR minimum and the next restart leaves it; the weights at the
ends of the last K cycles are different enough to be averaged as an ensemble, for the
price of one run. ``SnapshotSaver`` keeps them (``checkpoints/snapshot-<cycle>``
through ``RunFolder.save_weights``; the list survives ``--resume`` as callback state)
and ``snapshot_summary`` scores each, their ensemble and the final weights alone.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch

from netcoach.config import ConfigError
from netcoach.ensemble.evaluate import disagreement, member_predictions, score, weighted_mean
from netcoach.train.callbacks import Callback
from netcoach.train.checkpoint import cpu_state, load_weights
from netcoach.train.run import RunFolder

CYCLIC = ("cosine_restarts", "cyclic")


def steps_per_epoch(trainer) -> int:
    """Optimizer steps per epoch (micro-batches grouped by ``train.grad_accum``)."""
    return -(-len(trainer.loaders["train"]) // max(trainer.grad_accum, 1))


def cycle_ends(schedule, epochs: int, per_epoch: int) -> list[int]:
    """The optimizer steps after which each LR cycle of ``schedule`` (a ``ScheduleConfig``)
    ends within ``epochs``: cosine_restarts after T_0, T_0 + T_0 t_mult, ... steps
    (T_0 = t0_epochs x steps per epoch); cyclic at every return to the lower bound (2H)."""
    total = epochs * per_epoch
    if schedule.name == "cosine_restarts":
        ends, length = [], max(1, schedule.t0_epochs * per_epoch)
        at = length
        while at <= total:
            ends.append(at)
            length *= schedule.t_mult
            at += length
        return ends
    if schedule.name == "cyclic":
        half = max(1, int(round(schedule.half_cycle_epochs * per_epoch)))
        return list(range(2 * half, total + 1, 2 * half))
    return []


def snapshot_plan(config, trainer) -> list[int]:
    """The steps at which ``ensemble.snapshots`` K snapshots are taken (the ends of the last K
    cycles); a ConfigError, before any folder exists, when the schedule has no cycles or
    fewer than K complete ones within ``train.epochs``."""
    k = config.ensemble.snapshots
    if not k:
        return []
    sc = config.schedule
    if sc.name not in CYCLIC:
        raise ConfigError(f"ensemble.snapshots: needs a cyclic learning rate (schedule.name "
                          f"{' or '.join(CYCLIC)}), got schedule.name {sc.name}")
    ends = cycle_ends(sc, config.train.epochs, steps_per_epoch(trainer))
    if len(ends) < k:
        raise ConfigError(f"ensemble.snapshots: {k} snapshots need {k} complete cycles, but schedule "
                          f"{sc.name} completes {len(ends)} in train.epochs {config.train.epochs}; "
                          "train longer or shorten the cycles (t0_epochs, half_cycle_epochs)")
    return ends[-k:]


class SnapshotSaver(Callback):
    """Keeps the weights after each step of ``steps`` (the ends of the last K cycles).

    Args:
        steps: optimizer steps after which a snapshot is taken (``snapshot_plan``).
        cycles: the cycle number of each step (names ``snapshot-<cycle>``).
        run: the run folder the snapshots are written to (None: kept in memory only).
    """

    state_key = "snapshots"

    def __init__(self, steps: list[int], cycles: list[int], run: Optional[RunFolder] = None):
        self.steps = dict(zip(steps, cycles))
        self.run = run
        self.saved: list[dict] = []
        self.states: dict[int, dict] = {}
        self.final_state: Optional[dict] = None

    def on_batch_end(self, trainer, batch: dict) -> None:
        cycle = self.steps.get(trainer.step) if batch.get("stepped", True) else None
        if cycle is None or any(s["cycle"] == cycle for s in self.saved):
            return
        state = cpu_state(trainer.model)
        meta = {"cycle": cycle, "step": trainer.step, "epoch": trainer.epoch + 1}
        self.states[cycle] = state
        self.saved.append(meta)
        if self.run is not None:
            self.run.save_weights(f"snapshot-{cycle}", state, meta)

    def on_fit_end(self, trainer, logs: dict) -> None:
        self.final_state = cpu_state(trainer.model)  # before the best weights are restored

    def state(self, cycle: int) -> dict:
        """A snapshot's weights: in memory, or from the run folder after a resume."""
        if cycle not in self.states:
            self.states[cycle] = load_weights(self.run.checkpoints / f"snapshot-{cycle}.safetensors")
        return self.states[cycle]

    def state_dict(self) -> dict:
        return {"saved": [dict(s) for s in self.saved]}

    def load_state_dict(self, state: dict) -> None:
        self.saved = [dict(s) for s in state["saved"]]
        self.states = {}


def snapshot_savers(config, trainer, run: Optional[RunFolder]) -> list[SnapshotSaver]:
    """The saver ``ensemble.snapshots`` asks for (an empty list when off)."""
    steps = snapshot_plan(config, trainer)
    if not steps:
        return []
    ends = cycle_ends(config.schedule, config.train.epochs, steps_per_epoch(trainer))
    return [SnapshotSaver(steps, [ends.index(s) + 1 for s in steps], run)]


def _with_state(model: torch.nn.Module, state: dict) -> torch.nn.Module:
    twin = copy.deepcopy(model)
    twin.load_state_dict(state)
    return twin.eval()


def snapshot_summary(trainer) -> dict:
    """``{"snapshots": ...}``: each snapshot's, their ensemble's and the final weights' test
    metrics (empty when no snapshots were asked for or none was reached)."""
    saver = next((cb for cb in trainer.callbacks if isinstance(cb, SnapshotSaver)), None)
    if saver is None or not saver.saved:
        return {}
    task, loader = trainer.task, trainer.loaders["test"]
    labels = loader.split.y.cpu()
    preds = [member_predictions(_with_state(trainer.model, saver.state(s["cycle"])), task, loader)
             for s in saver.saved]
    final = member_predictions(_with_state(trainer.model, saver.final_state), task, loader)
    members = [{"index": s["cycle"], "epoch": s["epoch"], "step": s["step"], "test": score(task, p, labels)}
               for s, p in zip(saver.saved, preds)]
    notes = [] if len(saver.saved) == len(saver.steps) else [
        f"only {len(saver.saved)} of {len(saver.steps)} snapshots were reached (training stopped early)"]
    return {"snapshots": {"primary": f"test_{task.primary_metric}", "members": members,
                          "ensemble": score(task, weighted_mean(preds, [1 / len(preds)] * len(preds)), labels),
                          "final": score(task, final, labels), "disagreement": disagreement(task, preds),
                          "notes": notes}}
