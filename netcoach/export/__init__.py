"""Export a trained run for use outside netcoach: ONNX, torch.export (.pt2), safetensors.

An ensemble folder exports like a run (ONNX and torch.export): one graph holding every
member, giving the task's outputs of their weighted mean prediction (log mean
probabilities for classification; ``probabilities`` gives the mean probabilities).

Every export reads only the run folder, checks the artifact in its own runtime against
PyTorch on real test samples before writing it, and writes a ``model_card.md`` beside it.

Example:
    >>> from netcoach.export import export_run
    >>> result = export_run("runs/digits-cnn", "onnx", with_preprocessing=True)  # doctest: +SKIP
    >>> result.check.max_abs_diff < 1e-4                                        # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from netcoach.ensemble import is_ensemble
from netcoach.export.card import model_card
from netcoach.export.check import DEFAULT_TOLERANCE, Check, ExportCheckError, compare, require
from netcoach.export.onnx import run_onnx, to_onnx
from netcoach.export.source import RunSource, load_source, normalize, reference_samples
from netcoach.export.torch_export import run_pt2, to_pt2
from netcoach.export.weights import load_exported, run_rebuilt, sidecar, sidecar_path, state_bytes
from netcoach.export.wrap import exported_module
from netcoach.train.run import EXPORT
from netcoach.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text

FORMATS = {"onnx": ".onnx", "torch-export": ".pt2", "safetensors": ".safetensors"}
CARD = "model_card.md"

__all__ = ["CARD", "DEFAULT_TOLERANCE", "FORMATS", "ExportCheckError", "ExportResult", "export_run",
           "load_exported"]


@dataclass
class ExportResult:
    """What an export wrote and how its check went."""

    format: str
    path: Path
    card: Path
    check: Check
    files: list[Path] = field(default_factory=list)   # every file written, card included


def export_run(run_dir: str | Path, format: str, out: str | Path | None = None, *,
               with_preprocessing: bool = False, probabilities: bool = False, which: str = "best",
               tolerance: float = DEFAULT_TOLERANCE, samples: int = 256) -> ExportResult:
    """Export the run's ``which`` weights as ``format`` to ``out``.

    Args:
        run_dir: a run folder written by ``netcoach train``, or an ensemble folder
            (``netcoach ensemble``; onnx and torch-export; ``which`` must be its own).
        format: ``onnx``, ``torch-export`` or ``safetensors``.
        out: the file to write (default ``<run>/export/<format>/model.<ext>``; an existing
            folder gets ``model.<ext>`` inside).
        with_preprocessing: fold the run's scaling and normalization into the graph, so the
            file takes inputs as the data source stores them (uint8 images); onnx and
            torch-export only (the safetensors sidecar always records the preprocessing).
        probabilities: end the graph with the task's post-processing (softmax probabilities
            for classification) instead of raw scores.
        tolerance: largest allowed absolute difference to PyTorch's outputs; above it an
            ``ExportCheckError`` is raised and nothing is written.
        samples: how many test samples the check runs.
    """
    _validate(format, with_preprocessing, probabilities, tolerance, samples)
    if format == "safetensors" and is_ensemble(run_dir):
        raise ValueError(f"--format safetensors: {run_dir} is an ensemble folder, which refers to its members' "
                         "runs; export it as onnx or torch-export (one graph), or each member run as safetensors")
    source = load_source(run_dir, which)
    path = _out_path(source.path, format, out)
    ref = reference_samples(source, samples)
    module = exported_module(source, with_preprocessing, probabilities)
    inputs = ref.raw if with_preprocessing else normalize(source, ref.raw)
    with torch.no_grad():
        expected = module(inputs)
    example = inputs[:2] if len(inputs) >= 2 else inputs.repeat(2, *([1] * (inputs.dim() - 1)))
    meta = _metadata(source, with_preprocessing, probabilities, str(inputs.dtype))
    artifact = BUILDERS[format](source, module, example, meta)
    check = require(compare(artifact.runtime, artifact.run(artifact.data, inputs), expected,
                            ref.origin, tolerance))
    atomic_write_bytes(path, artifact.data)  # only now: a failed check leaves nothing behind
    files = [path]
    if artifact.sidecar is not None:
        atomic_write_json(sidecar_path(path), artifact.sidecar)
        files.append(sidecar_path(path))
    card = path.parent / CARD
    atomic_write_text(card, model_card(source, format, path, with_preprocessing, probabilities,
                                       str(inputs.dtype), check))
    return ExportResult(format, path, card, check, files + [card])


def _validate(fmt: str, with_preprocessing: bool, probabilities: bool, tolerance: float,
              samples: int) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"--format: unknown export format '{fmt}'; valid: {', '.join(FORMATS)}")
    if fmt == "safetensors" and (with_preprocessing or probabilities):
        raise ValueError("--with-preprocessing/--probabilities apply to onnx and torch-export; a "
                         "safetensors export holds weights only (its JSON sidecar records the "
                         "preprocessing)")
    if not tolerance >= 0:
        raise ValueError(f"--tolerance: must be >= 0, got {tolerance}")
    if samples < 1:
        raise ValueError(f"--samples: must be >= 1, got {samples}")


def _out_path(run: Path, fmt: str, out: str | Path | None) -> Path:
    name = "model" + FORMATS[fmt]
    if out is None:
        return run / EXPORT / fmt / name
    out = Path(out)
    return out / name if out.is_dir() else out


def _metadata(source: RunSource, with_preprocessing: bool, probabilities: bool, dtype: str) -> dict:
    record = source.record
    meta = {"netcoach_run": source.path.name, "task": record.get("task", "classification"),
            "class_names": record.get("class_names"), "input_dtype": dtype,
            "input_shape": ["N", *source.fed_shape(with_preprocessing)], "preprocessing_folded": with_preprocessing,
            "output": "probabilities" if probabilities else "logits"}
    if source.is_ensemble:
        meta["ensemble_members"] = [p.name for p in source.members]
    return meta


@dataclass
class Artifact:
    """A serialized export, the runtime that checks it, and the JSON written beside it."""

    runtime: str
    data: bytes
    run: Callable[[bytes, torch.Tensor], object]   # (data, inputs) -> outputs in that runtime
    sidecar: Optional[dict] = None


def _onnx(source: RunSource, module, example, meta) -> Artifact:
    return Artifact("onnxruntime", to_onnx(module, example, meta), run_onnx)


def _pt2(source: RunSource, module, example, meta) -> Artifact:
    return Artifact("torch.export", to_pt2(module, example, {k: json.dumps(v) for k, v in meta.items()}),
                    run_pt2)


def _safetensors(source: RunSource, module, example, meta) -> Artifact:
    side = sidecar(source)
    return Artifact("safetensors rebuild", state_bytes(source.model, side),
                    lambda data, x: run_rebuilt(side, data, x), side)


BUILDERS = {"onnx": _onnx, "torch-export": _pt2, "safetensors": _safetensors}
