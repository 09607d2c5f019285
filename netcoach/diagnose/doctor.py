"""The doctor: read the learning curves and name what went wrong, with the course's remedies.

Rules (each a small function over the per-epoch history; thresholds are module constants):

- lr_too_high: a loss became NaN/inf; the training loss ended higher than it started;
  it never got below chance level (the task's expected initial loss, ln K for
  classification); or it oscillates (many epochs where it rises).
- overfitting: the validation loss reached its minimum at epoch e* and then, for two or
  more epochs, rose by more than 5% while the training loss kept falling (by 30%+) ("training cost falls, validation cost
  does not"), or a large train-val accuracy gap with suspiciously high train accuracy.
- lr_too_low: the training loss falls slowly and nearly linearly (the second half of the
  run removes at least half as much loss as the first) and is still high.
- underfitting: training loss high (> ln K / 2, or train accuracy < 80%) with a small
  train-val gap (validation loss and error within 25% of the training ones) ("small gap => make the model more complex").

The accuracy-based parts read the task's primary metric when the task says it is
accuracy-like (``task.accuracy_like``); other tasks are judged on the losses alone.
- plateau: neither loss improved by more than 1% over the last third of the run.
- healthy: none of the above.
"""

from __future__ import annotations

import math
from typing import Optional

from netcoach.config import Config
from netcoach.tasks import Task, build_task

REMEDIES = {
    "overfitting": [
        "collect more training data",
        "augment the data (augment.transforms)",
        "increase weight decay (optim.weight_decay)",
        "add dropout (model.dropout)",
        "stop early: keep the weights of the epoch where validation loss turned (the best checkpoint does)",
        "use a smaller model or a pretrained network (transfer learning)",
    ],
    "underfitting": [
        "use a bigger model (model.width, model.depth) or a better-suited architecture (a CNN for images)",
        "train longer (train.epochs)",
        "reduce regularization (optim.weight_decay, model.dropout)",
        "re-tune the learning rate (LR finder)",
    ],
    "lr_too_high": [
        "lower the learning rate (e.g. 10x; Adam with 3e-4 is a safe start)",
        "find it with the LR finder",
        "add warm-up or gradient clipping",
        "check the initial loss and the input normalization (netcoach check)",
    ],
    "lr_too_low": [
        "raise the learning rate (3-10x) or find it with the LR finder",
        "use Adam (3e-4 .. 1e-3) or SGD with momentum",
        "train longer (train.epochs)",
    ],
    "plateau": [
        "decay the learning rate (step/cosine schedule or reduce-on-plateau)",
        "stop early: more epochs at this learning rate do not help",
        "if the plateau is too high: a bigger model or less regularization",
    ],
    "healthy": ["nothing urgent; next: learning-rate decay, then a hyperparameter search for the last points"],
}

VAL_RISE = 0.05        # val loss above its minimum by this fraction => it turned ...
TRAIN_FALL = 0.7       # ... while train loss fell below this fraction of its value at the turn
ACC_GAP = 0.15         # train-val accuracy gap that counts as large
HIGH_ACC = 0.80        # below this train accuracy the model is not fitting the data
SMALL_GAP = 0.25       # val error/loss at most 25% above train error/loss counts as a small gap
PLATEAU_GAIN = 0.01    # relative improvement that counts as progress


def finding(label: str, evidence: str, epochs: list[int]) -> dict:
    """One diagnosis (the summary["doctor"] contract)."""
    return {"label": label, "evidence": evidence, "epochs": [int(e) for e in epochs],
            "remedies": list(REMEDIES[label])}


def _series(history: list[dict], key: str) -> Optional[list[float]]:
    values = [h.get(key) for h in history]
    if any(v is None for v in values):
        return None
    return [float(v) for v in values]


def chance_loss(summary: dict, task: Optional[Task] = None) -> Optional[float]:
    """The task's expected initial loss, from the preflight's initial-loss record, or
    computed from ``summary["num_classes"]`` (ln K for classification)."""
    for check in summary.get("preflight") or []:
        if check.get("check") == "initial_loss" and "expected" in check.get("details", {}):
            return float(check["details"]["expected"])
    k = summary.get("num_classes")
    task = task or build_task("classification")
    return task.expected_initial_loss(k) if k and k > 1 else None


def lr_too_high(ep: list[int], tl: list[float], vl: list[float], lnk: Optional[float],
                chance: str = "chance level ln K") -> Optional[dict]:
    for i, (t, v) in enumerate(zip(tl, vl)):
        if not (math.isfinite(t) and math.isfinite(v)):
            return finding("lr_too_high", f"loss became {t if not math.isfinite(t) else v} at epoch "
                           f"{ep[i]} (divergence)", [ep[i]])
    if len(tl) >= 2 and tl[-1] > 1.1 * tl[0]:
        return finding("lr_too_high", f"training loss rose from {tl[0]:.3g} (epoch {ep[0]}) to "
                       f"{tl[-1]:.3g} (epoch {ep[-1]}): divergence", [ep[0], ep[-1]])
    if lnk is not None and min(tl) > 1.05 * lnk:
        best = tl.index(min(tl))
        return finding("lr_too_high", f"training loss never got below {chance} = {lnk:.3f} "
                       f"(best {min(tl):.3g} at epoch {ep[best]}): the steps overshoot", [ep[best]])
    diffs = [b - a for a, b in zip(tl, tl[1:])]
    ups = [i + 1 for i, d in enumerate(diffs) if d > 0.1 * tl[i]]
    if len(diffs) >= 4 and len(ups) >= 0.4 * len(diffs):
        return finding("lr_too_high", f"training loss oscillates: it rose by >10% in {len(ups)} of "
                       f"{len(diffs)} epochs", [ep[i] for i in ups])
    return None


