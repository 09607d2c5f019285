"""Prediction and evaluation with a finished run, applying exactly the run's data handling.

A run folder keeps what turned its training data into model inputs: ``data.json`` (the
input shape, the scale of the stored values, the training split's mean/std, the
``data.normalize`` mode), ``normalize.safetensors`` for the fitted modes (mean image,
PCA, ZCA) and, for a CSV run, ``preprocessing.json`` (column kinds, fill values,
categories, class names). New inputs go through the same steps, never through
statistics of their own.

Inputs may be arrays (numpy or torch), PIL images, a pandas DataFrame (CSV runs), or
paths: image files, a folder of images (searched recursively, sorted), a ``.csv`` or
an ``.npz`` (array ``x``). What each kind means is decided from its type, shape and
range and checked against what the run was trained on:

- integer arrays hold the run's stored values (uint8 0..255 for images, 0..16 for
  digits) and are divided by the run's scale; float image arrays must be in [0, 1]
  (already divided), so float [0, 1] images and their uint8 originals predict alike;
- image files and PIL images are decoded to the run's channels (0..255 -> [0, 1]) and
  resized to the run's image size, with a note;
- a 4-D array whose shape is the run's image shape in NHWC order is transposed, with a
  note; one that fits both orders (all sides equal) needs ``layout``; any other shape
  is an error naming the shape the run takes.

Notes are returned by ``prepare`` and issued as ``UserWarning`` by ``predict``.

Example:
    >>> probs = predict("runs/mnist-cnn-20250101-120000", x_uint8)   # doctest: +SKIP
    >>> probs.shape                                                  # doctest: +SKIP
    torch.Size([16, 10])
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch
from PIL import Image

from netcoach.api import load_run
from netcoach.config import Config, ConfigError, DataConfig, apply_overrides
from netcoach.data import datasets
from netcoach.data.decode import decode_one
from netcoach.data.errors import DataError
from netcoach.data.npz import read_npz
from netcoach.data.preprocess import needs_tensors
from netcoach.data.sources import LAYOUTS
from netcoach.data.tabular import TabularPreprocessing, read_csv
from netcoach.ensemble import EnsembleModel, is_ensemble, load_ensemble
from netcoach.tasks import Task, task_of_run
from netcoach.train.final import test_metrics
from netcoach.train.run import RunFolder

if TYPE_CHECKING:
    import pandas as pd

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass
class Prepared:
    """Model-ready inputs: ``x`` (N, *input_shape) normalized as in training, a ``name``
    per row (file, CSV row, array index) and ``notes`` on what was converted."""

    x: torch.Tensor
    names: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunInputs:
    """What a run says about its inputs (from ``data.json`` and ``preprocessing.json``)."""

    shape: tuple[int, ...]
    scale: float
    mean: Optional[list[float]]
    std: Optional[list[float]]
    preprocessing: Optional[dict]
    normalizer: Optional[torch.nn.Module] = None

    @classmethod
    def of(cls, run_dir: str | Path) -> "RunInputs":
        run = RunFolder(run_dir)
        return cls.from_record(run.data_record(), run.preprocessing(), run.normalizer())

    @classmethod
    def from_record(cls, record: dict, preprocessing: Optional[dict] = None,
                    normalizer: Optional[torch.nn.Module] = None) -> "RunInputs":
        """From a ``data.json`` record (and the run's ``preprocessing.json`` and fitted
        ``data.normalize`` module, if any: a record whose mode has one needs it)."""
        if needs_tensors(record) and normalizer is None:
            raise DataError(f"data.normalize {record['normalize']['mode']}: the run's fitted tensors "
                            f"(normalize.safetensors) are needed to prepare inputs; read them with "
                            f"RunFolder(run).normalizer() or use RunInputs.of(run)")
        return cls(tuple(record["input_shape"]), float(record["scale"]), record.get("mean"),
                   record.get("std"), preprocessing, normalizer)

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    def normalize(self, unit: torch.Tensor) -> torch.Tensor:
        """[0, 1]-unit inputs -> what the model saw (training mean/std per channel, or the
        fitted ``data.normalize`` module)."""
        if self.normalizer is not None:
            with torch.no_grad():
                return self.normalizer.to("cpu")(unit.to(torch.float32))
        if self.mean is None:
            return unit
        view = (1, -1) + (1,) * (unit.dim() - 2)
        return (unit - torch.tensor(self.mean).view(view)) / torch.tensor(self.std).view(view)

    def unit(self, normalized: torch.Tensor) -> torch.Tensor:
        """The inverse of ``normalize``: model inputs back in [0, 1] units."""
        if self.mean is None:
            return normalized
        view = (1, -1) + (1,) * (normalized.dim() - 2)
        return normalized * torch.tensor(self.std).view(view) + torch.tensor(self.mean).view(view)


def load_normalization(run_dir: str | Path) -> dict:
    """``scale``, ``mean``, ``std`` and ``input_shape`` from the run's ``data.json``."""
    return RunFolder(run_dir).data_record()


