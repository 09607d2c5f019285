"""Live monitor: per-layer update/weight ratio, gradient norm, activation statistics.

Cheap by construction: a sampled epoch samples ``monitor_samples`` pairs of consecutive
steps (spread over the epoch), and epochs are sampled no closer than ``monitor_min_batches``
training batches apart (``sampled_epoch``): a pair costs about one step's work, which is a
few percent of a 17-step digits epoch but nothing on a long one, so on short epochs only
every k-th epoch is sampled and gets a record. Which epochs are sampled follows from the
epoch number and the loader's length alone, so it needs no state to resume. At the end of the first step of a pair it snapshots
the layer weights and switches on forward hooks; at the end of the second it takes
‖Δw‖/‖w‖ and the gradient norms and switches the hooks off. Everything stays on the
device until the epoch ends, when one ``tolist()`` reads it (one sync per epoch).

Its state survives a mid-epoch resume (``state_key``): the batch counter, the pairs
measured so far, the activation statistics and an open pair's weight snapshot, so a
resumed run writes the same ``monitors.jsonl`` as an uninterrupted one.

The course's rule of thumb: weights should change by about 1e-3 of their size per
step (‖Δw‖/‖w‖ ≈ 1e-3); much less means the learning rate is too low, much more too high.
"""

from __future__ import annotations

import math
import time

import torch

from netcoach.config import DiagnoseConfig
from netcoach.diagnose.units import layer_map, probe, summarise
from netcoach.train.callbacks import Callback



def sampled_epoch(epoch: int, num_batches: int, min_batches: int) -> bool:
    """Whether the monitor samples ``epoch`` (1-based): the first, then every k-th with
    k = ceil(min_batches / num_batches), so sampled epochs start at least ``min_batches``
    batches apart (every epoch when ``min_batches`` is 0 or an epoch is that long)."""
    every = max(1, math.ceil(min_batches / max(num_batches, 1)))
    return (epoch - 1) % every == 0