def overfitting(ep, tl, vl, ta, va) -> Optional[dict]:
    if len(vl) < 3:
        return None
    turn = vl.index(min(vl))
    rise = vl[-1] - vl[turn]
    gap = f"; train-val accuracy gap {ta[-1] - va[-1]:.1%}" if ta and va else ""
    after = len(vl) - 1 - turn  # epochs since the turn: one epoch up is noise, a trend is not
    if after >= 2 and rise > max(VAL_RISE * vl[turn], 0.01) and tl[-1] < TRAIN_FALL * tl[turn]:
        return finding("overfitting", f"validation loss turned at epoch {ep[turn]} (minimum "
                       f"{vl[turn]:.4f}) and rose to {vl[-1]:.4f} by epoch {ep[-1]} "
                       f"(+{rise / vl[turn]:.0%}) while training loss fell from {tl[turn]:.4f} to "
                       f"{tl[-1]:.4f}{gap}", [ep[turn], ep[-1]])
    if ta and va and ta[-1] - va[-1] > ACC_GAP and ta[-1] > 0.95:
        return finding("overfitting", f"train accuracy {ta[-1]:.1%} vs validation {va[-1]:.1%} at "
                       f"epoch {ep[-1]}: a large gap with suspiciously high train accuracy", [ep[-1]])
    return None


def _high(tl, ta, lnk) -> bool:
    if lnk is not None and tl[-1] > 0.5 * lnk:
        return True
    return bool(ta) and ta[-1] < HIGH_ACC


def lr_too_low(ep, tl, ta, lnk) -> Optional[dict]:
    if len(tl) < 4 or not _high(tl, ta, lnk):
        return None
    mid = len(tl) // 2
    first, second = tl[0] - tl[mid], tl[mid] - tl[-1]
    falling = sum(b < a for a, b in zip(tl, tl[1:])) >= 0.8 * (len(tl) - 1)
    if falling and second > 0 and second >= 0.5 * first and tl[-1] > 0.5 * tl[0]:
        return finding("lr_too_low", f"training loss falls slowly and steadily: {tl[0]:.3f} -> "
                       f"{tl[mid]:.3f} -> {tl[-1]:.3f} (epochs {ep[0]}, {ep[mid]}, {ep[-1]}); the second "
                       "half removed as much as the first and it is still high", [ep[0], ep[-1]])
    return None


def underfitting(ep, tl, vl, ta, va, lnk, chance: str = "chance level ln K") -> Optional[dict]:
    if not _high(tl, ta, lnk):
        return None
    # Small gap, relative to the level: validation error at most 25% above training error.
    small_err_gap = not (ta and va) or (1 - va[-1]) <= (1 + SMALL_GAP) * (1 - ta[-1])
    if small_err_gap and vl[-1] <= (1 + SMALL_GAP) * tl[-1]:
        level = f"train accuracy {ta[-1]:.1%}, validation {va[-1]:.1%}; " if ta and va else ""
        ref = f" ({chance} = {lnk:.3f})" if lnk else ""
        return finding("underfitting", f"both losses stay high at epoch {ep[-1]}: train "
                       f"{tl[-1]:.3f}, validation {vl[-1]:.3f}{ref}; {level}the gap is small, so the "
                       "model lacks capacity rather than data", [ep[-1]])
    return None


def plateau(ep, tl, vl) -> Optional[dict]:
    n = len(vl)
    p = max(3, n // 3)
    if n < p + 3:
        return None
    before_v, before_t = min(vl[:-p]), min(tl[:-p])
    stalled_v = min(vl[-p:]) > before_v * (1 - PLATEAU_GAIN)
    stalled_t = min(tl[-p:]) > before_t * (1 - PLATEAU_GAIN) - 1e-3
    if stalled_v and stalled_t:
        return finding("plateau", f"no progress over the last {p} epochs ({ep[-p]}..{ep[-1]}): best "
                       f"validation loss {before_v:.4f} before, {min(vl[-p:]):.4f} since; training loss "
                       f"{before_t:.4f} before, {min(tl[-p:]):.4f} since", [ep[-p], ep[-1]])
    return None


def diagnose_history(history: list[dict], summary: dict, config: Optional[Config] = None) -> list[dict]:
    """All findings for one run's per-epoch history (``healthy`` when nothing is wrong)."""
    if not history:
        return []
    ep = [int(h.get("epoch", i + 1)) for i, h in enumerate(history)]
    tl, vl = _series(history, "train_loss"), _series(history, "val_loss")
    if tl is None or vl is None:
        return []
    task = build_task(config.task, config.loss) if config is not None else build_task("classification")
    metric = task.primary_metric if task.accuracy_like else None
    ta = _series(history, f"train_{metric}") if metric else None
    va = _series(history, f"val_{metric}") if metric else None
    lnk = chance_loss(summary, task)
    high = lr_too_high(ep, tl, vl, lnk, task.chance_text)
    if high:
        return [high]  # every other reading of a diverged curve is an artefact of it
    found = [f for f in (overfitting(ep, tl, vl, ta, va), lr_too_low(ep, tl, ta, lnk)) if f]
    if not found:
        found += [f for f in (underfitting(ep, tl, vl, ta, va, lnk, task.chance_text),) if f]
    if not any(f["label"] in ("overfitting", "lr_too_low") for f in found):  # those explain a stall
        found += [f for f in (plateau(ep, tl, vl),) if f]
    if found:
        return found
    best = vl.index(min(vl))
    acc = f", final train/validation accuracy {ta[-1]:.1%}/{va[-1]:.1%}" if ta and va else ""
    return [finding("healthy", f"validation loss fell from {vl[0]:.4f} to {min(vl):.4f} (epoch "
                    f"{ep[best]}) and did not turn{acc}", [ep[best]])]