def prepare_inputs(x, record: dict, device: str | torch.device = "cpu",
                   normalizer: Optional[torch.nn.Module] = None) -> torch.Tensor:
    """Inputs in the run's stored form (e.g. uint8 pixels; (N, C, H, W) or one sample) ->
    the normalized float batch the model saw: x / scale, then the training mean/std (or
    the run's fitted ``normalizer``, ``RunFolder.normalizer()``). This is the arithmetic
    an export folds into its graph; ``predict`` also accepts other forms (float [0, 1]
    images, NHWC, files) and brings them to this one."""
    spec = RunInputs.from_record(record, normalizer=normalizer)
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t, _ = _layout(t, spec, "NCHW")
    return spec.normalize(t.to(torch.float32) / spec.scale).to(device)


# ---------------------------------------------------------------------- arrays
def _layout(x: torch.Tensor, spec: RunInputs, layout: str) -> tuple[torch.Tensor, list[str]]:
    """``x`` in the run's per-sample shape (adding a batch axis to one sample, transposing NHWC)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    shape = spec.shape
    if tuple(x.shape) == shape or (spec.is_image and x.dim() == 3 and
                                   tuple(x.shape) == (shape[1], shape[2], shape[0])):
        x = x.unsqueeze(0)
    nchw = tuple(x.shape[1:]) == shape
    nhwc = spec.is_image and x.dim() == 4 and (x.shape[3], x.shape[1], x.shape[2]) == shape
    if layout == "auto" and nchw and nhwc:
        raise DataError(f"inputs of shape {tuple(x.shape)} fit the run's {shape} as NCHW and as NHWC; "
                         "pass layout='NCHW' or layout='NHWC'")
    if (layout == "NHWC" and nhwc) or (layout == "auto" and nhwc and not nchw):
        hwc = tuple(x.shape[1:])
        return x.permute(0, 3, 1, 2).contiguous(), [f"inputs read as NHWC (N, {', '.join(map(str, hwc))}) "
                                                    f"and transposed to the run's NCHW {shape}"]
    if nchw and layout != "NHWC":
        return x, []
    per_sample = f"(N, {', '.join(map(str, shape))})"
    hint = f" or NHWC (N, {shape[1]}, {shape[2]}, {shape[0]})" if spec.is_image else ""
    raise DataError(f"inputs have shape {tuple(x.shape)}{f' read as {layout}' if layout != 'auto' else ''}, "
                    f"but the run was trained on {shape} per sample: pass {per_sample}{hint}")


def _unit(x: torch.Tensor, spec: RunInputs) -> tuple[torch.Tensor, list[str]]:
    """Inputs in [0, 1] units (stored values / scale), from their dtype and range."""
    floating = x.is_floating_point()
    lo, hi = (float(x.min()), float(x.max())) if x.numel() else (0.0, 0.0)
    if not floating:
        if spec.scale == 1.0 and spec.is_image and x.dtype == torch.uint8:
            return x.float() / 255.0, ["uint8 images read as 0..255 for a run trained on [0, 1] floats"]
        return x.float() / spec.scale, []
    if spec.is_image and (lo < 0 or hi > 1):
        stored = "0..255 uint8" if spec.scale in (1.0, 255.0) else f"integers 0..{spec.scale:g}"
        raise DataError(f"float image inputs must be in [0, 1], found values in [{lo:g}, {hi:g}]; pass "
                        f"the run's stored values ({stored}) or values divided into [0, 1]")
    return x.float(), []


def from_array(x, spec: RunInputs, layout: str = "auto", prefix: str = "index ") -> Prepared:
    """An array (or tensor) of raw inputs -> model-ready inputs; rows named ``<prefix><i>``."""
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t, notes = _layout(t, spec, layout)
    unit, more = _unit(t, spec)
    return Prepared(spec.normalize(unit), [f"{prefix}{i}" for i in range(len(unit))], notes + more)


# ---------------------------------------------------------------------- images, tables
def _image_array(img: Image.Image, spec: RunInputs, where: str) -> tuple[np.ndarray, bool]:
    """A PIL image -> (C, H, W) uint8 in the run's channels and size; whether it was resized."""
    if not spec.is_image:
        raise DataError(f"{where}: an image, but the run was trained on inputs of shape {spec.shape}")
    c, h, w = spec.shape
    if c not in (1, 3):
        raise DataError(f"{where}: the run takes {c}-channel inputs, which image files cannot give")
    img = img.convert("L" if c == 1 else "RGB")
    resized = img.size != (w, h)
    if resized:
        img = img.resize((w, h), Image.BILINEAR)
    arr = np.asarray(img).reshape(h, w, -1).transpose(2, 0, 1)
    return arr, resized


