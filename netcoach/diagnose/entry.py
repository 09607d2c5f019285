"""Entry points the training driver calls: ``preflight``, ``monitor_callbacks``, ``doctor``."""

from __future__ import annotations

from netcoach.config import Config
from netcoach.diagnose.doctor import diagnose_history
from netcoach.diagnose.monitors import Monitor
from netcoach.diagnose.preflight import run_preflight


def preflight(trainer, config: Config) -> list[dict]:
    """Recipe checks before training: one ``{"check", "status", "reason", "details"}`` per check.

    Works on copies; the trainer's model, optimizer and data order are left exactly as they were.
    """
    return run_preflight(trainer, config)


def monitor_callbacks(config: Config, run=None) -> list:
    """The live monitor (per-layer update ratios, gradient norms, activation statistics),
    writing ``monitors.jsonl`` into ``run`` when given (else kept in memory)."""
    return [Monitor(config.diagnose, run)] if config.diagnose.monitor else []


def doctor(history: list[dict], summary: dict, config: Config) -> list[dict]:
    """Read the learning curves: one ``{"label", "evidence", "epochs", "remedies"}`` per finding."""
    return diagnose_history(history, summary, config)
