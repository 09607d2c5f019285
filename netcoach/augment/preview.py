"""A PNG grid of training images under the configured pipeline: what the model sees.

Each row shows a training image unchanged in the first column, then ``views``
independent draws of the augmentation pipeline, each with its label (class name, or
the mixed classes' shares after mixup/cutmix) under it. Drawn with Pillow (no plotting
needed: the grid is pixels side by side, upscaled so that 32x32 images are
readable). ``augment_warnings`` says when a setting hides most of a small image
(the default crop padding and cutout on 8x8 digits), with the value to use instead;
the warnings are printed at the top of the grid too.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from netcoach.augment.pipeline import build_augment
from netcoach.config import AugmentConfig
from netcoach.data.base import DataBundle
from netcoach.data.loader import BatchTransform
from netcoach.utils.io import atomic_write_bytes
from netcoach.utils.runtime import make_generator

PREVIEW_SALT = 104  # generator salt of the preview: never the training augmentation's stream
GAP = 2  # pixels of white between tiles
LABEL_PX = 12  # font size of the labels under the tiles
TOO_MUCH = 0.25  # average share of an image a transform may hide or shift out before a warning


def mean_shift_loss(shift: int, h: int, w: int) -> float:
    """Average share of an h x w image moved out of view by a shift drawn uniformly from
    [-shift, shift] per axis (crop with padding ``shift``, translate): exact, by counting."""
    if shift <= 0:
        return 0.0
    offsets = range(-shift, shift + 1)
    kept_h = sum(max(h - abs(d), 0) for d in offsets) / (len(offsets) * h)
    kept_w = sum(max(w - abs(d), 0) for d in offsets) / (len(offsets) * w)
    return 1.0 - kept_h * kept_w


def mean_cutout_share(size: int, h: int, w: int) -> float:
    """Average share of an h x w image a cutout square of side ``size`` hides: its centre
    is uniform over the pixels and it is clipped at the borders (``erase.Cutout.box``)."""
    def covered(n: int) -> float:
        return sum(min(c - size // 2 + size, n) - max(c - size // 2, 0) for c in range(n)) / n
    return covered(h) * covered(w) / (h * w)


def _largest(limit: int, share) -> int:
    """The largest value in [0, limit] whose share stays within ``TOO_MUCH`` (0 if none)."""
    return max((v for v in range(limit + 1) if share(v) <= TOO_MUCH), default=0)


def augment_warnings(cfg, input_shape) -> list[str]:
    """One line per transform of ``cfg`` (an AugmentConfig or the ``[augment]`` table of a
    config.toml) that hides or shifts out more than ``TOO_MUCH`` of a ``input_shape`` =
    (C, H, W) image on average, with the value that would not."""
    if not input_shape or len(input_shape) != 3:
        return []
    get = cfg.get if isinstance(cfg, dict) else (lambda key, default=None: getattr(cfg, key, default))
    defaults = AugmentConfig()
    value = lambda key: get(key, getattr(defaults, key))  # noqa: E731
    _, h, w = (int(v) for v in input_shape)
    size = f"{h}x{w} images"
    out = []
    transforms = [str(t).lower() for t in get("transforms", []) or []]
    if "crop" in transforms:
        pad = int(value("crop_padding"))
        loss = mean_shift_loss(pad, h, w)
        if loss > TOO_MUCH:
            fix = _largest(pad, lambda v: mean_shift_loss(v, h, w))
            out.append(f"augment.crop_padding {pad} on {size} shifts {loss:.0%} of each image out of view "
                       f"on average ({value('crop_fill')} fill); use --augment.crop_padding {fix} "
                       f"({mean_shift_loss(fix, h, w):.0%})")
    if "cutout" in transforms:
        side = int(value("cutout_size"))
        share = mean_cutout_share(side, h, w)
        if share > TOO_MUCH:
            fix = max(1, _largest(side, lambda v: mean_cutout_share(v, h, w)))
            out.append(f"augment.cutout_size {side} on {size} hides {share:.0%} of each image on average "
                       f"(up to {min(side, h) * min(side, w) / (h * w):.0%}); use --augment.cutout_size {fix} "
                       f"({mean_cutout_share(fix, h, w):.0%})")
    return out


def augmented_batch(x: torch.Tensor, y: torch.Tensor, pipeline: BatchTransform,
                    generator: torch.Generator, views: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1 + views, C, H, W) images and their (N, 1 + views) labels or (N, 1 + views, K)
    soft targets: each image, then ``views`` draws of the pipeline (one batched call)."""
    n = len(x)
    repeated = x.repeat_interleave(views, 0)
    out, targets = pipeline(repeated, y.repeat_interleave(views, 0), generator)
    images = torch.cat([x.unsqueeze(1), out.view(n, views, *x.shape[1:])], 1)
    if targets.dim() == 2 and y.dim() == 1:  # mixup/cutmix: the originals as one-hot rows
        first = torch.nn.functional.one_hot(y.long(), targets.shape[1]).to(targets.dtype)
        return images, torch.cat([first.unsqueeze(1), targets.view(n, views, -1)], 1)
    return images, torch.cat([y.unsqueeze(1), targets.view(n, views, *targets.shape[1:])], 1)


def augmented_views(x: torch.Tensor, y: torch.Tensor, pipeline: BatchTransform,
                    generator: torch.Generator, views: int) -> torch.Tensor:
    """(N, 1 + views, C, H, W): each image, then ``views`` draws of the pipeline (one batched call)."""
    return augmented_batch(x, y, pipeline, generator, views)[0]


