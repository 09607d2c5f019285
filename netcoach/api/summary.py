"""What a finished (or interrupted) run records in ``summary.json``: the test evaluation
of the chosen weights (``train.final``), the parts that snapshots, distillation and
transfer add, the preflight records and the doctor's findings."""

from __future__ import annotations

from typing import Optional

from netcoach import diagnose
from netcoach.config import Config
from netcoach.distill import distill_summary
from netcoach.ensemble.snapshots import snapshot_summary
from netcoach.train import BestCheckpoint, RunFolder, Trainer
from netcoach.train.early_stopping import EarlyStopping
from netcoach.train.final import summarize


def run_summary(trainer: Trainer, config: Config, best: BestCheckpoint, stopper: Optional[EarlyStopping],
                run: Optional[RunFolder], started: float, resumed_from: Optional[dict],
                history: list[dict], checks: list[dict]) -> dict:
    """The summary of a run whose ``fit`` has returned (``started``: its perf_counter start)."""
    summary = summarize(trainer, best, stopper, run, started, resumed_from)
    summary.update(snapshot_summary(trainer))
    summary.update(distill_summary(trainer, config))
    if was_cut(trainer):
        summary["interrupted"] = {"epoch": trainer.epoch, "step": trainer.step,
                                  "resume": f"netcoach train --resume {run.path}" if run else None}
    summary["preflight"] = checks
    summary["notes"] = summary.get("notes", []) + transfer_notes(trainer)
    if trainer.transfer is not None:
        summary["transfer"] = trainer.transfer.record()
    summary["doctor"] = diagnose.doctor(history, summary, config)
    return summary


def was_cut(trainer: Trainer) -> bool:
    """Whether the run was interrupted before its last epoch ended (not after it)."""
    return trainer.interrupted and trainer.epoch < trainer.epochs


def transfer_notes(trainer: Trainer) -> list[str]:
    """The ``model.init_from`` line (what loaded, what did not) for the summary's notes."""
    return trainer.transfer.notes() if trainer.transfer is not None else []
