"""A PNG grid of training images under the configured pipeline: what the model sees.

Each row shows a training image unchanged in the first column, then ``views``
independent draws of the augmentation pipeline. Drawn with Pillow (no plotting
needed: the grid is pixels side by side, upscaled so that 32x32 images are
readable).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from netcoach.augment.pipeline import build_augment
from netcoach.data.base import DataBundle
from netcoach.data.loader import BatchTransform
from netcoach.utils.io import atomic_write_bytes
from netcoach.utils.runtime import make_generator

PREVIEW_SALT = 104  # generator salt of the preview: never the training augmentation's stream
GAP = 2  # pixels of white between tiles


def augmented_views(x: torch.Tensor, y: torch.Tensor, pipeline: BatchTransform,
                    generator: torch.Generator, views: int) -> torch.Tensor:
    """(N, 1 + views, C, H, W): each image, then ``views`` draws of the pipeline (one batched call)."""
    n = len(x)
    repeated = x.repeat_interleave(views, 0)
    out, _ = pipeline(repeated, y.repeat_interleave(views, 0), generator)
    return torch.cat([x.unsqueeze(1), out.view(n, views, *x.shape[1:])], 1)


def grid_image(tiles: torch.Tensor, min_tile: int = 64) -> Image.Image:
    """A PIL image from (rows, cols, C, H, W) values in [0, 1]; C = 1 (gray) or 3 (RGB)."""
    from PIL import Image  # imported where used: `import netcoach` stays cheap

    rows, cols, c, h, w = tiles.shape
    zoom = max(1, -(-min_tile // max(h, w)))  # integer upscaling keeps pixels sharp
    th, tw = h * zoom, w * zoom
    canvas = np.full((rows * (th + GAP) + GAP, cols * (tw + GAP) + GAP, 3), 255, dtype=np.uint8)
    pixels = (tiles.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels[:, :, :3] if c >= 3 else pixels[:, :, :1].expand(-1, -1, 3, -1, -1)
    pixels = pixels.repeat_interleave(zoom, 3).repeat_interleave(zoom, 4).permute(0, 1, 3, 4, 2).numpy()
    for r in range(rows):
        for col in range(cols):
            top, left = GAP + r * (th + GAP), GAP + col * (tw + GAP)
            canvas[top:top + th, left:left + tw] = pixels[r, col]
    return Image.fromarray(canvas)


def preview_png(bundle: DataBundle, augment_cfg, seed: int = 0, samples: int = 8, views: int = 7,
                pipeline: Optional[BatchTransform] = None) -> bytes:
    """PNG bytes of ``samples`` training images (evenly spaced through the split) and
    ``views`` augmented draws of each.

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
    tiles = augmented_views(x, split.y[pick], pipeline, make_generator(seed, salt=PREVIEW_SALT), views)
    buffer = io.BytesIO()
    grid_image(tiles).save(buffer, format="PNG")
    return buffer.getvalue()


def write_preview(path: str | Path, bundle: DataBundle, augment_cfg, seed: int = 0, samples: int = 8,
                  views: int = 7) -> Path:
    """Write ``preview_png`` to ``path`` atomically; returns the path."""
    path = Path(path)
    atomic_write_bytes(path, preview_png(bundle, augment_cfg, seed, samples, views))
    return path