def from_images(images: list[tuple[str, Any]], spec: RunInputs) -> Prepared:
    """(name, PIL image or file bytes) pairs -> inputs; pixels 0..255 become [0, 1]."""
    arrays, resized = [], 0
    for name, item in images:
        if not isinstance(item, Image.Image):
            c = spec.shape[0] if spec.is_image and spec.shape[0] in (1, 3) else 0
            hwc = decode_one(item, name, c)
            item = Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)
        arr, changed = _image_array(item, spec, name)
        arrays.append(arr)
        resized += changed
    unit = torch.from_numpy(np.stack(arrays)).float() / 255.0
    notes = [f"{resized} images resized to the run's {spec.shape[1]}x{spec.shape[2]}"] if resized else []
    return Prepared(spec.normalize(unit), [n for n, _ in images], notes)


def from_frame(frame: pd.DataFrame, spec: RunInputs, where: str) -> Prepared:
    """CSV rows -> inputs through the run's stored preprocessing (columns by name)."""
    if spec.preprocessing is None:
        raise DataError(f"{where}: a table, but the run was not trained on a CSV (no preprocessing.json); "
                        f"pass inputs of shape (N, {', '.join(map(str, spec.shape))})")
    x = TabularPreprocessing.from_record(spec.preprocessing).transform(frame, where)
    return Prepared(spec.normalize(torch.from_numpy(x)), [f"{where}:{i + 1}" for i in range(len(x))])


def from_path(path: str | Path, spec: RunInputs, layout: str = "auto") -> Prepared:
    """A file or folder by its kind: ``.csv``, ``.npz`` (array ``x``), an image, a folder of images."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise DataError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        return from_images([(str(p), p.read_bytes()) for p in files], spec)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (give image files, a folder, a .csv or an .npz)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return from_frame(read_csv(path), spec, str(path))
    if suffix == ".npz":
        arrays = read_npz(path)
        if "x" not in arrays:
            raise DataError(f"{path}: needs an array 'x' (found: {', '.join(arrays) or 'none'})")
        return from_array(arrays["x"], spec, layout, prefix=f"{path}:")
    if suffix not in IMAGE_SUFFIXES:
        raise DataError(f"{path}: unsupported input {suffix or '(no suffix)'}; give image files "
                        f"({', '.join(IMAGE_SUFFIXES)}), a folder of them, a .csv or an .npz")
    return from_images([(str(path), path.read_bytes())], spec)


def _is_frame(inputs) -> bool:
    """A pandas DataFrame (only possible when the caller has loaded pandas)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(inputs, pandas.DataFrame)


def prepare(inputs, spec: RunInputs, layout: str = "auto") -> Prepared:
    """Any supported input (or a list of paths / PIL images) -> one ``Prepared`` batch."""
    if isinstance(inputs, (str, Path)):
        return from_path(inputs, spec, layout)
    if isinstance(inputs, Image.Image):
        return from_images([("image 0", inputs)], spec)
    if _is_frame(inputs):
        return from_frame(inputs, spec, "table")
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, (str, Path, Image.Image))
                                                             for i in inputs):
        if all(isinstance(i, Image.Image) for i in inputs):
            return from_images([(f"image {i}", img) for i, img in enumerate(inputs)], spec)
        parts = [prepare(i, spec, layout) for i in inputs]
        return Prepared(torch.cat([p.x for p in parts]), sum((p.names for p in parts), []),
                        sum((p.notes for p in parts), []))
    return from_array(inputs, spec, layout)


