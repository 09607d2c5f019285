"""Report sections of the autoencoder task: test inputs beside their reconstructions, and
the first layer's learned features as images (each hidden unit's input weights reshaped to
the input image, as in the course's MNIST autoencoder with 256 units).

Built from the run folder alone: ``predictions.safetensors`` keeps the first test inputs
and reconstructions and every test sample's error (``Autoencoder.kept_predictions``), and
the features come from ``checkpoints/best.safetensors``. Drawn with Pillow like the other
image grids (``report/images.py``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from safetensors import safe_open

from netcoach.report import html as h
from netcoach.report.draw import figure, guarded
from netcoach.report.images import caption_grid, save_pil, to_display, to_uint8_rgb, upscale
from netcoach.report.records import RunRecord, _natural_key, load_predictions
from netcoach.train.run import CHECKPOINTS

SHOWN = 16          # test samples shown beside their reconstructions
MAX_UNITS = 256     # hidden units drawn as feature images


def unit_images(weight: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """A (K, D) weight matrix whose rows see the D input values -> K images in [0, 1],
    (K, H, W) or (K, H, W, 3): each row reshaped to the input's (C, H, W) and min-max
    scaled on its own (a feature's sign and scale are arbitrary, its pattern is what shows)."""
    k = weight.shape[0]
    c, hgt, wid = shape
    tiles = weight.reshape(k, c, hgt, wid).astype(np.float32)
    lo = tiles.min(axis=(1, 2, 3), keepdims=True)
    hi = tiles.max(axis=(1, 2, 3), keepdims=True)
    tiles = (tiles - lo) / np.maximum(hi - lo, 1e-12)
    return tiles.transpose(0, 2, 3, 1) if c == 3 else tiles[:, 0]


def plot_features(weight: np.ndarray, shape: Sequence[int], path: str | Path, title: str,
                  max_units: int = MAX_UNITS) -> Path:
    """The first ``max_units`` rows of ``weight`` as a grid of images (16 per row)."""
    tiles = to_uint8_rgb(unit_images(weight[:max_units], shape))
    grid, boxes = caption_grid(upscale(tiles, 28), [], title, 16, background="#b8b8b8")
    return save_pil(grid, path, boxes)


def plot_reconstructions(inputs: np.ndarray, recons: np.ndarray, errors: Sequence[float],
                         path: str | Path, cols: int = 8) -> Path:
    """Pairs of rows: test inputs, and under each its reconstruction with its MSE."""
    n = len(inputs)
    tiles, captions = [], []
    for start in range(0, n, cols):
        row = slice(start, min(start + cols, n))
        tiles += list(inputs[row]) + [np.zeros_like(inputs[0])] * (cols - len(inputs[row]))
        tiles += list(recons[row]) + [np.zeros_like(recons[0])] * (cols - len(recons[row]))
        captions += ["input"] * cols + [f"mse {e:.4f}" for e in errors[row]] + [""] * (cols - len(errors[row]))
    grid, boxes = caption_grid(upscale(to_uint8_rgb(np.stack(tiles)), 64), captions,
                                "test inputs (upper row) and their reconstructions (lower row)", cols)
    return save_pil(grid, path, boxes)


def reconstructions_section(rec: RunRecord, out: Path, task) -> str:
    pred = load_predictions(rec.path, rec.notes, key="reconstructions")
    if pred is None:
        return h.note("no test reconstructions recorded (predictions.safetensors absent)")
    inputs, recons = pred["labels"], pred["reconstructions"]
    errors = pred.get("errors")
    summary = ""
    if errors is not None and len(errors):
        mse = float(np.mean(errors))
        psnr = float(np.mean(-10 * np.log10(np.maximum(errors, 1e-10))))
        worst = int(np.argmax(errors))
        summary = (f"<p>{len(errors):,} test samples: reconstruction MSE {h.fmt(mse)} (values in [0, 1]), "
                   f"PSNR {psnr:.2f} dB; median MSE {h.fmt(float(np.median(errors)))}, worst "
                   f"{h.fmt(float(errors[worst]))} (test sample {worst}).</p>")
    if inputs.ndim != 4 or inputs.shape[1] not in (1, 3) or recons.shape != inputs.shape:
        return summary + h.note(f"the inputs are not images (shape {tuple(inputs.shape[1:])}): no image grid")
    n = min(SHOWN, len(inputs))
    scale = float((rec.data or {}).get("scale") or 1.0)
    shown_in = to_display(inputs[:n], scale)  # stored values (uint8) or floats in [0, 1]
    shown_out = to_display(recons[:n].astype(np.float32), 1.0)
    errs = errors[:n] if errors is not None else [math.nan] * n
    png = guarded(rec.notes, "reconstructions", plot_reconstructions, shown_in, shown_out, errs,
                  out / "reconstructions.png")
    return summary + figure(png, "test inputs and reconstructions", "reconstructions could not be drawn")


def first_dense_weight(path: Path, input_size: int, notes: list[str]) -> Optional[tuple[str, np.ndarray]]:
    """The first 2-D weight of the best checkpoint (layer order) that reads all
    ``input_size`` input values: the first layer of an MLP."""
    file = path / CHECKPOINTS / "best.safetensors"
    if not file.exists():
        notes.append("checkpoints/best.safetensors is missing: no learned features")
        return None
    with safe_open(str(file), framework="numpy") as fh:
        for name in sorted(fh.keys(), key=_natural_key):
            shape = fh.get_slice(name).get_shape()
            if name.endswith("weight") and len(shape) in (2, 4):
                if len(shape) == 2 and shape[1] == input_size:
                    return name, fh.get_tensor(name).astype(np.float32)
                return None  # the first layer is another kind (a convolution)
    return None


def features_section(rec: RunRecord, out: Path, task) -> str:
    shape = list((rec.data or {}).get("input_shape") or [])
    if len(shape) != 3 or shape[0] not in (1, 3):
        return h.note(f"the inputs are not images (shape {tuple(shape)}): no feature images")
    found = first_dense_weight(rec.path, math.prod(shape), rec.notes)
    if found is None:
        return h.note("the first layer is not a dense layer over the whole input (a convolution: see "
                      "First-layer filters), so its features are not whole images")
    name, weight = found
    n = min(MAX_UNITS, len(weight))
    png = guarded(rec.notes, "learned features", plot_features, weight, shape, out / "features.png",
                  f"{name}: input weights of {n} of {len(weight)} hidden units")
    return (f"<p>Each tile is one hidden unit's weights over the input ({h.esc(name)}, reshaped to "
            f"{shape[1]}x{shape[2]}, dark to light = low to high). Localised strokes and blobs are "
            "features that generalise; noise-like tiles are units that co-adapted or barely trained "
            "(the course's MNIST autoencoder with 256 units: noise-like features without dropout, "
            "strokes with dropout p = 0.5).</p>"
            + figure(png, "learned features", "learned features could not be drawn"))


# report_sections name -> (section id, title, builder(rec, out, task) -> html)
SECTIONS = {
    "reconstructions": ("reconstructions", "Reconstructions", reconstructions_section),
    "learned_features": ("learned-features", "Learned features", features_section),
}
