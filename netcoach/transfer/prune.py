"""Iterative magnitude pruning (Han et al. 2015) with ``torch.nn.utils.prune``, and the
lottery-ticket variant (Frankle & Carbin 2019: rewind the surviving weights).

A pruning job is one folder (``<run.dir>/<name>``) holding ``prune.json`` (the report:
sparsity per layer and overall, metrics per round) and one ordinary run folder per
round (``round-1``, ``round-2``, ...): each round prunes the previous round's best
weights and fine-tunes them with the source run's recipe. torch's reparametrization
keeps ``weight_orig`` and ``weight_mask`` in the state dict, so every checkpoint
(safetensors, never pickle) holds the masks and an interrupted round resumes exactly.
``pruned.safetensors`` is the final model with pruning made permanent
(as ``prune.remove``): plain ``weight`` tensors with zeros, loadable by any Network of the
source's architecture (``--model.init_from``).

Prunable weights are those of Conv and Linear layers; biases and normalization
parameters are never pruned nor counted. Unstructured sparsity stores zeros in dense
tensors: dense kernels do the same work, so it saves no time (``bench/transfer.py``
measures it); structured pruning (whole output channels, ``prune.ln_structured``)
zeroes channels but also keeps the tensor shapes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Optional

import torch
from torch import nn
from torch.nn.utils import prune

from netcoach.api import load_run, train
from netcoach.config import Config, ConfigError
from netcoach.data import build_data
from netcoach.models import build_model
from netcoach.train.checkpoint import cpu_state, load_into, load_weights, save_weights
from netcoach.train.run import RunFolder
from netcoach.utils.io import atomic_write_json
from netcoach.utils.runtime import Runtime

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
REPORT, EXPORT = "prune.json", "pruned.safetensors"


def prunable_layers(model: nn.Module, structured: bool = False) -> list[tuple[str, nn.Module]]:
    """(name, module) of the layers whose weights are pruned; structured pruning leaves
    the head alone (its output channels are the classes)."""
    head = getattr(model, "head_layer", None) if structured else None
    return [(name, m) for name, m in model.named_modules() if isinstance(m, PRUNABLE) and m is not head]


def sparsity_report(model: nn.Module) -> dict:
    """Zeros of every prunable weight (the effective one, mask applied), per layer and overall."""
    layers, zeros, total = {}, 0, 0
    for name, module in prunable_layers(model):
        w = effective_weight(module)
        z, n = int((w == 0).sum()), w.numel()
        layers[name] = {"zeros": z, "total": n, "sparsity": z / n}
        zeros, total = zeros + z, total + n
    return {"sparsity": zeros / max(total, 1), "zeros": zeros, "total": total, "layers": layers}


def effective_weight(module: nn.Module) -> torch.Tensor:
    """``weight_orig * weight_mask`` of a pruned layer (``module.weight`` is only recomputed
    by the next forward pass), else its weight."""
    if prune.is_pruned(module) and hasattr(module, "weight_mask"):
        return (module.weight_orig * module.weight_mask).detach()
    return module.weight.detach()


def round_targets(amount: float, rounds: int) -> list[float]:
    """Overall sparsity after each round: 1 - (1 - amount)^(r / R), the same fraction of the
    surviving weights removed every round."""
    return [1 - (1 - amount) ** (r / rounds) for r in range(1, rounds + 1)]


def _masked(module: nn.Module) -> int:
    mask = getattr(module, "weight_mask", None)
    return int((mask == 0).sum()) if mask is not None else 0


def prune_to(model: nn.Module, target: float, structured: bool = False) -> None:
    """Prune ``model`` in place until ``target`` of its prunable weights are masked:
    globally by |w| (unstructured), or per layer by the L2 norm of whole output channels.

    The magnitudes are those of ``effective_weight``, passed to torch as importance scores:
    torch would read ``module.weight``, which a pruned layer recomputes only in its next
    forward pass, so after loading a checkpoint (a resumed job) it still holds the weights
    from before the load, and the masks would depend on what ran before.
    """
    layers = prunable_layers(model, structured)
    if not structured:
        total = sum(m.weight.numel() for _, m in layers)
        extra = round(target * total) - sum(_masked(m) for _, m in layers)
        if extra > 0:  # an int amount counts the weights still unpruned, as torch's container does
            prune.global_unstructured([(m, "weight") for _, m in layers],
                                      pruning_method=prune.L1Unstructured, amount=extra,
                                      importance_scores={(m, "weight"): effective_weight(m) for _, m in layers})
        return
    for _, m in layers:
        channels = m.weight.shape[0]
        done = int((m.weight_mask.flatten(1).sum(1) == 0).sum()) if hasattr(m, "weight_mask") else 0
        extra = min(round(target * channels), channels - 1) - done
        if extra > 0:
            prune.ln_structured(m, "weight", amount=extra, n=2, dim=0, importance_scores=effective_weight(m))


def pruning_skeleton(model: nn.Module) -> nn.Module:
    """``model`` with an all-ones mask on every prunable weight, so a state dict with
    ``weight_orig``/``weight_mask`` (a pruned checkpoint) loads into it."""
    for _, m in prunable_layers(model):
        if not prune.is_pruned(m):
            prune.identity(m, "weight")
    return model


def permanent_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state with pruning made permanent, as ``prune.remove`` does it
    (``weight = weight_orig * weight_mask``, both removed): plain CPU tensors under the
    unpruned model's names. Built from the state dict, because a pruned module's
    ``weight`` may be a non-leaf tensor that cannot be deep-copied."""
    state = cpu_state(model)
    for key in [k for k in state if k.endswith("_orig") and k[:-5] + "_mask" in state]:
        base = key[:-5]
        state[base] = state.pop(key) * state.pop(base + "_mask")
    return state


