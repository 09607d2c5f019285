"""Each schedule's per-step learning rate against its formula; exact resume mid-run."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from netcoach.config import ScheduleConfig
from netcoach.data.base import Split
from netcoach.data.loader import DeviceLoader
from netcoach.optim import build_schedule, schedules
from netcoach.train.monitor import Monitor

LR0 = 0.1
S = 4      # steps per epoch
E = 12     # epochs


def make(cfg: ScheduleConfig, epochs=E, steps=S, loader=None):
    p = nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=LR0, momentum=0.9)
    monitor = Monitor(cfg.monitor, cfg.mode, option="schedule.mode") if cfg.name == "plateau" else None
    return opt, build_schedule(opt, cfg, epochs, steps, loader=loader, monitor=monitor)


def val_loss(epoch: int) -> float:
    """A monitored metric that improves, stalls, improves again."""
    return [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7][epoch % 12]


def drive(opt, sched, epochs=E, steps=S, start=(0, 0), stop=None):
    """The trainer's protocol: lr used by each step, after_batch per step, after_epoch per epoch."""
    lrs = []
    e0, b0 = start
    for e in range(e0, epochs):
        for b in range(b0 if e == e0 else 0, steps):
            if stop is not None and (e, b) == stop:
                return lrs
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.after_batch()
        sched.after_epoch({"val_loss": val_loss(e)})
    return lrs


def per_step(fn):
    return [fn(e, e * S + b) for e in range(E) for b in range(S)]


def cyclic_lr(t, lo, hi, half):
    c = math.floor(1 + t / (2 * half))
    x = abs(t / half - 2 * c + 1)
    return lo + (hi - lo) * max(0.0, 1 - x)


def sgdr_lr(t, t0, mult, lo):
    if mult == 1:
        cur, ti = t % t0, t0
    else:
        n = int(math.log(t / t0 * (mult - 1) + 1, mult))
        cur, ti = t - t0 * (mult ** n - 1) / (mult - 1), t0 * mult ** n
    return lo + (LR0 - lo) * (1 + math.cos(math.pi * cur / ti)) / 2


def onecycle_lr(t, peak, total, pct):
    def cos(a, b, frac):
        return b + (a - b) / 2 * (math.cos(math.pi * frac) + 1)
    start, end1 = peak / 25, pct * total - 1
    if t <= end1:
        return cos(start, peak, t / end1)
    return cos(peak, start / 1e4, (t - end1) / (total - 1 - end1))


def plateau_lrs(patience, factor):
    lr, best, bad, out = LR0, math.inf, 0, []
    for e in range(E):
        out += [lr] * S
        v = val_loss(e)
        if v < best * (1 - 1e-4):
            best, bad = v, 0
        else:
            bad += 1
        if bad > patience:
            lr, bad = lr * factor, 0
    return out


