"""What an export reads from a run folder: the model, its data record, and real inputs.

Everything comes from the folder through the public loaders (``netcoach.load_run``,
``netcoach.predict.load_normalization``), so an export needs nothing but the run. An
ensemble folder is a source too (``netcoach.load_ensemble``): its model is the members'
average in the task's output space, its record and config its first member's (they share
data, split and preprocessing), its test metrics the ensemble's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from netcoach.api import load_run
from netcoach.config import Config
from netcoach.data import build_data
from netcoach.ensemble import is_ensemble, load_ensemble
from netcoach.ensemble.folder import read_summary
from netcoach.predict import prepare_inputs
from netcoach.tasks import build_task
from netcoach.train.checkpoint import load_weights
from netcoach.train.run import PREDICTIONS, RunFolder

WHICH = ("best", "last")

STORED_DTYPES = {"torch.uint8": torch.uint8, "torch.float32": torch.float32}


@dataclass
class RunSource:
    """A run's model (eval mode, CPU) and what describes its inputs and results."""

    path: Path
    which: str
    config: Config
    model: nn.Module
    record: dict          # data.json: input_shape, num_classes, class_names, scale, mean, std
    summary: dict         # summary.json ({} for a run that never finished); an ensemble's: its metrics
    members: tuple = ()   # an ensemble's member run folders (empty for a run)

    @property
    def is_ensemble(self) -> bool:
        return bool(self.members)
    normalizer: Optional[nn.Module] = None  # data.normalize's fitted module (mean image, PCA, ZCA)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One stored sample's shape (what a file with the preprocessing folded in takes)."""
        return tuple(self.record["input_shape"])

    @property
    def model_input_shape(self) -> tuple[int, ...]:
        """What the model itself takes (PCA and patch whitening change the shape)."""
        return tuple((self.record.get("normalize") or {}).get("output_shape") or self.input_shape)

    def fed_shape(self, with_preprocessing: bool) -> tuple[int, ...]:
        """The per-sample shape an exported file takes."""
        return self.input_shape if with_preprocessing else self.model_input_shape

    @property
    def num_outputs(self) -> int:
        """Width of the model's output (the task's; runs before it was recorded: the classes)."""
        return int(self.record.get("num_outputs", self.record["num_classes"]))


class EnsembleOutputs(nn.Module):
    """An ensemble's ``outputs(x)`` as ``forward``: the weighted mean of the members'
    predictions mapped back to the task's output space (log mean probabilities for
    classification), so an export traces it like one run's network."""

    def __init__(self, ensemble: nn.Module):
        super().__init__()
        self.ensemble = ensemble

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ensemble.outputs(x)


def load_source(run_dir: str | Path, which: str = "best") -> RunSource:
    """The run (or ensemble folder) at ``run_dir`` with its ``which`` weights; one-line errors
    for a missing folder, missing weights or an unknown ``which``."""
    if which not in WHICH:
        raise ValueError(f"--which: unknown checkpoint '{which}'; valid: {', '.join(WHICH)}")
    if is_ensemble(run_dir):
        return ensemble_source(run_dir, which)
    run = RunFolder(run_dir)
    if not run.config_path.is_file():
        raise FileNotFoundError(f"{run.path}: not a netcoach run folder (no {run.config_path.name})")
    weights = run.checkpoints / f"{which}.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{run.path}: the run has no {which} weights ({weights} not found; "
                                f"valid --which: {', '.join(WHICH)} where the file exists)")
    config, model = load_run(run.path, which=which, device="cpu")
    return RunSource(run.path, which, config, model.eval(), run.data_record(), run.summary() or {},
                     normalizer=run.normalizer())


def ensemble_source(path: str | Path, which: str) -> RunSource:
    """An ensemble folder as an export source (its members rebuilt and checked again)."""
    ensemble = load_ensemble(path, which=which)
    first = RunFolder(ensemble.paths[0])
    return RunSource(Path(path), which, first.config(), EnsembleOutputs(ensemble).eval(), dict(ensemble.record),
                     {"test": read_summary(path).get("ensemble", {})}, tuple(Path(p) for p in ensemble.paths),
                     normalizer=first.normalizer())  # members share data.normalize (checked)


def stored_dtype(source: RunSource) -> torch.dtype:
    """The dtype the run's data source stores inputs in (uint8 images, float arrays).

    Read from ``data.json``; runs written before it recorded the dtype fall back to the
    stored test inputs of ``predictions.safetensors`` (written at the end of every run).
    """
    name = source.record.get("dtype")
    if name is None:
        name = _dtype_from_predictions(source.path)
    if name not in STORED_DTYPES:
        raise ValueError(f"{source.path}: cannot tell the stored input dtype (data.json has no "
                         f"'dtype' and predictions.safetensors is missing); expected one of "
                         f"{', '.join(STORED_DTYPES)}")
    return STORED_DTYPES[name]


def _dtype_from_predictions(path: Path) -> Optional[str]:
    file = RunFolder(path).file(PREDICTIONS)
    return str(load_weights(file)["worst_inputs"].dtype) if file.is_file() else None


@dataclass
class Samples:
    """Inputs to compare the exported file with PyTorch on, in the stored form."""

    raw: torch.Tensor     # stored dtype and range (what --with-preprocessing files take)
    origin: str           # "test split of <dataset>" or why random inputs were used


def reference_samples(source: RunSource, count: int = 256) -> Samples:
    """Up to ``count`` real test samples of the run's data, in the stored dtype.

    The test split is rebuilt from the run's own config (same split seed, so the same
    samples; downloads are switched off). Where that is impossible (the run was trained
    on arrays passed in Python, or the dataset is not on this machine) random inputs in
    the stored range are used instead and ``origin`` says why, so the caller can report it.
    """
    dtype = stored_dtype(source)
    config = replace(source.config, data=replace(source.config.data, download=False))
    reason = f"data source '{source.record.get('name')}' is not the config's '{config.data.name}'"
    if source.record.get("name") == config.data.name:
        try:
            stratify = build_task(config.task, config.loss).stratify  # the run's own split
            bundle = build_data(config, torch.device("cpu"), stratify=stratify)
        except (OSError, ValueError) as exc:
            reason = f"the test split could not be rebuilt ({str(exc).splitlines()[0]})"
        else:
            x = bundle.test.x
            if tuple(x.shape[1:]) == source.input_shape and x.dtype == dtype and len(x):
                return Samples(x[:count].clone(), f"test split of {bundle.name} ({min(count, len(x))} samples)")
            reason = "the rebuilt test split does not match the run's input shape or dtype"
    return Samples(random_inputs(source.input_shape, dtype, float(source.record["scale"]), count),
                   f"random inputs ({count}): {reason}")


def random_inputs(shape: tuple[int, ...], dtype: torch.dtype, scale: float, count: int) -> torch.Tensor:
    """Values spread over the stored range [0, scale], seeded so checks are repeatable."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((count, *shape), generator=gen) * scale
    return x.round().clamp(0, 255).to(dtype) if dtype == torch.uint8 else x.to(dtype)


def normalize(source: RunSource, raw: torch.Tensor) -> torch.Tensor:
    """Stored inputs -> the float batch the model saw in training (``netcoach.predict``'s
    own preparation, so export and prediction cannot drift apart)."""
    return prepare_inputs(raw, source.record, normalizer=source.normalizer)
