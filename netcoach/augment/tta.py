"""Test-time augmentation (TTA): average predicted probabilities over several views.

The course lists TTA next to training augmentation ("м.б. test time-аугментация");
here the views are the image itself plus, as configured by ``augment.tta_views``,
its mirror images and small shifts. Views are made in [0, 1] units before the
loader's normalization, the same space the training transforms work in, and a
shift fills the uncovered border as the training translation does
(``augment.translate_fill``), so a view looks like what the model was trained on.
"""

from __future__ import annotations

from typing import Callable

import torch

from netcoach.augment.geometric import shift
from netcoach.config.augment_rules import TTA_VIEWS
from netcoach.data.loader import DeviceLoader

View = Callable[[torch.Tensor], torch.Tensor]


# the moves (dy, dx) of each kind of shift view, by name, for a step of one pixel
MOVES = {"shift": (("down", 1, 0), ("up", -1, 0), ("right", 0, 1), ("left", 0, -1)),
         "diagonal": (("down_right", 1, 1), ("up_left", -1, -1))}  # airbench's tta_level 2 moves


def _shifts(kind: str, step: int, mirror: bool, fill: str) -> list[tuple[str, View]]:
    """The moves of ``kind`` by ``step`` pixels, of the image or its mirror, the border
    filled with zeros or mirrored (``fill``, as ``geometric.shift``)."""
    out = []
    for name, dy, dx in MOVES[kind]:
        def view(x, dy=dy * step, dx=dx * step):
            x = x.flip(-1) if mirror else x
            n = len(x)
            return shift(x, torch.full((n,), dy, device=x.device), torch.full((n,), dx, device=x.device), fill)
        out.append((("hflip_" if mirror else "") + f"{kind}_{name}", view))
    return out


def tta_views(names: list[str], step: int = 2, fill: str = "zero") -> list[tuple[str, View]]:
    """Named views: always ``identity``, then each configured one (``fill``: the border of
    a shift, "zero" or "reflect"). ``shift`` moves the image by ``step`` pixels down, up,
    right and left; ``diagonal`` down-right and up-left; ``hflip_`` does the same to the mirror.

    Example:
        >>> [name for name, _ in tta_views(["hflip", "diagonal"], step=1)]
        ['identity', 'hflip', 'diagonal_down_right', 'diagonal_up_left']
    """
    views: list[tuple[str, View]] = [("identity", lambda x: x)]
    for name in names:
        kind = name.removeprefix("hflip_")
        if name == "hflip":
            views.append(("hflip", lambda x: x.flip(-1)))
        elif name == "vflip":
            views.append(("vflip", lambda x: x.flip(-2)))
        elif kind in MOVES:
            if step > 0:
                views += _shifts(kind, step, mirror=name != kind, fill=fill)
        else:
            raise ValueError(f"augment.tta_views: unknown view {name!r}; valid: {', '.join(TTA_VIEWS)}")
    return views


def config_views(augment) -> list[tuple[str, View]]:
    """The views an ``[augment]`` config asks for: its ``tta_views``, ``tta_shift`` pixels,
    shifts filled as its training translation (``translate_fill``)."""
    return tta_views(list(augment.tta_views), augment.tta_shift, augment.translate_fill)


@torch.no_grad()
def predict_tta(model: torch.nn.Module, loader: DeviceLoader, views: list[tuple[str, View]],
                postprocess: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Mean of the task's predictions (``task.postprocess``: softmax probabilities for
    classification) over ``views`` for every sample of ``loader``, on CPU."""
    split = loader.split
    if split.x.dim() != 4:
        raise ValueError(f"augment.tta needs image inputs (N, C, H, W), got shape {tuple(split.x.shape)}; "
                         "set augment.tta = false for this data")
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(split), loader.batch_size):
        x = loader.prepare(split.x[start:start + loader.batch_size])
        probs = sum(postprocess(model(loader.normalize(view(x))).float()) for _, view in views)
        out.append((probs / len(views)).cpu())
    model.train(was_training)
    return torch.cat(out)


def tta_metrics(trainer, loader: DeviceLoader, prefix: str = "test") -> dict:
    """``{prefix}_loss_tta`` and ``{prefix}_<metric>_tta`` when ``augment.tta`` is on, else {}.

    The averaged predictions go back through the task's loss and metrics via
    ``task.outputs_from_predictions`` (for classification log-probabilities act as
    logits: softmax(log p) = p), so the numbers are comparable with the plain ones.
    """
    config = getattr(trainer, "config", None)
    if config is None or not config.augment.tta:
        return {}
    task = trainer.task
    preds = predict_tta(trainer.model, loader, config_views(config.augment), task.postprocess)
    labels = loader.split.y.cpu()
    outputs = task.outputs_from_predictions(preds.double())
    n = max(len(labels), 1)
    sums = task.metric_sums(outputs, labels)
    return {f"{prefix}_loss_tta": task.loss(outputs, labels).item(),
            **{f"{prefix}_{k}_tta": float(v) / n for k, v in sums.items()}}