def rewind_state(run_dir: Path, config: Config, epoch: int) -> dict[str, torch.Tensor]:
    """The source run's weights after ``epoch`` epochs (0: its initialisation), for
    lottery-ticket rewinding; epoch K needs ``checkpoints/epoch-K.safetensors``
    (``checkpoint.every_epochs``)."""
    run = RunFolder(run_dir)
    if epoch == 0:
        data = run.data_record()
        torch.manual_seed(config.train.seed)  # exactly how build_trainer initialises the model
        return build_model(config.model, tuple(data["input_shape"]), data["num_classes"]).state_dict()
    path = run.checkpoints / f"epoch-{epoch}.safetensors"
    if not path.is_file():
        kept = sorted(p.stem for p in run.checkpoints.glob("epoch-*.safetensors"))
        raise ConfigError(f"--rewind-epoch {epoch}: {path} not found (train the source with "
                          f"--checkpoint.every_epochs to keep it); kept: {', '.join(kept) or 'none'}")
    return load_weights(path)


@torch.no_grad()
def rewind(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Set every weight (the surviving ones through ``weight_orig``) and buffer to ``state``,
    keeping the masks: the lottery ticket's restart."""
    own = model.state_dict()
    for key, value in state.items():
        target = key + "_orig" if key + "_orig" in own else key  # a pruned layer's surviving weights
        if target in own:
            own[target].copy_(value)


def _round_config(config: Config, job: Path, r: int, epochs: int) -> Config:
    return replace(config, train=replace(config.train, epochs=epochs),
                   run=replace(config.run, dir=str(job), name=f"round-{r}"),
                   model=replace(config.model, init_from=None),
                   transfer=replace(config.transfer, freeze="none", unfreeze_epoch=0),
                   diagnose=replace(config.diagnose, preflight=False, monitor=False),  # reads .weight.grad, a pruned layer has none
                   report=replace(config.report, enabled=False))


def prune_run(run_dir: str | Path, amount: float, rounds: int, finetune_epochs: int,
              rewind_epoch: Optional[int] = None, structured: bool = False,
              out: Optional[str | Path] = None, callbacks=(), data=None) -> dict:
    """Prune the best weights of ``run_dir`` to ``amount`` sparsity over ``rounds`` rounds,
    fine-tuning ``finetune_epochs`` after each (from the rewound weights when
    ``rewind_epoch`` is given). Rounds already in ``out`` are kept, an interrupted one is
    resumed. ``data``: the ``DataBundle`` the source was trained on when it was not built
    from its config (as ``train(data=...)``). Returns the report written to ``out/prune.json``."""
    _check(amount, rounds, finetune_epochs, rewind_epoch)
    run_dir = Path(run_dir)
    config, model = load_run(run_dir)
    job = Path(out) if out is not None else run_dir.parent / f"{run_dir.name}-pruned"
    rewound = rewind_state(run_dir, config, rewind_epoch) if rewind_epoch is not None else None
    bundle = build_data(config, Runtime.local(config.train.device).device, data)
    report = _load_report(job) or {"source": str(run_dir), "amount": amount, "rounds_asked": rounds, "rounds": [],
                                   "structured": structured, "rewind_epoch": rewind_epoch,
                                   "dense": {"test": (RunFolder(run_dir).summary() or {}).get("test", {}),
                                             **_brief(sparsity_report(model))}}
    _same_job(report, run_dir, amount, rounds, structured, rewind_epoch)
    job.mkdir(parents=True, exist_ok=True)
    pruning_skeleton(model)
    for r, target in enumerate(round_targets(amount, rounds), start=1):
        folder = job / f"round-{r}"
        if r <= len(report["rounds"]):  # done before: continue from its best weights
            load_into(model, folder / "checkpoints" / "best.safetensors")
            continue
        started = RunFolder(folder)
        if folder.is_dir() and not started.is_run():  # killed while RunFolder.create made it: only its lock
            shutil.rmtree(folder)
        if not started.has_checkpoint("last"):  # else its checkpoint holds the masks and weights
            prune_to(model, target, structured)
            if rewound is not None:
                rewind(model, rewound)
        if started.is_run():  # interrupted: continue it (from scratch when it had no checkpoint)
            result = train(model=model, data=bundle, resume=folder, progress=False, callbacks=callbacks)
        else:
            result = train(_round_config(config, job, r, finetune_epochs), model=model, data=bundle,
                           progress=False, callbacks=callbacks)
        model = result.model
        report["rounds"].append({"round": r, "target": target, "run": folder.name,
                                 "test": result.summary["test"], **_brief(sparsity_report(model))})
        atomic_write_json(job / REPORT, report)
    save_weights(job / EXPORT, permanent_state(model), {"source": str(run_dir)})
    report["export"] = EXPORT
    atomic_write_json(job / REPORT, report)
    return report


def _brief(sparsity: dict) -> dict:
    return {"sparsity": sparsity["sparsity"], "zeros": sparsity["zeros"], "total": sparsity["total"],
            "layers": {k: v["sparsity"] for k, v in sparsity["layers"].items()}}


def _load_report(job: Path) -> Optional[dict]:
    path = job / REPORT
    return json.loads(path.read_text()) if path.is_file() else None


def _same_job(report: dict, run_dir: Path, amount: float, rounds: int, structured: bool,
              rewind_epoch) -> None:
    asked = {"source": str(run_dir), "amount": amount, "rounds_asked": rounds, "structured": structured,
             "rewind_epoch": rewind_epoch}
    differ = [k for k, v in asked.items() if report.get(k) != v]
    if differ:
        raise ConfigError(f"the pruning folder holds a job with other settings ({', '.join(differ)}: "
                          f"{', '.join(str(report.get(k)) for k in differ)}); choose another --out")


def _check(amount: float, rounds: int, epochs: int, rewind_epoch) -> None:
    if not 0 < amount < 1:
        raise ConfigError(f"--amount must be in (0, 1) (the fraction of prunable weights removed), got {amount}")
    if rounds < 1 or epochs < 1:
        raise ConfigError(f"--rounds and --finetune-epochs must be >= 1, got {rounds} and {epochs}")
    if rewind_epoch is not None and rewind_epoch < 0:
        raise ConfigError(f"--rewind-epoch must be >= 0 (0: the initial weights), got {rewind_epoch}")
