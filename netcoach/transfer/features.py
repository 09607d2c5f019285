"""A trained network's backbone as a feature extractor for scikit-learn.

"CNN features + a classic classifier": ``Network.features`` gives the penultimate
representation; :func:`split_features` computes it for every split of a dataset
(normalized with the *run's* stored statistics, as the network saw its inputs),
:func:`fit_classifier` trains a scikit-learn classifier on the training features, and
:class:`FeatureExtractor` is the same extraction as a scikit-learn transformer.

scikit-learn fits run under ``threadpoolctl.threadpool_limits`` at torch's thread
count: after torch has run, OpenBLAS's own thread pool and torch's OpenMP pool fight
over the cores (measured on 2 cores: a 0.15 s LogisticRegression fit took 29 s).
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits
from torch import nn

from netcoach.api import load_run
from netcoach.config import Config, ConfigError
from netcoach.data import build_data
from netcoach.data.build import build_loaders
from netcoach.data.sources import datasets
from netcoach.models.network import as_network
from netcoach.predict import prepare_inputs
from netcoach.train.resume import with_overrides
from netcoach.train.run import RunFolder
from netcoach.utils.io import atomic_write_bytes

CLASSIFIERS = ("logreg", "svm", "knn", "rf")
SPLITS = ("train", "val", "test")


def make_classifier(name: str, seed: int = 0):
    """A scikit-learn classifier by name; linear ones see standardized features."""
    if name == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    if name == "svm":
        return make_pipeline(StandardScaler(), LinearSVC(max_iter=5000, random_state=seed))
    if name == "knn":
        return KNeighborsClassifier(n_neighbors=5)
    if name == "rf":
        return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    raise ConfigError(f"--classifier: unknown {name!r}; valid: {', '.join(CLASSIFIERS)}")


def sklearn_threads():
    """A threadpool limit for scikit-learn that matches torch's thread count."""
    return threadpool_limits(max(torch.get_num_threads(), 1))


@torch.no_grad()
def features_and_logits(model: nn.Module, loader) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, head outputs, labels) of every batch of an evaluation loader, in order."""
    net = as_network(model, "feature extraction")
    was_training = net.training
    net.eval()
    feats, outs, labels = [], [], []
    for x, y in loader:
        f = net.features(x)
        feats.append(f.float().cpu())
        outs.append(net.head(f).float().cpu())
        labels.append(y.cpu())
    net.train(was_training)
    return torch.cat(feats).numpy(), torch.cat(outs).numpy(), torch.cat(labels).numpy()


def run_data_config(run_dir: str | Path, overrides: Optional[dict] = None) -> Config:
    """The run's config with ``{"section.key": value}`` data overrides applied."""
    return with_overrides(RunFolder(run_dir).config(), overrides)


def split_features(run_dir: str | Path, config: Config, device: str = "cpu") -> dict:
    """``{split: (features, head outputs, labels)}`` for the data of ``config``, inputs
    normalized with the run's own ``data.json`` statistics."""
    record = RunFolder(run_dir).data_record()
    _, model = load_run(run_dir, device=device)
    bundle = datasets.get(config.data.name)(config.data)
    if tuple(bundle.input_shape) != tuple(record["input_shape"]):
        raise ConfigError(f"the data has inputs of shape {tuple(bundle.input_shape)}, but {run_dir} "
                          f"was trained on {tuple(record['input_shape'])}")
    if config.data.normalize == "per_channel":
        bundle = replace(bundle, mean=record["mean"], std=record["std"])
    bundle = replace(bundle, normalizer=RunFolder(run_dir).normalizer())  # the run's own fit, if any
    bundle = build_data(config, torch.device(device), bundle)
    loaders = build_loaders(config, bundle)
    loaders["train"] = type(loaders["val"])(bundle.train, config.data.eval_batch_size, scale=bundle.scale,
                                            mean=bundle.mean, std=bundle.std,
                                            normalizer=bundle.normalizer)  # in order, no augmentation
    return {split: features_and_logits(model, loaders[split]) for split in SPLITS}


def write_npz(path: str | Path, splits: dict) -> None:
    """``{split}_x`` (features) and ``{split}_y`` (labels) for each split, written atomically."""
    arrays = {}
    for split, (feats, _, labels) in splits.items():
        arrays[f"{split}_x"], arrays[f"{split}_y"] = feats, labels
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def fit_classifier(name: str, splits: dict, seed: int = 0, head_scores: bool = True) -> dict:
    """Train classifier ``name`` on the training features; accuracies on val and test of
    the classifier and (``head_scores``: the head outputs class scores, not an autoencoder's
    reconstruction) of the network's own head."""
    clf = make_classifier(name, seed)
    train_x, _, train_y = splits["train"]
    with sklearn_threads():
        clf.fit(train_x, train_y)
        result = {"classifier": name}
        for split in ("val", "test"):
            feats, outs, labels = splits[split]
            result[f"{split}_acc"] = float((clf.predict(feats) == labels).mean()) if len(labels) else None
            scored = head_scores and len(labels)
            result[f"head_{split}_acc"] = float((outs.argmax(1) == labels).mean()) if scored else None
    return result


class FeatureExtractor(TransformerMixin, BaseEstimator):
    """The backbone of a run (or of a Network) as a scikit-learn transformer.

    Args:
        run_or_model: a run folder (inputs are raw, e.g. uint8 pixels, and are normalized
            with the run's statistics as in ``netcoach.predict``) or a module following the
            model contract (inputs are given as the model takes them).
        batch_size: samples per forward pass.
        device: where the network runs.

    ``fit`` only loads the network (nothing is trained); ``transform`` returns the
    (N, feature_dim) float32 features.

    Example:
        >>> pipe = make_pipeline(FeatureExtractor("runs/mnist-cnn"), LogisticRegression())  # doctest: +SKIP
        >>> pipe.fit(x_train, y_train).score(x_test, y_test)                                 # doctest: +SKIP
    """

    def __init__(self, run_or_model=None, batch_size: int = 1024, device: str = "cpu"):
        self.run_or_model = run_or_model
        self.batch_size = batch_size
        self.device = device

    def fit(self, X, y=None):
        if isinstance(self.run_or_model, nn.Module):
            self.network_ = as_network(self.run_or_model, "FeatureExtractor").to(self.device)
            self.record_ = None
        elif isinstance(self.run_or_model, (str, Path)):
            _, model = load_run(self.run_or_model, device=self.device)
            self.network_, self.record_ = model, RunFolder(self.run_or_model).data_record()
        else:
            raise TypeError(f"FeatureExtractor needs a run folder or a netcoach Network, "
                            f"got {type(self.run_or_model).__name__}")
        self.n_features_out_ = self.network_.feature_dim
        return self

    @torch.no_grad()
    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "network_")
        if self.record_ is not None:
            x = prepare_inputs(X, self.record_, self.device)
        else:
            x = torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)
        net = self.network_
        was_training = net.training
        net.eval()
        out = [net.features(x[i:i + self.batch_size]).float().cpu() for i in range(0, len(x), self.batch_size)]
        net.train(was_training)
        return torch.cat(out).numpy() if out else np.zeros((0, self.n_features_out_), np.float32)
