"""Image grids of a run: worst mistakes and first-layer filters (Pillow, PNG), and the
building blocks every report picture of tiles uses (the autoencoder's reconstructions and
learned features too): ``to_display`` and ``to_uint8_rgb`` turn arrays into pixels,
``upscale`` enlarges small tiles, ``caption_grid`` lays them out with captions and returns
the box of every text it draws, and ``save_pil`` writes the PNG with those boxes.

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

from netcoach.report.textboxes import KEY, TextBox, encode, pillow_box
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


def save_pil(image, path: str | Path, boxes: Sequence[TextBox] = ()) -> Path:
    """Write a Pillow image as PNG, atomically, with the boxes of its texts (``textboxes``)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(KEY, encode(boxes))
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", compress_level=3, pnginfo=info)
    return path


def to_uint8_rgb(images: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) floats in [0, 1] -> (N, H, W, 3) uint8 (grey repeated)."""
    x = np.clip(images * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(x[..., None], 3, axis=-1) if x.ndim == 3 else x


def upscale(images: np.ndarray, target: int) -> np.ndarray:
    """(N, h, w, ...) tiles enlarged by nearest-neighbour repetition, by the integer factor
    that makes their longer side about ``target`` pixels (at least 1: never shrunk)."""
    factor = max(1, round(target / max(images.shape[1:3])))
    return images.repeat(factor, axis=1).repeat(factor, axis=2)


CAPTION_PX = 13  # caption font size: legible at 100% zoom
CAPTION_MAX_W = 180  # a longer caption line is shortened with an ellipsis
PAGE_PX = 1000  # widest picture the report's page column shows at 100% (html.STYLE: main)
GAP = 14  # pixels between neighbouring tiles (and captions)


def fit_text(text: str, font, width: float) -> str:
    """``text`` shortened with an ellipsis so it is at most ``width`` pixels wide in ``font``."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def caption_grid(tiles: np.ndarray, captions: Sequence[str], title: str, cols: int,
                  font_size: int = CAPTION_PX, background: str = "white"):
    """Tiles (N, h, w, 3) uint8 on a grid of at most ``cols`` columns (fewer when the
    report's page column is narrower), each with its caption above it (``captions`` may
    be empty), under ``title``; returns the Pillow image and the box of every text drawn
    (for ``save_pil``). Each column is as wide as its widest caption (measured with the
    font that draws it), so neighbouring captions never touch."""
    from PIL import Image, ImageDraw, ImageFont

    n, h, w = tiles.shape[:3]
    font = ImageFont.load_default(size=font_size)
    title_font = ImageFont.load_default(size=font_size + 2)
    captions = ["\n".join(fit_text(line, font, CAPTION_MAX_W) for line in c.split("\n")) for c in captions]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    sizes = [measure.multiline_textbbox((0, 0), c, font=font, spacing=3) for c in captions]
    text_w = max((b[2] for b in sizes), default=0)
    text_h = max((b[3] for b in sizes), default=0) + 4 if captions else 0
    gap = GAP if captions else 6
    cell_w, cell_h = max(w, int(math.ceil(text_w))) + gap, h + text_h + gap
    cols = max(1, min(cols, n, (PAGE_PX - 8) // cell_w))  # shown unscaled in the report's column
    rows = math.ceil(n / cols)
    title_h = font_size * 2 + 4 if title else 6
    width = max(cols * cell_w + 8, int(title_font.getlength(title)) + 16 if title else 0)
    canvas = Image.new("RGB", (width, rows * cell_h + title_h), background)
    draw = ImageDraw.Draw(canvas)
    boxes = []
    if title:
        draw.text((8, 6), title, fill="black", font=title_font)
        boxes.append(pillow_box(draw, (8, 6), title, title_font, font_size + 2))
    for i in range(n):
        r, c = divmod(i, cols)
        left, top = 8 + c * cell_w, title_h + r * cell_h
        if i < len(captions):
            draw.multiline_text((left, top), captions[i], fill="black", font=font, spacing=3)
            boxes.append(pillow_box(draw, (left, top), captions[i], font, font_size, spacing=3))
        canvas.paste(Image.fromarray(tiles[i]), (left, top + text_h))
    return canvas, boxes


def mistake_captions(true: Sequence[int], pred: Sequence[int], conf: Sequence[float],
                     class_names: Sequence[str]) -> list[str]:
    """"true cat" / "pred dog (51%)": the probability in brackets, so "pred 1 (51%)" cannot
    read as "pred 151%"."""
    name = lambda i: str(class_names[i]) if 0 <= i < len(class_names) else str(i)  # noqa: E731
    return [f"true {name(t)}\npred {name(p)} ({c:.0%})" for t, p, c in zip(true, pred, conf)]


def mistakes_grid(images: np.ndarray, true: Sequence[int], pred: Sequence[int],
                  conf: Sequence[float], class_names: Sequence[str], cols: int = 8):
    """The worst-mistakes grid as a Pillow image and the boxes of its texts."""
    tiles = upscale(to_uint8_rgb(images), 80)
    return caption_grid(tiles, mistake_captions(true, pred, conf, class_names),
                         "most confidently misclassified test samples", cols)


def plot_mistakes(images: np.ndarray, true: Sequence[int], pred: Sequence[int],
                  conf: Sequence[float], class_names: Sequence[str], path: str | Path,
                  cols: int = 8) -> Path:
    """Most confidently misclassified samples, each captioned with true/predicted class
    and the predicted probability."""
    grid, boxes = mistakes_grid(images, true, pred, conf, class_names, cols)
    return save_pil(grid, path, boxes)


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
        tiles = to_uint8_rgb((w / np.maximum(2 * scale, 1e-12) + 0.5).transpose(0, 2, 3, 1))
    else:
        first = w[:, 0]
        tiles = filter_colours(first / np.maximum(np.abs(first).max(axis=(1, 2), keepdims=True), 1e-12))
    extra = "" if w.shape[1] in (1, 3) else f", input channel 0 of {weight.shape[1]}"
    title = (f"first-layer filters ({len(w)} of {weight.shape[0]}, "
             f"{weight.shape[2]}x{weight.shape[3]}{extra})")
    # grey background: white is the colour of zero weights
    grid, boxes = caption_grid(upscale(tiles, 40), [], title, 16, background="#b8b8b8")
    return save_pil(grid, path, boxes)
