"""Learning-rate schedules by name, over torch.optim.lr_scheduler.

The trainer talks to one small interface, ``Schedule``: ``after_batch()`` once per
optimizer step and ``after_epoch(logs)`` once per epoch (plateau reads the
monitored metric from ``logs``). ``state_dict``/``load_state_dict`` make resuming
exact (the state is plain JSON-able data).

Formulas (lr0 = optim.lr, e = completed epochs, t = completed optimizer steps,
S = steps per epoch), each the torch scheduler named:

* constant      lr0
* step          lr0 gamma^floor(e / step_size)                        StepLR
* multistep     lr0 gamma^(milestones passed) -- the course's 50 epochs at 0.1,
                25 at 0.01, 25 at 0.001 is milestones [50, 75], gamma 0.1   MultiStepLR
* exponential   lr0 gamma^e                                           ExponentialLR
* plateau       lr *= gamma after ``patience`` epochs without improvement  ReduceLROnPlateau
* cyclic        triangular between lr0 and max_lr, half cycle H = half_cycle_epochs S steps:
                c = floor(1 + t/2H), x = |t/H - 2c + 1|, lr = lo + (hi - lo) max(0, 1 - x)   CyclicLR
* cosine_restarts  min_lr + (lr0 - min_lr)(1 + cos(pi T_cur/T_i))/2 per step, T_0 = t0_epochs S,
                T_i+1 = t_mult T_i (SGDR)                              CosineAnnealingWarmRestarts
* onecycle      up from max_lr/div_factor to max_lr over pct_start of the steps, then down
                to max_lr/div_factor/final_div_factor (torch's defaults 25 and 1e4), along a
                cosine or, with anneal_strategy linear, a straight line    OneCycleLR
                Each parameter group peaks at max_lr x its lr multiplier (``lr_mult``,
                e.g. ``optim.norm_bias_lr_mult``); without schedule.max_lr at its own lr.

Composable on top of any of them (written here: torch's SequentialLR/ChainedScheduler
cannot combine a per-step warmup with per-epoch or closed-form schedules):

* linear warmup: lr_t = lr_inner_t * min(1, (t + 1) / warmup_steps)
* grow_batch (Smith et al. 2017, "Don't decay the learning rate, increase the batch
  size"): where the schedule would scale the lr by r = lr_inner / lr0, the batch is
  set to B = min(round(B0 / r), n_train) and the lr to lr_inner B / B0 (= lr0 while
  the batch can still grow).
"""

from __future__ import annotations

from collections import Counter
from typing import Optional

from torch.optim import lr_scheduler

from netcoach.config import ScheduleConfig
from netcoach.registry import Registry

schedules: Registry = Registry("schedule")


