"""The doctor: read a run's whole learning curve, its preflight findings and its config,
and name what went wrong, ranked, with evidence (epochs, values) and the course's remedies.

Verdicts, in the order they are ranked (the first is the headline):

- bad_init: preflight FAILed on the initial loss or on dead/saturated units at init. The
  curve of such a run is a consequence of the init, so no learning-rate verdict is drawn
  from it (a loss far above chance is not a sign of a too-high learning rate here).
- data_leakage: preflight found samples shared between train and val/test, or an initial
  loss far below chance (labels in the inputs).
- diverging: a loss became NaN/inf (or the NaN guard stopped the run: ``summary["failure"]``),
  or the training loss ended above where it started.
- too_few_epochs: fewer than ``MIN_EPOCHS`` epochs: no trend can be read, so no curve
  verdict other than diverging is drawn.
- lr_too_high: the training loss never got below chance level (the task's expected
  initial loss, ln K for classification), or overshot far above it in the first epoch and
  never got clearly below it after, or the loss oscillates (rises in many epochs).
- overfitting: the validation loss reached its minimum at epoch e* and was, in the last two
  epochs, clearly above it (``VAL_RISE``, or ``VAL_RISE_FITTING`` while the training loss
  kept falling: "training cost falls, validation cost does not") and the training loss did not
  rise. This reads val_loss whatever metric selected the best checkpoint. Or: a large
  train-val accuracy gap with a suspiciously high train accuracy.
- lr_too_low: the training loss falls slowly and nearly linearly (the second half of the
  run removes at least half as much loss as the first) and is still high.
- underfitting: training loss high (> chance / 2, or train accuracy < 80%) with a small
  train-val gap ("small gap => make the model more complex").
- plateau: neither loss improved by more than 1% over the last third of the run.
- healthy: none of the above.

The accuracy-based parts read the task's primary metric when the task says it is
accuracy-like (``task.accuracy_like``); other tasks are judged on the losses alone. The
evidence names the loss as the task does (``task.loss_text``: "training loss", or
"training reconstruction error" for an autoencoder), and a task whose targets are its inputs
gets no "labels in the inputs" verdict from a low initial loss.
Remedies come from ``diagnose/remedies.py`` and leave out what the config already does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from netcoach.config import Config
from netcoach.diagnose.remedies import remedies
from netcoach.tasks import Task, build_task

RANK = ("bad_init", "data_leakage", "diverging", "too_few_epochs", "lr_too_high", "overfitting",
        "lr_too_low", "underfitting", "plateau", "healthy")
REMEDIES = {label: remedies(label) for label in RANK}  # the generic advice, without a config

MIN_EPOCHS = 3         # below this no trend can be read from the curves
VAL_RISE = 0.10        # val loss this fraction above its minimum after it => it turned
VAL_RISE_ABS = 0.01    # ... and by at least this much in absolute terms (noise on tiny losses)
VAL_RISE_FITTING = 0.05  # ... or this fraction while the train loss fell below TRAIN_FALL of its value
TRAIN_FALL = 0.7
TRAIN_UP = 1.10        # train loss above this factor of its value at the turn: not overfitting
ACC_GAP = 0.15         # train-val accuracy gap that counts as large
HIGH_ACC = 0.80        # below this train accuracy the model is not fitting the data
SMALL_GAP = 0.25       # val error/loss at most 25% above train error/loss counts as a small gap
PLATEAU_GAIN = 0.01    # relative improvement that counts as progress
BAD_INIT_CHECKS = ("initial_loss", "init_units")
EXPLODED = 2.0        # a first-epoch train loss above this multiple of chance: the steps overshot
NEAR_CHANCE = 0.9     # ... and a best train loss above this fraction of chance: it never recovered
LEAK_RATIO = 0.5       # an initial loss below this fraction of chance: labels in the inputs


@dataclass(frozen=True)
class Words:
    """How the verdicts name the loss (``task.loss_text``)."""

    loss: str = "loss"

    @property
    def train(self) -> str:
        return f"training {self.loss}"

    @property
    def val(self) -> str:
        return f"validation {self.loss}"

    @property
    def both(self) -> str:
        return "both losses" if self.loss == "loss" else f"both {self.loss}s"


LOSS = Words()


def finding(label: str, evidence: str, epochs: list[int], config: Optional[Config] = None,
            **values) -> dict:
    """One diagnosis (the summary["doctor"] contract): ``values`` are the numbers the
    evidence quotes, for a reader or a test that wants them without parsing text."""
    return {"label": label, "evidence": evidence, "epochs": [int(e) for e in epochs],
            "values": {k: _plain(v) for k, v in values.items()}, "remedies": remedies(label, config)}


def _plain(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


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


# ------------------------------------------------------------------------- preflight-based

def bad_init(checks: list[dict], tl: list[float], config, w: Words = LOSS) -> Optional[dict]:
    failed = [c for c in checks if c.get("check") in BAD_INIT_CHECKS and c.get("status") == "fail"]
    if not failed:
        return None
    reasons = "; ".join(f"{c['check']}: {c.get('reason', '')}" for c in failed)
    start = f" The {w.train} started the run at {tl[0]:.4g}." if tl else ""
    return finding("bad_init", f"preflight FAILed before training — {reasons}.{start} The learning "
                   "curve follows from the init, so it is not read as a learning-rate problem",
                   [1] if tl else [], config, failed_checks=[c["check"] for c in failed])


def data_leakage(checks: list[dict], config, targets_are_inputs: bool = False) -> Optional[dict]:
    for c in checks:
        details = c.get("details", {})
        if c.get("check") == "data_leakage" and c.get("status") in ("warn", "fail"):
            return finding("data_leakage", f"preflight: {c.get('reason', '')}", [], config,
                           val_in_train=details.get("val_in_train"),
                           test_in_train=details.get("test_in_train"))
        if (c.get("check") == "initial_loss" and c.get("status") != "fail" and not targets_are_inputs
                and details.get("ratio", 1.0) < LEAK_RATIO):
            return finding("data_leakage", f"preflight: initial loss {details['measured']:.3f} is "
                           f"below half of chance ({details['expected']:.3f}) before any training: "
                           "the inputs seem to carry the labels", [], config,
                           initial_loss=details["measured"], chance=details["expected"])
    return None


# ----------------------------------------------------------------------------- curve-based

def diverging(ep, tl, vl, config, w: Words = LOSS) -> Optional[dict]:
    for i, (t, v) in enumerate(zip(tl, vl)):
        if not (math.isfinite(t) and math.isfinite(v)):
            bad = t if not math.isfinite(t) else v
            return finding("diverging", f"{w.loss} became {bad} at epoch {ep[i]}", [ep[i]], config,
                           epoch=ep[i])
    if len(tl) >= 2 and tl[-1] > 1.1 * tl[0]:
        return finding("diverging", f"{w.train} rose from {tl[0]:.4g} (epoch {ep[0]}) to "
                       f"{tl[-1]:.4g} (epoch {ep[-1]})", [ep[0], ep[-1]], config,
                       first=tl[0], last=tl[-1])
    return None


def stopped_by_guard(summary: dict, config) -> Optional[dict]:
    """The NaN guard stopped the run: its epochs may all be finite, the step that was not is
    the evidence."""
    failure = summary.get("failure")
    if not failure:
        return None
    return finding("diverging", f"training stopped: {failure}", [int(summary.get("epochs_run") or 0) + 1],
                   config)


def lr_too_high(ep, tl, lnk, chance, config, w: Words = LOSS) -> Optional[dict]:
    if lnk is not None and tl[0] > EXPLODED * lnk and min(tl) > NEAR_CHANCE * lnk:
        best = tl.index(min(tl))
        return finding("lr_too_high", f"{w.train} overshot to {tl[0]:.4g} in epoch {ep[0]} ({chance} "
                       f"= {lnk:.3f}) and never got clearly below chance since (best {min(tl):.4g} at "
                       f"epoch {ep[best]})", [ep[0], ep[best]], config, first_train_loss=tl[0],
                       best_train_loss=min(tl), chance=lnk)
    if lnk is not None and min(tl) > 1.05 * lnk:
        best = tl.index(min(tl))
        return finding("lr_too_high", f"{w.train} never got below {chance} = {lnk:.3f} "
                       f"(best {min(tl):.4g} at epoch {ep[best]}): the steps overshoot", [ep[best]],
                       config, best_train_loss=min(tl), chance=lnk)
    diffs = [b - a for a, b in zip(tl, tl[1:])]
    ups = [i + 1 for i, d in enumerate(diffs) if d > 0.1 * tl[i]]
    if len(diffs) >= 4 and len(ups) >= 0.4 * len(diffs):
        return finding("lr_too_high", f"{w.train} oscillates: it rose by >10% in {len(ups)} of "
                       f"{len(diffs)} epochs (epochs {', '.join(str(ep[i]) for i in ups)})",
                       [ep[i] for i in ups], config, rises=len(ups))
    return None


def overfitting(ep, tl, vl, ta, va, config, w: Words = LOSS) -> Optional[dict]:
    turn = vl.index(min(vl))
    after = vl[turn + 1:]
    gap = f"; train-val accuracy gap {ta[-1] - va[-1]:.1%}" if ta and va else ""
    # one epoch up is noise; the last two epochs above the minimum are a trend
    lately = min(after[-2:]) if len(after) >= 2 else vl[turn]
    rose = lately > vl[turn] + max(VAL_RISE * vl[turn], VAL_RISE_ABS)
    rose_while_fitting = (lately > vl[turn] * (1 + VAL_RISE_FITTING) + VAL_RISE_ABS / 2
                          and tl[-1] < TRAIN_FALL * tl[turn])
    if (rose or rose_while_fitting) and tl[-1] <= TRAIN_UP * tl[turn]:
        peak = turn + 1 + after.index(max(after))
        return finding("overfitting", f"{w.val} turned at epoch {ep[turn]} (its "
                       f"minimum {vl[turn]:.4f}) and rose to {vl[-1]:.4f} by epoch {ep[-1]} "
                       f"(+{(vl[-1] - vl[turn]) / vl[turn]:.0%}, peak {vl[peak]:.4f} at epoch {ep[peak]}) "
                       f"while {w.train} went from {tl[turn]:.4f} to {tl[-1]:.4f}{gap}",
                       [ep[turn], ep[-1]], config, best_epoch=ep[turn], best_val_loss=vl[turn],
                       last_val_loss=vl[-1], train_loss_at_best=tl[turn], last_train_loss=tl[-1])
    if ta and va and ta[-1] - va[-1] > ACC_GAP and ta[-1] > 0.95:
        return finding("overfitting", f"train accuracy {ta[-1]:.1%} vs validation {va[-1]:.1%} at "
                       f"epoch {ep[-1]}: a large gap with suspiciously high train accuracy", [ep[-1]],
                       config, train_acc=ta[-1], val_acc=va[-1])
    return None


def _high(tl, ta, lnk) -> bool:
    if lnk is not None and tl[-1] > 0.5 * lnk:
        return True
    return bool(ta) and ta[-1] < HIGH_ACC


def lr_too_low(ep, tl, ta, lnk, config, w: Words = LOSS) -> Optional[dict]:
    if len(tl) < 4 or not _high(tl, ta, lnk):
        return None
    mid = len(tl) // 2
    first, second = tl[0] - tl[mid], tl[mid] - tl[-1]
    falling = sum(b < a for a, b in zip(tl, tl[1:])) >= 0.8 * (len(tl) - 1)
    if falling and second > 0 and second >= 0.5 * first and tl[-1] > 0.5 * tl[0]:
        return finding("lr_too_low", f"{w.train} falls slowly and steadily: {tl[0]:.3f} -> "
                       f"{tl[mid]:.3f} -> {tl[-1]:.3f} (epochs {ep[0]}, {ep[mid]}, {ep[-1]}); the second "
                       "half removed as much as the first and it is still high", [ep[0], ep[-1]],
                       config, first=tl[0], middle=tl[mid], last=tl[-1])
    return None


def underfitting(ep, tl, vl, ta, va, lnk, chance, config, w: Words = LOSS) -> Optional[dict]:
    if not _high(tl, ta, lnk):
        return None
    # Small gap, relative to the level: validation error at most 25% above training error.
    small_err_gap = not (ta and va) or (1 - va[-1]) <= (1 + SMALL_GAP) * (1 - ta[-1])
    if small_err_gap and vl[-1] <= (1 + SMALL_GAP) * tl[-1]:
        level = f"train accuracy {ta[-1]:.1%}, validation {va[-1]:.1%}; " if ta and va else ""
        ref = f" ({chance} = {lnk:.3f})" if lnk else ""
        return finding("underfitting", f"{w.both} stay high at epoch {ep[-1]}: train "
                       f"{tl[-1]:.3f}, validation {vl[-1]:.3f}{ref}; {level}the gap is small, so the "
                       "model lacks capacity rather than data", [ep[-1]], config,
                       train_loss=tl[-1], val_loss=vl[-1])
    return None


def plateau(ep, tl, vl, config, w: Words = LOSS) -> Optional[dict]:
    n = len(vl)
    p = max(3, n // 3)
    if n < p + 3:
        return None
    before_v, before_t = min(vl[:-p]), min(tl[:-p])
    stalled_v = min(vl[-p:]) > before_v * (1 - PLATEAU_GAIN)
    stalled_t = min(tl[-p:]) > before_t * (1 - PLATEAU_GAIN) - 1e-3
    if stalled_v and stalled_t:
        return finding("plateau", f"no progress over the last {p} epochs ({ep[-p]}..{ep[-1]}): best "
                       f"{w.val} {before_v:.4f} before, {min(vl[-p:]):.4f} since; {w.train} "
                       f"{before_t:.4f} before, {min(tl[-p:]):.4f} since", [ep[-p], ep[-1]], config)
    return None


def too_few_epochs(ep, tl, vl, config, w: Words = LOSS) -> dict:
    n = len(ep)
    return finding("too_few_epochs", f"only {n} epoch{'s' if n != 1 else ''} (last: {w.train} "
                   f"{tl[-1]:.4f}, {w.val} {vl[-1]:.4f}): at least {MIN_EPOCHS} are needed to "
                   "read a trend from the learning curves", [ep[-1]], config, epochs_run=n)


def healthy(ep, vl, ta, va, config, w: Words = LOSS) -> dict:
    best = vl.index(min(vl))
    acc = f", final train/validation accuracy {ta[-1]:.1%}/{va[-1]:.1%}" if ta and va else ""
    after = ("and was still falling at the last epoch" if best == len(vl) - 1 else
             f"and stayed within {max(vl[best:]) / vl[best] - 1:.0%} of it up to epoch {ep[-1]}")
    return finding("healthy", f"{w.val} fell from {vl[0]:.4f} (epoch {ep[0]}) to "
                   f"{min(vl):.4f} (epoch {ep[best]}) {after}{acc}", [ep[best]], config,
                   first_val_loss=vl[0], best_val_loss=min(vl), best_epoch=ep[best])


def curve_findings(ep, tl, vl, ta, va, lnk, chance, config, init_failed: bool,
                   w: Words = LOSS) -> list[dict]:
    """The verdicts read from the curves alone (the preflight-based ones come first)."""
    broke = diverging(ep, tl, vl, config, w)
    if broke and (not init_failed or "became" in broke["evidence"]):
        return [broke]  # every other reading of a diverged curve is an artefact of it
    if init_failed:
        return []  # a curve from a broken init says nothing about the learning rate or capacity
    if len(ep) < MIN_EPOCHS:
        return [too_few_epochs(ep, tl, vl, config, w)]
    high = lr_too_high(ep, tl, lnk, chance, config, w)
    if high:
        return [high]
    found = [f for f in (overfitting(ep, tl, vl, ta, va, config, w), lr_too_low(ep, tl, ta, lnk, config, w))
             if f]
    if not found:
        found += [f for f in (underfitting(ep, tl, vl, ta, va, lnk, chance, config, w),) if f]
    if not any(f["label"] in ("overfitting", "lr_too_low") for f in found):  # those explain a stall
        found += [f for f in (plateau(ep, tl, vl, config, w),) if f]
    return found


def diagnose_history(history: list[dict], summary: dict, config: Optional[Config] = None) -> list[dict]:
    """All findings for one run, most important first (``healthy`` when nothing is wrong).

    ``summary`` gives the preflight records (``summary["preflight"]``) and, without them, the
    class count for chance level; ``config`` the task and the settings the remedies respect.
    """
    ep = [int(h.get("epoch", i + 1)) for i, h in enumerate(history)]
    tl, vl = _series(history, "train_loss"), _series(history, "val_loss")
    guard = stopped_by_guard(summary, config)
    if not history or tl is None or vl is None:
        return [guard] if guard else []
    task = build_task(config.task, config.loss) if config is not None else build_task("classification")
    metric = task.primary_metric if task.accuracy_like else None
    ta = _series(history, f"train_{metric}") if metric else None
    va = _series(history, f"val_{metric}") if metric else None
    lnk = chance_loss(summary, task)
    checks = summary.get("preflight") or []
    w = Words(task.loss_text)
    init = bad_init(checks, tl, config, w)
    leak = data_leakage(checks, config, task.targets_are_inputs)
    found = [f for f in (init, leak) if f]
    found += curve_findings(ep, tl, vl, ta, va, lnk, task.chance_text, config, init is not None, w)
    if guard and not any(f["label"] == "diverging" for f in found):
        found.insert(0, guard)
    if not found:
        found = [healthy(ep, vl, ta, va, config, w)]
    return sorted(found, key=lambda f: RANK.index(f["label"]))