def label_text(target: torch.Tensor, names: list[str]) -> str:
    """A tile's label: the class name, or for a soft target the classes that make it up
    with their shares in brackets ("cat (62%) + dog (38%)"), so digits read apart from shares."""
    name = lambda i: names[i] if 0 <= i < len(names) else str(i)  # noqa: E731
    if target.dim() == 0:
        return name(int(target))
    shares = [(float(v), i) for i, v in enumerate(target.tolist()) if v >= 0.005]
    shares.sort(reverse=True)
    if len(shares) == 1:
        return name(shares[0][1])
    return " + ".join(f"{name(i)} ({v:.0%})" for v, i in shares[:2])


def grid_image(tiles: torch.Tensor, min_tile: int = 64, labels: Optional[list[list[str]]] = None,
               warnings: Sequence[str] = ()) -> "Image.Image":
    """A PIL image from (rows, cols, C, H, W) values in [0, 1]; C = 1 (gray) or 3 (RGB).
    ``labels[r][c]`` is written under tile (r, c) (each column as wide as its widest
    label); ``warnings`` are written above the grid, one per line."""
    from PIL import Image, ImageDraw, ImageFont  # imported where used: `import netcoach` stays cheap

    rows, cols, c, h, w = tiles.shape
    zoom = max(1, -(-min_tile // max(h, w)))  # integer upscaling keeps pixels sharp
    th, tw = h * zoom, w * zoom
    font = ImageFont.load_default(size=LABEL_PX)
    label_h = LABEL_PX + 8 if labels else 0
    widest = max((font.getlength(t) for row in labels or [] for t in row), default=0)
    cell_w = max(tw, int(widest) + 14)  # labels of neighbouring columns stay apart
    top = len(warnings) * (LABEL_PX + 6) + (6 if warnings else 0)
    width = max(cols * (cell_w + GAP) + GAP, max((int(font.getlength(t)) + 12 for t in warnings), default=0))
    canvas = np.full((top + rows * (th + label_h + GAP) + GAP, width, 3), 255, dtype=np.uint8)
    pixels = (tiles.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels[:, :, :3] if c >= 3 else pixels[:, :, :1].expand(-1, -1, 3, -1, -1)
    pixels = pixels.repeat_interleave(zoom, 3).repeat_interleave(zoom, 4).permute(0, 1, 3, 4, 2).numpy()
    for r in range(rows):
        for col in range(cols):
            y0, x0 = top + GAP + r * (th + label_h + GAP), GAP + col * (cell_w + GAP) + (cell_w - tw) // 2
            canvas[y0:y0 + th, x0:x0 + tw] = pixels[r, col]
    image = Image.fromarray(canvas)
    if labels or warnings:
        draw = ImageDraw.Draw(image)
        for i, text in enumerate(warnings):
            draw.text((6, 4 + i * (LABEL_PX + 6)), text, fill="#b42318", font=font)
        for r, row in enumerate(labels or []):
            for col, text in enumerate(row[:cols]):
                x = GAP + col * (cell_w + GAP) + cell_w / 2
                y = top + GAP + r * (th + label_h + GAP) + th + 3
                draw.text((x, y), text, fill="black", font=font, anchor="ma")
    return image


def preview_png(bundle: DataBundle, augment_cfg, seed: int = 0, samples: int = 8, views: int = 7,
                pipeline: Optional[BatchTransform] = None) -> bytes:
    """PNG bytes of ``samples`` training images (evenly spaced through the split) and
    ``views`` augmented draws of each, labelled, with ``augment_warnings`` above them.

    Raises:
        ValueError: no transform is configured, or the data are not images.
    """
    if pipeline is None:
        pipeline = build_augment(augment_cfg, num_classes=bundle.num_classes)
    if pipeline is None:
        raise ValueError("augment.transforms is empty, so there is nothing to preview; "
                         "e.g. --augment.transforms hflip,crop")
    split = bundle.train
    if split.x.dim() != 4:
        raise ValueError(f"augment preview needs image data (N, C, H, W), got shape {tuple(split.x.shape)}")
    # evenly spaced through the split: splits are often ordered by class
    pick = torch.linspace(0, len(split) - 1, min(samples, len(split))).round().long().to(split.x.device)
    x = split.x[pick].float() / bundle.scale
    tiles, targets = augmented_batch(x, split.y[pick], pipeline, make_generator(seed, salt=PREVIEW_SALT), views)
    names = [str(n) for n in (bundle.class_names or [])]
    labels = None
    if split.y.dim() == 1 and not split.y.is_floating_point():  # class labels (not regression values)
        labels = [[label_text(t, names) for t in row] for row in targets.cpu()]
    warnings = [f"warning: {w}" for w in augment_warnings(augment_cfg, tuple(split.x.shape[1:]))]
    buffer = io.BytesIO()
    grid_image(tiles, labels=labels, warnings=warnings).save(buffer, format="PNG")
    return buffer.getvalue()


def write_preview(path: str | Path, bundle: DataBundle, augment_cfg, seed: int = 0, samples: int = 8,
                  views: int = 7) -> Path:
    """Write ``preview_png`` to ``path`` atomically; returns the path."""
    path = Path(path)
    atomic_write_bytes(path, preview_png(bundle, augment_cfg, seed, samples, views))
    return path