class Schedule:
    """Steps a torch LR scheduler per batch or per epoch, with optional warmup and batch growth.

    The inner scheduler's own lr (``inner_lrs``) is kept apart from the lr the
    optimizer uses, so warmup and batch growth never disturb the inner formula.

    Args:
        scheduler: a torch scheduler, or None for a constant lr.
        per: ``"batch"`` or ``"epoch"`` -- when the scheduler steps.
        optimizer: the optimizer (default: ``scheduler.optimizer``).
        warmup_steps: linear warmup length in optimizer steps (0: none).
        monitor: plateau only -- the key of the epoch logs passed to ``scheduler.step``.
        loader: the training loader whose ``batch_size`` grow_batch changes.
        grow_batch: grow the batch instead of decaying the lr.
    """

    def __init__(self, scheduler=None, per: str = "epoch", *, optimizer=None, warmup_steps: int = 0,
                 monitor: Optional[str] = None, loader=None, grow_batch: bool = False):
        if per not in ("batch", "epoch"):
            raise ValueError(f"per must be 'batch' or 'epoch', got {per!r}")
        self.scheduler, self.per = scheduler, per
        self.optimizer = optimizer if optimizer is not None else getattr(scheduler, "optimizer", None)
        self.warmup_steps, self.monitor = int(warmup_steps), monitor
        self.loader, self.grow_batch = loader, grow_batch
        if grow_batch and (loader is None or per != "epoch"):
            raise ValueError("schedule.grow_batch needs the training loader and a per-epoch schedule "
                             "(step, multistep, exponential, plateau)")
        self.steps = 0
        self.base_batch = loader.batch_size if loader is not None else None
        groups = self.optimizer.param_groups if self.optimizer is not None else []
        self.base_lrs = [g.get("initial_lr", g["lr"]) for g in groups]
        self.inner_lrs = [g["lr"] for g in groups]
        self._apply()

    # ---------------------------------------------------------------- trainer hooks

    def after_batch(self) -> None:
        self._restore()
        if self.scheduler is not None and self.per == "batch" and not self._finished():
            self.scheduler.step()
        self.steps += 1
        self._capture()
        self._apply()

    def after_epoch(self, logs: dict) -> None:
        self._restore()
        if self.scheduler is not None and self.per == "epoch":
            if self.monitor is not None:
                if self.monitor not in logs:
                    raise ValueError(f"schedule.monitor '{self.monitor}' is not in the epoch logs; "
                                     f"available: {', '.join(sorted(logs))}")
                self.scheduler.step(logs[self.monitor])
            else:
                self.scheduler.step()
        self._capture()
        self._apply()

    # ---------------------------------------------------------------- lr bookkeeping

    def _finished(self) -> bool:
        total = getattr(self.scheduler, "total_steps", None)  # OneCycleLR raises past its end
        return total is not None and self.scheduler.last_epoch >= total - 1

    def _restore(self) -> None:
        for group, lr in zip(self._groups(), self.inner_lrs):
            group["lr"] = lr

    def _capture(self) -> None:
        self.inner_lrs = [g["lr"] for g in self._groups()]

    def _groups(self) -> list:
        return self.optimizer.param_groups if self.optimizer is not None else []

    def warmup_factor(self) -> float:
        """min(1, (t + 1) / warmup_steps) for the next step t."""
        return 1.0 if self.warmup_steps <= 0 else min(1.0, (self.steps + 1) / self.warmup_steps)

    def _apply(self) -> None:
        factor = self.warmup_factor()
        if self.grow_batch and self.inner_lrs:
            factor *= self._grow_batch()
        for group, lr in zip(self._groups(), self.inner_lrs):
            group["lr"] = lr * factor

    def _grow_batch(self) -> float:
        """Set the loader's batch from the inner lr's decay ratio; return the lr factor B / B0."""
        ratio = self.inner_lrs[0] / self.base_lrs[0]
        limit = len(self.loader.split)
        batch = min(max(int(round(self.base_batch / ratio)), 1), limit) if ratio > 0 else limit
        self.loader.batch_size = batch
        return batch / self.base_batch

    # ---------------------------------------------------------------- resume

    def state_dict(self) -> dict:
        state = {"steps": self.steps, "inner_lrs": list(self.inner_lrs)}
        if self.scheduler is not None:
            state["scheduler"] = _to_json(self.scheduler.state_dict())
        return state

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(_from_json(state["scheduler"]))
        self.steps = int(state.get("steps", 0))
        self.inner_lrs = [float(v) for v in state.get("inner_lrs", self.inner_lrs)]
        self._apply()

    @staticmethod
    def merge_groups(state: dict, firsts: list[int]) -> dict:
        """A saved state of a run whose optimizer had groups that are one group now
        (``params.merge_saved_groups``): each per-group list keeps the entry of the first
        saved group of each live group (the joined groups had equal options, so equal lrs)."""
        pick = lambda values: [values[i] for i in firsts]  # noqa: E731
        state = dict(state)
        if "inner_lrs" in state:
            state["inner_lrs"] = pick(state["inner_lrs"])
        if "scheduler" in state:
            state["scheduler"] = {k: pick(v) if k in PER_GROUP_KEYS and isinstance(v, list) else v
                                  for k, v in state["scheduler"].items()}
        return state

    def current_lrs(self) -> list[float]:
        return [g["lr"] for g in self._groups()]


# The per-group lists of torch's schedulers' state dicts (one entry per parameter group).
PER_GROUP_KEYS = ("base_lrs", "_last_lr", "max_lrs", "min_lrs", "base_momentums", "max_momentums")


def _to_json(state: dict) -> dict:
    """Make a torch scheduler state JSON-safe: MultiStepLR keeps its milestones in a
    Counter, whose int keys JSON would turn into strings (silently breaking resume)."""
    return {k: {"__counter__": [[m, c] for m, c in v.items()]} if isinstance(v, Counter) else v
            for k, v in state.items()}


def _from_json(state: dict) -> dict:
    return {k: Counter({int(m): c for m, c in v["__counter__"]})
            if isinstance(v, dict) and "__counter__" in v else v for k, v in state.items()}


# -------------------------------------------------------------------- builders
# Each returns (torch scheduler or None, "batch" | "epoch").


