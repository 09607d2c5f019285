"""Confusion matrix with per-class accuracy, counted with numpy and drawn with Pillow.

Drawn with Pillow rather than matplotlib: it is a grid of coloured cells with
numbers, and the matplotlib version (heat map plus a separate per-class bar
chart) cost 0.2-0.35 s of CPU, about half of a digits run's whole report
(``bench/report_time.py``); this one costs a few milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from netcoach.report.images import save_pil
from netcoach.report.textboxes import TextBox, pillow_box

# Light to dark blue, the colour of a cell's share of its true class.
LIGHT, DARK = np.array([247, 251, 255], np.float32), np.array([8, 48, 107], np.float32)


def confusion(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion counts ``[true, predicted]`` of argmax predictions.

    One ``np.bincount`` instead of ``sklearn.metrics.confusion_matrix`` (same result,
    checked in the tests): importing ``sklearn.metrics`` alone takes 0.4-2 s, more
    than the whole report of a short run may take.
    """
    pred = probs.argmax(1).astype(np.int64)
    k = max(num_classes, int(pred.max(initial=-1)) + 1, int(labels.max(initial=-1)) + 1)
    counts = np.bincount(labels.astype(np.int64) * k + pred, minlength=k * k)
    return counts.reshape(k, k)


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Recall of each class (diagonal / row sum); NaN for a class with no samples."""
    totals = matrix.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def _colour(fraction: float) -> tuple[int, int, int]:
    return tuple(int(v + 0.5) for v in LIGHT + fraction * (DARK - LIGHT))


class _Canvas:
    """A Pillow image that records the box of every text drawn on it."""

    def __init__(self, width: int, height: int):
        from PIL import Image, ImageDraw

        self.img = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.img)
        self.boxes: list[TextBox] = []

    def text(self, xy, text: str, font, **kwargs) -> None:
        self.draw.text(xy, text, font=font, **kwargs)
        kwargs.pop("fill", None)
        self.boxes.append(pillow_box(self.draw, xy, text, font, font.size, **kwargs))

    def vertical_text(self, text: str, x_center: float, y_top: int, font) -> None:
        """``text`` rotated 90 degrees (reading bottom-up), centred on ``x_center`` below ``y_top``."""
        from PIL import Image, ImageDraw

        tile = Image.new("RGBA", (int(font.getlength(text)) + 4, font.size + 6), (255, 255, 255, 0))
        tile_draw = ImageDraw.Draw(tile)
        tile_draw.text((2, 1), text, fill="black", font=font)
        a, b, c, d = tile_draw.textbbox((2, 1), text, font=font)
        width = tile.width
        tile = tile.rotate(90, expand=True)  # (x, y) of the tile goes to (y, width - x)
        x, y = int(x_center - tile.width / 2), y_top
        self.img.paste(tile, (x, y), tile)
        self.boxes.append(TextBox(x + b, y + width - c, x + d, y + width - a, font.size, text))


def confusion_image(matrix: np.ndarray, class_names: Sequence[str]):
    """Row-normalised confusion matrix (counts in the cells up to 25 classes) with each
    class's accuracy as a bar on the right and the overall accuracy below, as a Pillow
    image and the boxes of its texts."""
    from PIL import ImageFont

    k = len(matrix)
    cell = int(max(12, min(36, 600 // max(k, 1))))
    font = ImageFont.load_default(size=max(10, min(13, cell // 3 + 2)))
    bold = ImageFont.load_default(size=15)
    names = [str(class_names[i]) if i < len(class_names) else str(i) for i in range(k)]
    label_w = int(max(font.getlength(n) for n in names)) + 12 if k <= 60 else 8
    bar_w, top = 130, 50
    left = max(label_w, 44)
    grid = k * cell
    rotate = k <= 60 and columns_need_rotation(names, font, cell)
    col_h = (label_w if rotate else font.size + 4) + 6
    overall = np.trace(matrix) / max(matrix.sum(), 1)
    footer = f"overall accuracy {overall:.4f}   (bars: accuracy of each true class)"
    width = max(left + grid + bar_w + 70, left + int(font.getlength(footer)) + 10)
    canvas = _Canvas(width, top + grid + col_h + font.size + 20)
    canvas.text((left, 6), f"confusion matrix ({int(matrix.sum()):,} samples)", bold, fill="black")
    canvas.text((left, 28), "rows: true class, columns: predicted", font, fill="#555")
    share = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    for i in range(k):
        y = top + i * cell
        if k <= 60:
            canvas.text((left - 6, y + cell / 2), names[i], font, fill="black", anchor="rm")
            if rotate:
                canvas.vertical_text(names[i], left + i * cell + cell / 2, top + grid + 4, font)
            else:
                canvas.text((left + i * cell + cell / 2, top + grid + 4), names[i], font, fill="black",
                            anchor="mt")
        for j in range(k):
            x = left + j * cell
            canvas.draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=_colour(float(share[i, j])),
                                  outline="#dde1e6")
            if matrix[i, j] and k <= 25:
                canvas.text((x + cell / 2, y + cell / 2), str(int(matrix[i, j])), font,
                            fill="white" if share[i, j] > 0.5 else "black", anchor="mm")
    _accuracy_bars(canvas, per_class_accuracy(matrix), left + grid + 14, top, cell, bar_w, font)
    canvas.text((left, top + grid + col_h + 10), footer, font, fill="black")
    return canvas.img, canvas.boxes


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], path: str | Path) -> Path:
    """``confusion_image`` written as a PNG (with its text boxes)."""
    img, boxes = confusion_image(matrix, class_names)
    return save_pil(img, path, boxes)


def columns_need_rotation(names: Sequence[str], font, cell: int) -> bool:
    """Whether horizontal column labels would run into each other ("airplaneautomobilebird"):
    some label is wider than its column."""
    return any(font.getlength(n) > cell - 4 for n in names)


def _accuracy_bars(canvas: _Canvas, accuracy: np.ndarray, x0: int, top: int, cell: int, width: int,
                   font) -> None:
    canvas.text((x0, top - font.size - 5), "per-class accuracy", font, fill="black")
    for i, acc in enumerate(accuracy):
        y = top + i * cell + max(2, cell // 6)
        h = cell - 2 * max(2, cell // 6)
        canvas.draw.rectangle([x0, y, x0 + width, y + h], fill="#eef1f5")
        if np.isfinite(acc):
            canvas.draw.rectangle([x0, y, x0 + int(width * acc), y + h], fill="#1f77b4")
        text = "n/a" if not np.isfinite(acc) else f"{acc:.1%}"
        canvas.text((x0 + width + 6, top + i * cell + cell / 2), text, font, fill="black", anchor="lm")
