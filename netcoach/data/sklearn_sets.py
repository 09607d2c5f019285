"""Tabular sets bundled with scikit-learn (no download): ``diabetes`` (regression),
``breast_cancer`` (binary) and ``wine`` (3 classes).

Each is a (N, D) float32 feature matrix; ``data.normalize`` (on by default) standardizes
every feature with the training split's mean and standard deviation, as for any flat input
(``data.normalize.channel_stats`` treats each column as a channel). The task decides the
targets' form and checks it: these sets fit ``task.name regression``, ``binary`` and
``classification`` respectively.
"""

from __future__ import annotations

import numpy as np

from netcoach.config import DataConfig
from netcoach.data.base import DataBundle
from netcoach.data.sources import datasets, from_arrays


@datasets.register("diabetes")
def load_diabetes(cfg: DataConfig, stratify: bool = False) -> DataBundle:
    """442 patients, 10 baseline features (raw, not scikit-learn's pre-scaled copy); target:
    disease progression one year later (float, 25..346). Use with task.name regression."""
    from sklearn.datasets import load_diabetes as sk_load

    raw = sk_load(scaled=False)
    return from_arrays(raw.data.astype(np.float32), raw.target.astype(np.float32), cfg,
                       name="diabetes", class_names=["progression"], stratify=stratify)


@datasets.register("breast_cancer")
def load_breast_cancer(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """569 tumours, 30 features of cell nuclei; label 0 malignant, 1 benign (scikit-learn's
    coding). Use with task.name binary."""
    from sklearn.datasets import load_breast_cancer as sk_load

    raw = sk_load()
    return from_arrays(raw.data.astype(np.float32), raw.target.astype(np.int64), cfg,
                       name="breast_cancer", class_names=[str(n) for n in raw.target_names],
                       stratify=stratify)


@datasets.register("wine")
def load_wine(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """178 wines, 13 chemical features, 3 cultivars. Use with task.name classification."""
    from sklearn.datasets import load_wine as sk_load

    raw = sk_load()
    return from_arrays(raw.data.astype(np.float32), raw.target.astype(np.int64), cfg,
                       name="wine", class_names=[str(n) for n in raw.target_names], stratify=stratify)
