"""Train/val/test splits with a fixed seed (scikit-learn's train_test_split).

Whether a split keeps the label proportions (stratified) is the task's decision
(``task.stratify``): class labels are stratified, continuous targets are not.
"""

from __future__ import annotations

import numpy as np


def stratified_indices(y: np.ndarray, fraction: float, seed: int,
                       stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(len(y))`` into (kept, held_out) with ``fraction`` held out (per class
    when ``stratify``)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    from sklearn.model_selection import train_test_split  # imported where used: `import netcoach` stays cheap

    idx = np.arange(len(y))
    kept, held = train_test_split(idx, test_size=fraction, random_state=seed,
                                  stratify=y if stratify else None)
    return np.sort(kept), np.sort(held)


def three_way(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int,
              stratify: bool = True):
    """Indices of train/val/test; fractions are of the whole set, each split stratified
    when ``stratify`` (the task's ``stratify``)."""
    rest, test = stratified_indices(y, test_fraction, seed, stratify)
    # val_fraction is of the whole set, so rescale it to the remainder.
    inner, val = stratified_indices(y[rest], val_fraction / (1.0 - test_fraction), seed + 1, stratify)
    return rest[inner], rest[val], test