CASES = {
    "constant": (ScheduleConfig(name="constant"), per_step(lambda e, t: LR0)),
    "step": (ScheduleConfig(name="step", step_size=3, gamma=0.5),
             per_step(lambda e, t: LR0 * 0.5 ** (e // 3))),
    "multistep": (ScheduleConfig(name="multistep", milestones=[5, 9], gamma=0.1),
                  per_step(lambda e, t: LR0 * 0.1 ** sum(e >= m for m in (5, 9)))),
    "exponential": (ScheduleConfig(name="exponential", gamma=0.8), per_step(lambda e, t: LR0 * 0.8 ** e)),
    "plateau": (ScheduleConfig(name="plateau", patience=2, gamma=0.5), plateau_lrs(2, 0.5)),
    "cyclic": (ScheduleConfig(name="cyclic", max_lr=0.5, half_cycle_epochs=1.5),
               per_step(lambda e, t: cyclic_lr(t, LR0, 0.5, 6))),
    "cosine_restarts": (ScheduleConfig(name="cosine_restarts", t0_epochs=1, t_mult=2, min_lr=0.001),
                        per_step(lambda e, t: sgdr_lr(t, S, 2, 0.001))),
    "cosine_restarts_1": (ScheduleConfig(name="cosine_restarts", t0_epochs=3, t_mult=1),
                          per_step(lambda e, t: sgdr_lr(t, 3 * S, 1, 0.0))),
    "onecycle": (ScheduleConfig(name="onecycle", max_lr=1.0, pct_start=0.25),
                 per_step(lambda e, t: onecycle_lr(t, 1.0, E * S, 0.25))),
    "warmup+step": (ScheduleConfig(name="step", step_size=3, gamma=0.5, warmup_steps=10),
                    per_step(lambda e, t: LR0 * 0.5 ** (e // 3) * min(1, (t + 1) / 10))),
    "warmup+cosine": (ScheduleConfig(name="cosine_restarts", t0_epochs=4, warmup_steps=6),
                      per_step(lambda e, t: sgdr_lr(t, 4 * S, 1, 0.0) * min(1, (t + 1) / 6))),
}


def test_every_registered_schedule_has_a_formula_case():
    assert set(schedules.names()) <= {cfg.name for cfg, _ in CASES.values()}


@pytest.mark.parametrize("case", list(CASES))
def test_lr_per_step_equals_formula(case):
    cfg, expect = CASES[case]
    got = drive(*make(cfg))
    assert len(got) == len(expect)
    for t, (a, b) in enumerate(zip(got, expect)):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), f"{case}: step {t}: {a} != {b}"


def test_course_multistep_50_25_25():
    """The course's 50 epochs at 0.1, 25 at 0.01, 25 at 0.001."""
    opt, sched = make(ScheduleConfig(name="multistep", milestones=[50, 75], gamma=0.1), 100, 1)
    lrs = drive(opt, sched, 100, 1)
    assert lrs[:50] == pytest.approx([0.1] * 50)
    assert lrs[50:75] == pytest.approx([0.01] * 25)
    assert lrs[75:] == pytest.approx([0.001] * 25)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("stop", [(4, 2), (7, 0)])
def test_resume_mid_run_gives_same_sequence(case, stop):
    cfg, _ = CASES[case]
    full = drive(*make(cfg))
    opt, sched = make(cfg)
    first = drive(opt, sched, stop=stop)
    saved = json.loads(json.dumps({"opt": opt.state_dict()["param_groups"],
                                   "sched": sched.state_dict()}))  # checkpoints store JSON
    opt2, sched2 = make(cfg)
    state = opt2.state_dict()
    state["param_groups"] = saved["opt"]
    opt2.load_state_dict(state)
    sched2.load_state_dict(saved["sched"])
    rest = drive(opt2, sched2, start=stop)
    assert first + rest == pytest.approx(full, rel=1e-12)


def test_grow_batch_instead_of_decay():
    """Step decay by 0.5 each epoch becomes batch 16 -> 32 -> 64 -> 100 (capped at n), lr fixed
    while the batch can grow; past the cap the remaining factor decays the lr."""
    split = Split(torch.zeros(100, 3), torch.zeros(100, dtype=torch.long))
    loader = DeviceLoader(split, 16, shuffle=True, generator=torch.Generator().manual_seed(0))
    cfg = ScheduleConfig(name="step", step_size=1, gamma=0.5, grow_batch=True)
    opt, sched = make(cfg, loader=loader)
    seen = []
    for e in range(5):
        seen.append((loader.batch_size, opt.param_groups[0]["lr"], len(loader)))
        for _ in loader:
            opt.step()
            sched.after_batch()
        sched.after_epoch({})
    assert [s[0] for s in seen] == [16, 32, 64, 100, 100]
    assert [s[1] for s in seen] == pytest.approx([LR0, LR0, LR0, LR0 * 0.125 * 100 / 16,
                                                 LR0 * 0.0625 * 100 / 16])
    assert [s[2] for s in seen] == [7, 4, 2, 1, 1]
    state = json.loads(json.dumps(sched.state_dict()))
    loader.batch_size = 16
    sched.load_state_dict(state)
    assert loader.batch_size == 100


def test_grow_batch_needs_epoch_schedule_and_plateau_needs_metric():
    split = Split(torch.zeros(10, 3), torch.zeros(10, dtype=torch.long))
    loader = DeviceLoader(split, 2)
    with pytest.raises(ValueError, match="grow_batch"):
        make(ScheduleConfig(name="onecycle", grow_batch=True), loader=loader)
    opt, sched = make(replace(ScheduleConfig(name="plateau"), monitor="val_acc"))
    with pytest.raises(ValueError, match="val_acc.*available: val_loss"):
        sched.after_epoch({"val_loss": 1.0})


def test_plateau_on_val_acc_infers_max_and_lowers_the_lr_only_after_acc_stops_rising():
    cfg = ScheduleConfig(name="plateau", monitor="val_acc", patience=2, gamma=0.5)  # mode auto
    opt, sched = make(cfg)
    accs = [0.5, 0.6, 0.7, 0.8, 0.8, 0.8, 0.8, 0.79]  # rises for 4 epochs, then flat
    lrs = []
    for acc in accs:
        sched.after_epoch({"val_acc": acc})
        lrs.append(opt.param_groups[0]["lr"])
    # rising accuracy never cuts the lr (with mode min it would be cut after epoch 4);
    # the 3rd epoch without a rise (patience 2 exceeded) halves it
    assert lrs == [LR0] * 6 + [LR0 * 0.5] * 2


def test_plateau_without_its_monitor_is_refused():
    p = nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=LR0)
    with pytest.raises(ValueError, match="plateau schedule needs its monitored metric"):
        build_schedule(opt, ScheduleConfig(name="plateau"), E, S)
