"""Entry point the trainer's driver calls at the end of a run (filled in by the reports issue)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def write_report(run_dir: str | Path) -> Optional[Path]:
    """Build ``report.html`` from the run folder; returns its path (None: nothing written)."""
    return None
