"""Weight averaging over torch.optim.swa_utils: EMA, Polyak and SWA.

Each averager is a callback holding an ``AveragedModel`` beside the raw model:

- ``ema``: exponential moving average updated every optimizer step
  (w_ema <- decay * w_ema + (1 - decay) * w), buffers (batch-norm statistics) averaged too;
- ``polyak``: the uniform (Polyak-Ruppert) average of every iterate since the start;
- ``swa``: the uniform average of the weights at the end of each epoch from ``start``
  (stochastic weight averaging).

Uniform averages of weights do not come with matching batch-norm statistics, so for
Polyak and SWA they are recomputed with ``swa_utils.update_bn`` over the training
split (in order, unaugmented) before each evaluation. Every epoch each averaged
model is evaluated on the validation split, logged as ``val_<metric>_<kind>`` and
written to ``checkpoints/<kind>.safetensors``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from netcoach.data.loader import DeviceLoader
from netcoach.train.callbacks import Callback
from netcoach.train.checkpoint import cpu_state
from netcoach.train.lookahead import Lookahead


def _has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


class WeightAverage(Callback):
    """One averaged copy of the model (see the module docstring for the kinds).

    Args:
        kind: "ema", "polyak" or "swa".
        model: the raw model (copied once; the copy holds the average).
        decay: EMA decay per optimizer step.
        start: first 1-based epoch averaged by SWA.
        run: where ``<kind>.safetensors`` goes (None: keep in memory only).
    """

    def __init__(self, kind: str, model: nn.Module, decay: float = 0.999, start: int = 1, run=None):
        if kind not in ("ema", "polyak", "swa"):
            raise ValueError(f"unknown weight average {kind!r}; valid: ema, polyak, swa")
        if kind == "ema" and not 0.0 < decay < 1.0:
            raise ValueError(f"average.ema_decay must be in (0, 1), got {decay}")
        self.kind, self.start, self.run = kind, start, run
        self.state_key = f"average_{kind}"
        fn = get_ema_multi_avg_fn(decay) if kind == "ema" else None
        self.averaged = AveragedModel(model, multi_avg_fn=fn, use_buffers=kind == "ema")
        self.recompute_bn = kind != "ema" and _has_bn(model)
        self.last_logs: dict = {}

    def on_batch_end(self, trainer, batch: dict) -> None:
        if self.kind != "swa" and batch.get("stepped", True):  # EMA/Polyak: every optimizer step
            self.averaged.update_parameters(trainer.model)

    def on_eval_end(self, trainer, logs: dict) -> None:
        if self.kind == "swa":
            if logs["epoch"] < self.start:
                return
            self.averaged.update_parameters(trainer.model)
        if int(self.averaged.n_averaged) == 0:
            return
        module = self.module(trainer)
        out = trainer.evaluate(trainer.loaders["val"], prefix="val", model=module)
        self.last_logs = {f"{k}_{self.kind}": v for k, v in out.items()}
        logs.update(self.last_logs)
        if self.run is not None:
            self.run.save_weights(self.kind, cpu_state(module),
                                  {"epoch": logs["epoch"], "n_averaged": int(self.averaged.n_averaged)})

    def module(self, trainer) -> Optional[nn.Module]:
        """The averaged network, with batch-norm statistics recomputed where needed."""
        if int(self.averaged.n_averaged) == 0:
            return None
        if self.recompute_bn:
            train = trainer.loaders["train"]
            plain = DeviceLoader(train.split, trainer.loaders["val"].batch_size, scale=train.scale)
            plain.mean, plain.inv_std, plain.normalizer = train.mean, train.inv_std, train.normalizer
            update_bn(plain, self.averaged, device=next(trainer.model.parameters()).device)
        return self.averaged.module

    def state_dict(self) -> dict:
        # last_logs: the summary reports the average's last validation metrics, also when a
        # resume has no epoch left to evaluate it again
        return {"averaged": self.averaged.state_dict(), "last_logs": dict(self.last_logs)}

    def load_state_dict(self, state: dict) -> None:
        self.averaged.load_state_dict(state["averaged"])
        self.last_logs = dict(state.get("last_logs", {}))


def build_averagers(config, model: nn.Module, run=None) -> list:
    """The averagers ``[average]`` asks for: the lookahead first (it changes the weights
    the others then average), then the weight averages."""
    cfg, out = config.average, []
    if cfg.lookahead:
        out.append(Lookahead(cfg.lookahead_every, cfg.lookahead_decay, cfg.lookahead_power))
    if cfg.ema:
        out.append(WeightAverage("ema", model, decay=cfg.ema_decay, run=run))
    if cfg.polyak:
        out.append(WeightAverage("polyak", model, run=run))
    if cfg.swa:
        start = cfg.swa_start or max(1, int(0.75 * config.train.epochs) + 1)
        out.append(WeightAverage("swa", model, start=start, run=run))
    return out