def sample_starts(num_batches: int, samples: int) -> set[int]:
    """Batch indices that start a sampled pair, spread evenly (a pair needs two batches)."""
    if num_batches < 2 or samples < 1:
        return set()
    last = num_batches - 2  # the final possible start
    k = min(samples, last + 1)
    if k == 1:
        return {last // 2}
    return {round(i * last / (k - 1)) for i in range(k)}


class Monitor(Callback):
    """Records one ``{"epoch", "layers", "warnings"}`` dict per sampled epoch into ``records``
    (and ``monitors.jsonl`` of ``run``). ``overhead_s`` holds the seconds spent in the
    monitor per epoch (sampled or not), hooks included, for measuring its cost."""

    state_key = "monitor"

    def __init__(self, cfg: DiagnoseConfig, run=None):
        self.cfg, self.run = cfg, run
        self.records: list[dict] = []
        self.overhead_s: list[float] = []
        self._probe = None
        self.in_epoch = False
        self._resumed: dict | None = None  # a mid-epoch state, put back at the next epoch start

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict:
        if not self.in_epoch:
            return {"in_epoch": False}
        return {"in_epoch": True, "batch": self.batch, "pairs": list(self.pairs),
                "acts": {k: list(v) for k, v in self.acts.items()},
                "snapshot": list(self.snapshot) if self.snapshot is not None else []}

    def load_state_dict(self, state: dict) -> None:
        self._resumed = state if state.get("in_epoch") else None

    def _resume_epoch(self) -> None:
        state, self._resumed = self._resumed, None
        device = self.layers[0].weight.device if self.layers else None
        self.batch = int(state["batch"])
        self.pairs = [t.to(device) for t in state["pairs"]]
        self.acts = {k: [t.to(device) for t in v] for k, v in state["acts"].items()}
        if state["snapshot"]:  # the checkpoint fell between the two steps of a pair
            self.snapshot = [t.to(device) for t in state["snapshot"]]
            self._probe = probe(self.layers, self.acts, self.hook_clock)
            self._probe.__enter__()

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer) -> None:
        self.layers = layer_map(trainer.model)

    def on_epoch_start(self, trainer) -> None:
        t0 = time.perf_counter()
        self.batch, self.snapshot, self.spent, self.hook_clock = 0, None, 0.0, [0.0]
        batches = len(trainer.loaders["train"])
        self.sampling = sampled_epoch(trainer.epoch + 1, batches, self.cfg.monitor_min_batches)
        # A model without weight layers (e.g. all functional) has nothing to sample.
        samples = self.cfg.monitor_samples if self.layers and self.sampling else 0
        self.starts = sample_starts(batches, samples)
        self.pairs: list[torch.Tensor] = []  # per sampled step pair: (4, layers) norms
        self.acts: dict[str, list[torch.Tensor]] = {}
        self.in_epoch = True
        if self._resumed is not None:
            self._resume_epoch()
        self.spent += time.perf_counter() - t0

    def on_batch_end(self, trainer, batch: dict) -> None:
        i = self.batch
        self.batch += 1
        if i not in self.starts and self.snapshot is None:
            return
        t0 = time.perf_counter()
        if self.snapshot is not None:
            self._measure()
            self._stop_probe()
        if i in self.starts:
            with torch.no_grad():
                self.snapshot = [layer.weight.detach().clone() for layer in self.layers]
            self._probe = probe(self.layers, self.acts, self.hook_clock)
            self._probe.__enter__()
        self.spent += time.perf_counter() - t0

    def on_epoch_end(self, trainer, logs: dict) -> None:
        t0 = time.perf_counter()
        self._stop_probe()
        self.snapshot, self.in_epoch = None, False
        if not self.sampling:
            self.overhead_s.append(self.spent + time.perf_counter() - t0)
            return
        record = {"epoch": int(logs["epoch"]), "layers": self._layer_records(), "warnings": []}
        record["warnings"] = self._warnings(record["layers"])
        self.records.append(record)
        if self.run is not None:
            self.run.append_monitors(record)
        self.overhead_s.append(self.spent + self.hook_clock[0] + time.perf_counter() - t0)

    def on_fit_end(self, trainer, logs: dict) -> None:
        self._stop_probe()

    # ------------------------------------------------------------------ work
    @torch.no_grad()
    def _measure(self) -> None:
        weights = [layer.weight.detach() for layer in self.layers]
        grads = [w.grad if w.grad is not None else torch.zeros_like(w)
                 for w in (layer.weight for layer in self.layers)]
        delta = torch._foreach_sub(weights, self.snapshot)
        # One fused multi-tensor norm (the call clip_grad_norm_ uses) for all four kinds of
        # norm of all layers: rows ||w_old||, ||w_new - w_old||, ||grad||, ||w_new||.
        norms = torch._foreach_norm([*self.snapshot, *delta, *grads, *weights])
        self.pairs.append(torch.stack(norms).view(4, len(self.layers)))
        self.snapshot = None

    def _stop_probe(self) -> None:
        if self._probe is not None:
            self._probe.__exit__(None, None, None)
            self._probe = None

    def _layer_records(self) -> dict[str, dict]:
        acts = summarise(self.acts)  # the epoch's host sync for activations ...
        if self.pairs:  # ... and for the weight statistics
            before, delta, grad_n, weight_n = torch.stack(self.pairs).double().unbind(1)
            ratio = (delta / before.clamp_min(1e-12)).mean(0)  # ||w_new - w_old|| / ||w_old||
            ratio, grad, weight = (t.tolist() for t in torch.stack([ratio, grad_n.mean(0),
                                                                    weight_n.mean(0)]))
        else:
            ratio = grad = weight = [math.nan] * len(self.layers)
        empty = {"dead_frac": None, "saturated_frac": None, "act_mean": None, "act_std": None}
        out = {}
        for k, layer in enumerate(self.layers):
            stats = acts.get(layer.name, empty)
            out[layer.name] = {"update_ratio": ratio[k], "grad_norm": grad[k], "weight_norm": weight[k],
                               **{key: stats[key] for key in empty}}
        return out

    def _warnings(self, layers: dict[str, dict]) -> list[str]:
        low, high = self.cfg.update_ratio_band
        notes = []
        for name, s in layers.items():
            r, g = s["update_ratio"], s["grad_norm"]
            sampled = not math.isnan(r) or self.pairs  # NaN without samples just means "not measured"
            if sampled and not (math.isfinite(g) and math.isfinite(r)):
                notes.append(f"layer {name}: gradient norm {g}, update ratio {r} (diverging)")
            elif sampled and r > high:
                notes.append(f"layer {name}: update/weight ratio {r:.1e} > {high:.0e} (learning rate "
                             "too high?)")
            elif sampled and r < low and g > 0:
                notes.append(f"layer {name}: update/weight ratio {r:.1e} < {low:.0e} (learning rate "
                             "too low?)")
            for key, word in (("dead_frac", "dead"), ("saturated_frac", "saturated")):
                if s[key] is not None and s[key] > self.cfg.dead_max:
                    notes.append(f"layer {name}: {s[key]:.0%} {word} units")
        return notes
