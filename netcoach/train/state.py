"""Everything a run needs to continue exactly: capture and restore.

``capture(trainer)`` returns one nested dict (tensors and plain values) holding
the model, optimizer, schedule and grad-scaler states, the epoch/step counters,
the history, the partial sums of an unfinished epoch, the RNG states of torch
(CPU and CUDA), numpy and Python, the train loader's generators and position, and
the state of every callback that has a ``state_key``. ``restore`` puts it back.
With several processes it also holds ``ranks``: each rank's own generators, loader
share and partial sums (gathered as safetensors bytes), and a resume must have the
same number of processes.
``checkpoint.save_training_state`` writes it without pickle.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from netcoach.distributed.reduce import all_gather_state
from netcoach.optim.params import merge_saved_groups
from netcoach.optim.schedules import Schedule
from netcoach.train.checkpoint import CheckpointError, cpu_state, flatten, unflatten


def rng_state() -> dict:
    """RNG states of python, numpy and torch (CPU and every CUDA device)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def stateful_callbacks(trainer) -> dict:
    """Callbacks that keep state across epochs, by their ``state_key``."""
    found = {}
    for cb in trainer.callbacks:
        key = getattr(cb, "state_key", None)
        if key:
            if key in found:
                raise ValueError(f"two callbacks share the state key '{key}'")
            found[key] = cb
    return found


def capture(trainer) -> dict:
    """The full training state of ``trainer`` at a step boundary, as a nested dict."""
    state = {
        "epoch": trainer.epoch,
        "step": trainer.step,
        "lr_scale": trainer.lr_scale,
        "elapsed": trainer.elapsed(),
        "history": trainer.history,
        "partial": trainer.partial_state(),
        "model": cpu_state(trainer.model),
        "optimizer": trainer.optimizer.state_dict(),
        "schedule": trainer.schedule.state_dict(),
        "rng": rng_state(),
        "loader": trainer.loaders["train"].state_dict(),
        "callbacks": {k: cb.state_dict() for k, cb in stateful_callbacks(trainer).items()},
    }
    if trainer.scaler is not None:
        state["scaler"] = trainer.scaler.state_dict()
    if trainer.runtime.distributed:
        state["ranks"] = rank_states(trainer)
    return state


def rank_states(trainer) -> list[dict]:
    """What differs between ranks (RNG streams, the augmentation generator, the partial
    sums of this rank's share), gathered from every rank in rank order."""
    tensors: dict = {}
    mine = flatten({"rng": rng_state(), "loader": trainer.loaders["train"].state_dict(),
                    "partial": trainer.partial_state()}, tensors)
    return [unflatten(meta, found) for meta, found in all_gather_state(mine, tensors)]


def restore_rank(trainer, state: dict) -> None:
    """Put this rank's own part of a multi-process state back (after ``restore``)."""
    ranks, world = state.get("ranks"), trainer.runtime.world_size
    saved = len(ranks) if ranks else 1
    if saved != world:
        raise CheckpointError(f"the checkpoint was written by a run of {saved} process(es), this one has "
                              f"{world}: resume with --dist.nproc {saved}, or start a new run")
    if ranks:
        mine = ranks[trainer.runtime.rank]
        device = next(trainer.model.parameters()).device
        trainer.loaders["train"].load_state_dict(mine["loader"])
        trainer.load_partial_state(mine["partial"], device, float(state.get("elapsed", 0.0)))
        set_rng_state(mine["rng"])


def _tuples_like(saved_groups: list[dict], current_groups: list[dict]) -> list[dict]:
    """JSON has no tuples: give back tuple-valued group options (e.g. Adam's betas) their type."""
    fixed = []
    for saved, current in zip(saved_groups, current_groups):
        fixed.append({k: tuple(v) if isinstance(current.get(k), tuple) and isinstance(v, list) else v
                      for k, v in saved.items()})
    return fixed


def restore(trainer, state: dict) -> None:
    """Put a captured state back into ``trainer`` (and its callbacks)."""
    device = next(trainer.model.parameters()).device
    schedule = state["schedule"]
    try:
        trainer.model.load_state_dict(state["model"])
        opt = dict(state["optimizer"])
        # a run saved while equal groups were kept apart: join them as the optimizer now does
        groups, firsts = merge_saved_groups(opt["param_groups"], trainer.optimizer.param_groups)
        if firsts is not None:
            schedule = Schedule.merge_groups(schedule, firsts)
        opt["param_groups"] = _tuples_like(groups, trainer.optimizer.param_groups)
        trainer.optimizer.load_state_dict(opt)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint does not fit this model/optimizer: {exc}") from None
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.schedule.load_state_dict(schedule)
    if trainer.scaler is not None and "scaler" in state:
        trainer.scaler.load_state_dict(state["scaler"])
    trainer.epoch, trainer.step = int(state["epoch"]), int(state["step"])
    trainer.lr_scale = float(state.get("lr_scale", 1.0))
    trainer.history = [dict(h) for h in state["history"]]
    trainer.load_partial_state(state["partial"], device, float(state.get("elapsed", 0.0)))
    trainer.loaders["train"].load_state_dict(state["loader"])
    set_rng_state(state["rng"])
    callbacks = stateful_callbacks(trainer)
    for key, cb_state in state["callbacks"].items():
        if key in callbacks:
            callbacks[key].load_state_dict(cb_state)
    restore_rank(trainer, state)
    trainer.stop_training = False
    trainer._watch.reset()  # pending NaN checks belong to the abandoned steps
