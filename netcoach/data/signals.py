"""A synthetic 1-D signal set for the 1-D families (``cnn1d``, ``rnn``): ``sines``.

Each sample is one noisy channel of 96 time steps holding a burst of 32 steps at a random
position: a sine of 2, 3, 4 or 5 cycles over the burst (the class), with a random phase
and amplitude, under Gaussian noise of standard deviation 0.6 everywhere. Where the burst
sits changes from sample to sample, which a model that shares weights over time
(convolution, recurrence) handles and a dense layer must learn position by position. It
is generated from a fixed seed (independent of ``train.seed`` and ``data.split_seed``), so
every run sees the same 4,000 signals; no download. scikit-learn bundles no time series,
hence a generated set.
"""

from __future__ import annotations

import math

import numpy as np

from netcoach.config import DataConfig
from netcoach.data.base import DataBundle
from netcoach.data.sources import datasets, from_arrays

SINES_N, SINES_LENGTH, SINES_BURST, SINES_NOISE = 4000, 96, 32, 0.6
SINES_CYCLES = (2, 3, 4, 5)  # cycles over the burst, one per class


def sine_signals(n: int = SINES_N, length: int = SINES_LENGTH, burst: int = SINES_BURST,
                 noise: float = SINES_NOISE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x of shape (n, 1, length) float32, y of shape (n,) int64); class k is a burst of
    ``SINES_CYCLES[k]`` cycles."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(SINES_CYCLES)
    rng.shuffle(y)
    cycles = np.asarray(SINES_CYCLES, dtype=np.float64)[y][:, None]
    t = np.arange(burst) / burst
    phase = rng.uniform(0, 2 * math.pi, size=(n, 1))
    amplitude = rng.uniform(0.8, 1.2, size=(n, 1))
    wave = amplitude * np.sin(2 * math.pi * cycles * t[None] + phase)
    x = noise * rng.normal(size=(n, length))
    start = rng.integers(0, length - burst + 1, size=n)
    rows = np.arange(n)[:, None]
    x[rows, start[:, None] + np.arange(burst)[None]] += wave
    return x[:, None, :].astype(np.float32), y.astype(np.int64)


@datasets.register("sines")
def load_sines(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """4,000 noisy signals of 96 steps, 4 classes (a burst of 2-5 cycles); input shape (1, 96)."""
    x, y = sine_signals()
    return from_arrays(x, y, cfg, name="sines", class_names=[f"{c} cycles" for c in SINES_CYCLES],
                       stratify=stratify)
