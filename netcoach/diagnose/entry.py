"""Entry points the trainer's driver calls (filled in by the diagnostics issue).

Until the checks exist, each returns an empty result so training is unaffected.
"""

from __future__ import annotations

from netcoach.config import Config


def preflight(trainer, config: Config) -> list[dict]:
    """Recipe checks before training; one dict per check (name, status, reason)."""
    return []


def monitor_callbacks(config: Config, run=None) -> list:
    """Live monitor callbacks for the configured run."""
    return []


def doctor(history: list[dict], summary: dict, config: Config) -> list[dict]:
    """Read the learning curves; one finding dict per diagnosis."""
    return []
