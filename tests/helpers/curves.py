"""Per-epoch history rows from hand-made curves, as ``metrics.jsonl`` holds them.

Plain Python (no netcoach import), so ``bench/doctor_corpus.py`` builds its synthetic
corpus with the same rows as the doctor's tests.
"""

from __future__ import annotations

from typing import Optional, Sequence


def curve_rows(train: Sequence[float], val: Sequence[float], train_acc: Optional[Sequence[float]] = None,
               val_acc: Optional[Sequence[float]] = None) -> list[dict]:
    """``[{"epoch": 1, "train_loss", "val_loss"[, "train_acc", "val_acc"]}, ...]``, one row
    per epoch (as many as the shorter loss curve)."""
    rows = []
    for i, (t, v) in enumerate(zip(train, val)):
        row = {"epoch": i + 1, "train_loss": t, "val_loss": v}
        if train_acc:
            row.update(train_acc=train_acc[i], val_acc=val_acc[i])
        rows.append(row)
    return rows
