"""Image grids of a run: worst mistakes and first-layer filters (Pillow, PNG).

The grids are composed with numpy and Pillow rather than matplotlib: they are
pixel mosaics with short captions, and drawing them with matplotlib took about
a third of the report time for a digits run (``bench/report_time.py``), while
report time must stay small next to a short training run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from netcoach.utils.io import atomic_path

# Diverging colours for filter weights: negative blue, zero white, positive red.
NEGATIVE, POSITIVE = np.array([5, 113, 176], np.float32), np.array([202, 0, 32], np.float32)


def to_display(x: np.ndarray, scale: Optional[float]) -> np.ndarray:
    """Stored inputs (N, C, H, W) -> displayable (N, H, W) or (N, H, W, 3) floats in [0, 1].

    uint8 inputs are divided by the data's ``scale`` (as the loader does); float
    inputs are min-max scaled per image since their range is unknown.
    """
    x = x.astype(np.float32)
    if scale:
        x = x / float(scale)
    else:
        lo = x.min(axis=(1, 2, 3), keepdims=True)
        hi = x.max(axis=(1, 2, 3), keepdims=True)
        x = (x - lo) / np.maximum(hi - lo, 1e-8)
    x = np.clip(x, 0.0, 1.0)
    return x.transpose(0, 2, 3, 1) if x.shape[1] == 3 else x[:, 0]


def save_pil(image, path: str | Path) -> Path:
    """Write a Pillow image as PNG, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", compress_level=3)
    return path


def _to_uint8_rgb(images: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) floats in [0, 1] -> (N, H, W, 3) uint8."""
    x = np.clip(images * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(x[..., None], 3, axis=-1) if x.ndim == 3 else x


def _upscale(images: np.ndarray, target: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor so tiles are about ``target`` px."""
    factor = max(1, round(target / max(images.shape[1:3])))
    return images.repeat(factor, axis=1).repeat(factor, axis=2)


def _caption_grid(tiles: np.ndarray, captions: Sequence[str], title: str, cols: int,
                  text_lines: int, font_size: int = 11, background: str = "white"):
    """Tiles (N, h, w, 3) uint8 on a white grid, each with a caption above it."""
    from PIL import Image, ImageDraw, ImageFont

    n, h, w = tiles.shape[:3]
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    font = ImageFont.load_default(size=font_size)
    line = font_size + 3
    cell_w, cell_h, title_h = max(w, 7 * font_size * (text_lines > 0)) + 8, h + text_lines * line + 8, 2 * line if title else 4
    canvas = Image.new("RGB", (cols * cell_w + 8, rows * cell_h + title_h + 4), background)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((8, 6), title, fill="black", font=ImageFont.load_default(size=font_size + 2))
    for i in range(n):
        r, c = divmod(i, cols)
        left, top = 8 + c * cell_w, title_h + r * cell_h
        if i < len(captions):
            draw.multiline_text((left, top), captions[i], fill="black", font=font, spacing=3)
        canvas.paste(Image.fromarray(tiles[i]), (left, top + text_lines * line))
    return canvas


def plot_mistakes(images: np.ndarray, true: Sequence[int], pred: Sequence[int],
                  conf: Sequence[float], class_names: Sequence[str], path: str | Path,
                  cols: int = 8) -> Path:
    """Most confidently misclassified samples, each captioned with true/predicted class
    and the predicted probability."""
    name = lambda i: str(class_names[i]) if 0 <= i < len(class_names) else str(i)  # noqa: E731
    captions = [f"true {name(t)}\npred {name(p)} {c:.0%}" for t, p, c in zip(true, pred, conf)]
    tiles = _upscale(_to_uint8_rgb(images), 80)
    grid = _caption_grid(tiles, captions, "most confidently misclassified test samples", cols, 2)
    return save_pil(grid, path)


def filter_colours(tiles: np.ndarray) -> np.ndarray:
    """Weights in [-1, 1] (N, h, w) -> RGB uint8 on a blue-white-red scale."""
    v = np.clip(tiles, -1, 1)[..., None]
    white = np.float32(255)
    rgb = white + np.abs(v) * (np.where(v < 0, NEGATIVE, POSITIVE) - white)
    return (rgb + 0.5).astype(np.uint8)


def plot_filters(weight: np.ndarray, path: str | Path, max_filters: int = 64) -> Path:
    """First-layer convolution filters as images: RGB for 3 input channels, else the
    first input channel on a blue (negative) - white - red (positive) scale."""
    w = weight[:max_filters]
    if w.shape[1] == 3:
        scale = np.abs(w).max(axis=(1, 2, 3), keepdims=True)
        tiles = _to_uint8_rgb((w / np.maximum(2 * scale, 1e-12) + 0.5).transpose(0, 2, 3, 1))
    else:
        first = w[:, 0]
        tiles = filter_colours(first / np.maximum(np.abs(first).max(axis=(1, 2), keepdims=True), 1e-12))
    extra = "" if w.shape[1] in (1, 3) else f", input channel 0 of {weight.shape[1]}"
    title = (f"first-layer filters ({len(w)} of {weight.shape[0]}, "
             f"{weight.shape[2]}x{weight.shape[3]}{extra})")
    # grey background: white is the colour of zero weights
    grid = _caption_grid(_upscale(tiles, 40), [], title, 16, 0, background="#b8b8b8")
    return save_pil(grid, path)
