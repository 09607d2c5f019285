"""Train/val/test splits with a fixed seed.

Whether a split keeps the label proportions (stratified) is the task's decision
(``task.stratify``): class labels are stratified, continuous targets are not.

We wrote the split ourselves instead of calling scikit-learn's ``train_test_split``:
importing ``sklearn.model_selection`` costs about a second of CPU per process (measured
with ``bench/run_overhead.py --timeline``), more than a one-epoch MNIST MLP's whole fixed
cost should be. The code follows scikit-learn 1.x's ``ShuffleSplit`` and
``StratifiedShuffleSplit`` step for step, drawing from the same ``RandomState`` in the
same order, so every seed gives exactly the split scikit-learn gives (tested against it):
a saved run, whose splits are rebuilt from its config, gets the same test split as before.
"""

from __future__ import annotations

from math import ceil

import numpy as np


class SplitTooSmall(ValueError):
    """A stratified split cannot put every class in both parts (too few samples of a class)."""


def stratified_indices(y: np.ndarray, fraction: float, seed: int,
                       stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(len(y))`` into sorted (kept, held_out) with ``fraction`` held out (per
    class when ``stratify``)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    n = len(y)
    n_held = ceil(fraction * n)
    n_kept = n - n_held
    if n_kept <= 0:
        raise ValueError(f"split: holding out {fraction} of {n} samples leaves no samples to keep")
    rng = np.random.RandomState(seed)
    if stratify:
        kept, held = _stratified(np.asarray(y), n_kept, n_held, rng)
    else:
        order = rng.permutation(n)
        kept, held = order[n_held:], order[:n_held]
    return np.sort(kept), np.sort(held)


def _stratified(y: np.ndarray, n_kept: int, n_held: int,
                rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Per class: shuffle its samples, keep ``n_i`` of them and hold out the next ``t_i``."""
    if y.ndim == 2:  # one class per distinct row (multi-label targets)
        y = np.array([" ".join(row.astype("str")) for row in y])
    classes, y_indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    if counts.min() < 2:
        raise SplitTooSmall(f"split: the least populated classes have only 1 sample, too few to "
                            f"stratify: {classes[counts < 2].tolist()}")
    for part, size in (("kept", n_kept), ("held-out", n_held)):
        if size < len(classes):
            raise SplitTooSmall(f"split: the {part} part would have {size} samples, fewer than the "
                                f"number of classes ({len(classes)})")
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])
    n_i = approximate_mode(counts, n_kept, rng)
    t_i = approximate_mode(counts - n_i, n_held, rng)
    kept, held = [], []
    for i, members in enumerate(class_indices):
        shuffled = members.take(rng.permutation(counts[i]), mode="clip")
        kept.append(shuffled[:n_i[i]])
        held.append(shuffled[n_i[i]:n_i[i] + t_i[i]])
    return np.concatenate(kept), np.concatenate(held)


def approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` each class gets: its proportional share rounded down, then
    one more for the classes with the largest remainders (ties broken at random).
    scikit-learn's ``utils.extmath._approximate_mode``."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add = min(len(inds), need)
            floored[rng.choice(inds, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored.astype(int)


def three_way(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int,
              stratify: bool = True):
    """Indices of train/val/test; fractions are of the whole set, each split stratified
    when ``stratify`` (the task's ``stratify``)."""
    rest, test = stratified_indices(y, test_fraction, seed, stratify)
    # val_fraction is of the whole set, so rescale it to the remainder.
    inner, val = stratified_indices(y[rest], val_fraction / (1.0 - test_fraction), seed + 1, stratify)
    return rest[inner], rest[val], test