@schedules.register("constant")
def constant(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int):
    return None, "epoch"


@schedules.register("step")
def step(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int):
    """lr = lr0 * gamma ** floor(epoch / step_size)."""
    return lr_scheduler.StepLR(optimizer, cfg.step_size, cfg.gamma), "epoch"


@schedules.register("multistep")
def multistep(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int):
    return lr_scheduler.MultiStepLR(optimizer, list(cfg.milestones), cfg.gamma), "epoch"


@schedules.register("exponential")
def exponential(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int):
    return lr_scheduler.ExponentialLR(optimizer, cfg.gamma), "epoch"


@schedules.register("plateau")
def plateau(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int, *, mode: str):
    """``mode``: the monitored metric's direction (``Monitor.mode``), never guessed here."""
    return lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=cfg.gamma,
                                          patience=cfg.patience, threshold=cfg.threshold,
                                          min_lr=cfg.min_lr), "epoch"


@schedules.register("cyclic")
def cyclic(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int):
    lr0 = optimizer.param_groups[0]["lr"]
    low = cfg.min_lr if cfg.min_lr > 0 else lr0
    high = cfg.max_lr if cfg.max_lr is not None else 10 * lr0
    if high <= low:
        raise ValueError(f"schedule.max_lr ({high}) must exceed the cyclic lower bound ({low})")
    half = max(1, int(round(cfg.half_cycle_epochs * steps_per_epoch)))
    return lr_scheduler.CyclicLR(optimizer, base_lr=low, max_lr=high, step_size_up=half,
                                 mode="triangular", cycle_momentum=False), "batch"


@schedules.register("cosine_restarts")
def cosine_restarts(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int):
    t0 = max(1, cfg.t0_epochs * steps_per_epoch)
    return lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=t0, T_mult=cfg.t_mult,
                                                    eta_min=cfg.min_lr), "batch"


@schedules.register("onecycle")
def onecycle(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int):
    groups = optimizer.param_groups
    peaks = [g["lr"] if cfg.max_lr is None else cfg.max_lr * g.get("lr_mult", 1.0) for g in groups]
    return lr_scheduler.OneCycleLR(optimizer, max_lr=peaks, total_steps=max(2, epochs * steps_per_epoch),
                                   pct_start=cfg.pct_start, anneal_strategy=cfg.anneal_strategy,
                                   div_factor=cfg.div_factor, final_div_factor=cfg.final_div_factor,
                                   cycle_momentum=False), "batch"


def _check(cfg: ScheduleConfig) -> None:
    if cfg.gamma <= 0:
        raise ValueError(f"schedule.gamma must be > 0, got {cfg.gamma}")
    if cfg.warmup_steps < 0:
        raise ValueError(f"schedule.warmup_steps must be >= 0, got {cfg.warmup_steps}")
    if cfg.step_size < 1 or cfg.t0_epochs < 1 or cfg.t_mult < 1:
        raise ValueError("schedule.step_size, t0_epochs and t_mult must be >= 1")
    if not 0 < cfg.pct_start < 1:
        raise ValueError(f"schedule.pct_start must be in (0, 1), got {cfg.pct_start}")
    if cfg.half_cycle_epochs <= 0:
        raise ValueError(f"schedule.half_cycle_epochs must be > 0, got {cfg.half_cycle_epochs}")


def build_schedule(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int,
                   loader=None, monitor=None) -> Schedule:
    """The configured schedule.

    Args:
        loader: the training loader, needed by grow_batch.
        monitor: plateau only -- the watched metric and its direction, a
            ``netcoach.train.monitor.Monitor`` (``plateau_monitor(config)``), so the plateau
            judges improvement in the same direction as the best checkpoint would.
    """
    _check(cfg)
    factory = schedules.get(cfg.name)
    if cfg.name == "plateau":
        if monitor is None:
            raise ValueError("the plateau schedule needs its monitored metric: pass build_schedule("
                             "..., monitor=netcoach.train.monitor.plateau_monitor(config))")
        scheduler, per = factory(optimizer, cfg, epochs, steps_per_epoch, mode=monitor.mode)
    else:
        scheduler, per = factory(optimizer, cfg, epochs, steps_per_epoch)
    return Schedule(scheduler, per, optimizer=optimizer, warmup_steps=cfg.warmup_steps,
                    monitor=monitor.monitor if cfg.name == "plateau" else None,
                    loader=loader if cfg.grow_batch else None, grow_batch=cfg.grow_batch)
