"""Preflight: the course's checklist, run on copies before the first real step.

Nothing here changes the run: every check works on deep copies of the model, never
touches the trainer's optimizer or loaders' generators (batches are taken by index
from the training split with a private generator), and the global RNG state (CPU
and CUDA) is forked, so a run with preflight on is identical to one with it off.
"""

from __future__ import annotations

import copy
import time

import torch

from netcoach.config import Config
from netcoach.diagnose import checks, datacheck
from netcoach.diagnose.checks import result
from netcoach.diagnose.gradcheck import check_gradients
from netcoach.diagnose.overfit import check_overfit_batch
from netcoach.diagnose.preflight_layout import check_dropout_before_batchnorm

class PreflightFailed(RuntimeError):
    """A preflight check FAILed and ``diagnose.strict`` asks to stop before training."""

    def __init__(self, failed: list[dict]):
        self.failed = failed
        names = ", ".join(c["check"] for c in failed)
        super().__init__(f"preflight FAILed ({names}) and diagnose.strict is true: training not "
                         "started (set diagnose.strict false to train anyway)")


def enforce_strict(checks: list[dict], cfg) -> None:
    """Raise ``PreflightFailed`` when ``cfg.strict`` and any check FAILed."""
    failed = [c for c in checks if c["status"] == "fail"]
    if cfg.strict and failed:
        raise PreflightFailed(failed)


def format_check(check: dict) -> str:
    """One compact line for a check that did not pass: ``WARN  name: reason`` (the reason
    carries the fix)."""
    return f"{check['status'].upper():4s}  {check['check']}: {check['reason']}"


def summary_lines(checks: list[dict]) -> list[str]:
    """The preflight block a person reads before epoch 1: one line per warn/fail, or one
    line saying how many checks passed."""
    flagged = [c for c in checks if c["status"] != "pass"]
    if not flagged:
        return [f"preflight: {len(checks)} checks passed"]
    passed = len(checks) - len(flagged)
    fails = sum(c["status"] == "fail" for c in flagged)
    head = (f"preflight: {passed} passed, {len(flagged) - fails} warned, {fails} failed")
    return [head] + ["  " + format_check(c) for c in flagged]


GRADCHECK_SAMPLES = 2  # a tiny batch keeps the float64 finite differences cheap
CHECKS = ("output_layer", "initial_loss", "overfit_batch", "gradient_check", "data", "init_units",
          "dropout_bn")


def sample_batch(trainer, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training samples chosen by a private generator, prepared as the loader does
    (scaled and normalized, without augmentation)."""
    loader = trainer.loaders["train"]
    split = loader.split
    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n]
    idx = idx.to(split.x.device)
    return loader.normalize(loader.prepare(split.x[idx])), split.y[idx]


def _guarded(name: str, fn, *args) -> list[dict]:
    """Run one check; an exception is itself a finding (the model/pipeline is broken)."""
    started = time.perf_counter()
    try:
        found = fn(*args)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        found = result(name, "fail", f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    found = found if isinstance(found, list) else [found]
    for item in found:
        item["details"]["seconds"] = time.perf_counter() - started
    return found


def run_preflight(trainer, config: Config) -> list[dict]:
    """All configured checks: the model checks (1-4, 6), then the data checks (5)."""
    cfg = config.diagnose
    unknown = sorted(set(cfg.checks) - set(CHECKS))
    if unknown:
        raise ValueError(f"diagnose.checks: unknown check(s) {unknown}; valid: {', '.join(CHECKS)}")
    devices = [trainer.device] if getattr(trainer, "device", torch.device("cpu")).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        x, y = sample_batch(trainer, cfg.batch_size)
        out = model_checks(trainer, cfg, set(cfg.checks), x, y)
        if "data" in cfg.checks:
            bundle = trainer.data
            out += _guarded("data_stats", datacheck.check_stats, bundle)
            out += _guarded("data_labels", datacheck.check_labels, bundle, trainer.task)
            out += _guarded("data_inputs", datacheck.check_inputs, x,
                            bundle.mean is not None or bundle.normalizer is not None)
            out += _guarded("data_leakage", datacheck.check_leakage, bundle)
    return out


LOSS_CHECKS = ("initial_loss", "overfit_batch", "gradient_check")


def model_checks(trainer, cfg, wanted: set[str], x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Output layer, initial loss, overfit one batch, gradient check, units at init."""
    started = time.perf_counter()
    bundle, task = trainer.data, trainer.task
    try:
        logits, stats = checks.forward_with_stats(copy.deepcopy(trainer.model).train(), x)
    except (RuntimeError, ValueError, TypeError) as exc:
        return [result("output_layer", "fail", f"the model cannot process a training batch of shape "
                       f"{tuple(x.shape)}: {str(exc).splitlines()[0]}")]
    out: list[dict] = []
    k = task.num_outputs(bundle)
    if "output_layer" in wanted:
        out += _guarded("output_layer", checks.check_output_layer, logits, task.output_targets(y), k, task,
                        checks.last_leaf(trainer.model))
    if logits.dim() != 2 or logits.shape[1] != k:
        # A loss on mismatched outputs raises on the CPU and kills the context on CUDA
        # (device-side assert), so the loss-based checks are skipped with the reason.
        skipped = f"skipped: the outputs do not match the {k} outputs task {task.name} needs (see output_layer)"
        out += [result(n, "fail", skipped) for n in LOSS_CHECKS if n in wanted]
        wanted = wanted - set(LOSS_CHECKS)
    if "initial_loss" in wanted:
        out += _guarded("initial_loss", lambda: checks.check_initial_loss(
            float(task.loss(logits, y)), task.expected_initial_loss(k), len(y),
            task.chance_name(k), task.preflight_words))
    if "overfit_batch" in wanted:
        # the one check whose cost grows with the model: it gets what is left of the budget
        left = None if cfg.budget_s == 0 else max(cfg.budget_s - (time.perf_counter() - started), 0.1)
        out += _guarded("overfit_batch", check_overfit_batch, trainer, x[:cfg.overfit_size],
                        y[:cfg.overfit_size], cfg.overfit_steps, cfg.overfit_lr, left)
    if "gradient_check" in wanted:
        out += _guarded("gradient_check", check_gradients, trainer.model, x[:GRADCHECK_SAMPLES],
                        y[:GRADCHECK_SAMPLES], task.loss, cfg.gradcheck_eps, cfg.gradcheck_coords)
    if "init_units" in wanted:
        out += _guarded("init_units", checks.check_init_units, stats, cfg.dead_max)
    if "dropout_bn" in wanted:
        out += _guarded("dropout_bn", check_dropout_before_batchnorm, trainer.model, x)
    return out