# ---------------------------------------------------------------------- running the model
@torch.no_grad()
def _outputs(model, x: torch.Tensor, device, batch_size: int) -> torch.Tensor:
    return torch.cat([model(x[i:i + batch_size].to(device)).float().cpu()
                      for i in range(0, len(x), batch_size)])


@dataclass
class Predictor:
    """A run folder or an ensemble folder, loaded to answer for new inputs.

    An ensemble answers like a run: its inputs, task and classes are its first member's
    (the members share them; ``netcoach ensemble`` checked it), its predictions the weighted
    mean of the members' (``EnsembleModel``), its outputs that mean in the task's output
    space (log mean probabilities for classification), with the checkpoint its record names.
    """

    config: Config        # the run's (an ensemble's first member's) config
    spec: RunInputs
    task: Task
    record: dict          # data.json (an ensemble: its members' shared record)
    model: torch.nn.Module
    device: str = "cpu"

    @property
    def is_ensemble(self) -> bool:
        return isinstance(self.model, EnsembleModel)

    @property
    def classes(self) -> list[str]:
        return self.record.get("class_names") or []

    @property
    def num_outputs(self) -> int:
        return int(self.record.get("num_outputs", self.record.get("num_classes", 0)))

    def predictions(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """``task.postprocess`` of the outputs (class probabilities, values), on the CPU."""
        if self.is_ensemble:
            return _outputs(self.model, x, self.device, batch_size)
        return self.task.postprocess(_outputs(self.model, x, self.device, batch_size))

    def outputs(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Outputs in the task's output space (what its loss and metrics read), on the CPU."""
        model = self.model.outputs if self.is_ensemble else self.model
        return _outputs(model, x, self.device, batch_size)


def load_predictor(run_dir: str | Path, which: str = "best", device: str = "cpu") -> Predictor:
    """The run or ensemble folder at ``run_dir`` with its ``which`` weights (an ensemble's must be
    the ones it was built from: its summary scored those)."""
    if is_ensemble(run_dir):
        ensemble = load_ensemble(run_dir, device=device, which=which)
        first = RunFolder(ensemble.paths[0])
        return Predictor(first.config(), RunInputs.of(first.path), ensemble.task, ensemble.record,
                         ensemble, device)
    spec = RunInputs.of(run_dir)  # a folder without data.json fails before the model is loaded
    config, model = load_run(run_dir, which=which, device=device)
    record = RunFolder(run_dir).data_record()
    return Predictor(config, spec, task_of_run(config, record), record, model, device)


def predict(run_dir: str | Path, x, which: str = "best", device: str = "cpu",
            batch_size: int = 1024, layout: str = "auto") -> torch.Tensor:
    """The run's task's predictions for raw inputs ``x`` (``task.postprocess``: class
    probabilities (N, K) for classification), with the run's model and data handling.

    Args:
        run_dir: a run folder written by ``netcoach train``, or an ensemble folder
            (``netcoach ensemble``: the weighted mean of its members' predictions, with the
            checkpoint its record names).
        x: arrays (stored values, or float [0, 1] images), PIL images, a DataFrame of CSV
            rows, or paths (image files, a folder, a .csv, an .npz); see the module doc.
        which: checkpoint to use (``best`` or ``last``).
        layout: ``auto``, ``NCHW`` or ``NHWC`` for 4-D image arrays.
    """
    predictor = load_predictor(run_dir, which, device)
    prepared = prepare(x, predictor.spec, layout)
    _warn(prepared.notes)
    return predictor.predictions(prepared.x, batch_size)


def _warn(notes: list[str]) -> None:
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=3)


def prediction_table(run_dir: str | Path, inputs: list, which: str = "best",
                     device: str = "cpu") -> tuple[pd.DataFrame, list[str]]:
    """(one row per input: its name, then the task's columns (``task.prediction_table``:
    the predicted class and each class's probability, or the predicted values); the notes
    on converted inputs). ``run_dir`` may be an ensemble folder."""
    predictor = load_predictor(run_dir, which, device)
    prepared = prepare(list(inputs), predictor.spec)
    outputs = predictor.outputs(prepared.x)
    preds = predictor.predictions(prepared.x) if predictor.is_ensemble else predictor.task.postprocess(outputs)
    columns = {"input": prepared.names}
    if predictor.task.targets_are_inputs:  # how well each input is reconstructed, next to the reconstruction
        columns["reconstruction_mse"] = predictor.task.sample_errors(outputs, predictor.spec.unit(prepared.x)).tolist()
    import pandas as pd  # imported where used: every command line stays cheap

    table = pd.DataFrame({**columns, **predictor.task.prediction_table(preds, predictor.classes)})
    return table, prepared.notes


# ---------------------------------------------------------------------- evaluation
def evaluate(run_dir: str | Path, overrides: Optional[dict] = None, split: str = "all",
             which: str = "best", device: str = "cpu") -> dict:
    """The run's task's metrics (``eval_loss``, ``eval_<metric>``) on another labelled set.

    ``overrides`` are ``data.*`` keys applied to the run's own ``[data]`` section (e.g.
    ``{"data.name": "csv", "data.path": "new.csv"}``). A CSV goes through the run's
    stored preprocessing, every row of it; another source is loaded as it loads and
    scored on ``split`` (``all``: train, val and test together), its classes matched
    to the run's by name. An ensemble folder is scored like a run: its averaged
    predictions, with its first member's ``[data]`` section and preprocessing.
    """
    predictor = load_predictor(run_dir, which, device)
    config = _data_config(predictor.config, overrides or {})
    spec, task = predictor.spec, predictor.task
    if config.data.name == "csv" and spec.preprocessing is not None:
        x, y = _csv_set(config.data, spec, task)
    else:
        x, y = _source_set(config.data, spec, task, predictor.classes, split)
    task.validate_labels(y, predictor.num_outputs)
    return test_metrics(task, predictor.outputs(x), y, prefix="eval")


def _data_config(config: Config, overrides: dict) -> Config:
    other = [k for k in overrides if not k.startswith("data.")]
    if other:
        raise ConfigError(f"{other[0]}: evaluate takes only data.* options (the run fixes the rest)")
    return apply_overrides(config, overrides)


def _csv_set(cfg: DataConfig, spec: RunInputs, task) -> tuple[torch.Tensor, torch.Tensor]:
    if not cfg.path:
        raise ConfigError("data.path: the CSV file to evaluate on (--data.path FILE)")
    prep = TabularPreprocessing.from_record(spec.preprocessing)
    frame = read_csv(cfg.path)
    x = torch.from_numpy(prep.transform(frame, str(cfg.path)))
    return spec.normalize(x), task.targets(x, torch.from_numpy(prep.targets(frame, str(cfg.path))))


def _source_set(cfg: DataConfig, spec: RunInputs, task, classes: list[str],
                split: str) -> tuple[torch.Tensor, torch.Tensor]:
    bundle = datasets.get(cfg.name)(cfg, stratify=task.stratify)
    names = {"all": ("train", "val", "test"), "train": ("train",), "val": ("val",), "test": ("test",)}
    if split not in names:
        raise ValueError(f"split must be one of {', '.join(names)}, got {split!r}")
    parts = [getattr(bundle, s) for s in names[split]]
    x = torch.cat([p.x for p in parts])
    y = torch.cat([p.y for p in parts])
    if tuple(x.shape[1:]) != spec.shape:
        raise DataError(f"data {cfg.name}: inputs of shape {tuple(x.shape[1:])}, but the run was trained "
                        f"on {spec.shape}")
    if task.has_classes and bundle.class_names and bundle.class_names != classes:
        unknown = [c for c in bundle.class_names if c not in classes]
        if unknown:
            raise DataError(f"data {cfg.name}: class {unknown[0]!r} is not one of the run's classes "
                            f"({', '.join(classes)})")
        y = torch.as_tensor([classes.index(bundle.class_names[i]) for i in y.tolist()], dtype=torch.int64)
    unit = x.float() / bundle.scale
    return spec.normalize(unit), task.targets(unit, y)


__all__ = ["Predictor", "Prepared", "RunInputs", "evaluate", "load_normalization", "load_predictor", "predict",
           "prediction_table", "prepare", "prepare_inputs"]
