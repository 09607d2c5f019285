"""The running sums of one training epoch, kept on the device and read once at its end.

Per step the trainer only appends device tensors (the step's loss, its outputs and
targets) and plain numbers (the batch size, the learning rate), so the hot loop never
waits for the device. Every ``METRIC_CHUNK`` batches the task scores the held outputs
in one batched call, which is cheaper than a few small ops per step. ``close`` is the
epoch's one host synchronisation.

An epoch interrupted mid-way (Ctrl-C, a mid-epoch checkpoint) is continued from
``state()`` / ``EpochSums.from_state``: the losses, sizes, learning rates and metric
sums of the steps already taken, so a resumed epoch logs what an uninterrupted one does.
"""

from __future__ import annotations

from typing import Optional

import torch

METRIC_CHUNK = 32  # training batches whose outputs are scored together


class EpochSums:
    """What one epoch has accumulated so far.

    Attributes:
        losses, sizes, lrs: per optimizer step: the group's loss (a device tensor), its
            samples on this rank, and the learning rate of the step.
        sums: the task's metric sums (device tensors) of the scored chunks.
        gathered, gathered_targets: every output and target of the epoch, for a task
            with whole-split metrics (AUC, F1, R²); empty otherwise.
        lr0: the learning rate at the start of the epoch (logged as ``lr``).
        elapsed: seconds spent in the epoch before a resume.
    """

    def __init__(self, task, lr0: float, gather: bool):
        self.task, self.lr0, self.gather = task, lr0, gather
        self.losses: list[torch.Tensor] = []
        self.sizes: list[int] = []
        self.lrs: list[float] = []
        self.sums: dict[str, torch.Tensor] = {}
        self.outs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []
        self.gathered: list[torch.Tensor] = []
        self.gathered_targets: list[torch.Tensor] = []
        self.elapsed = 0.0

    def add_batch(self, out: torch.Tensor, y: torch.Tensor) -> None:
        """Hold one batch's (detached) outputs for the next chunk's scoring."""
        self.outs.append(out)
        self.targets.append(y)
        if self.gather:  # whole-epoch metrics: outputs stay on the device until the end
            self.gathered.append(out)
            self.gathered_targets.append(y)
        if len(self.outs) == METRIC_CHUNK:
            self.score()

    def add_step(self, loss: torch.Tensor, size: int, lr: float) -> None:
        self.losses.append(loss)
        self.sizes.append(size)
        self.lrs.append(lr)

    def score(self) -> None:
        """Add the task's metric sums of the batches held so far (on the device, no sync)."""
        if self.outs:
            add_sums(self.sums, self.task.metric_sums(torch.cat(self.outs), torch.cat(self.targets)))
            self.outs.clear()
            self.targets.clear()

    def loss_values(self) -> list[float]:
        """The per-step losses on the host (one read)."""
        return torch.stack(self.losses).double().tolist() if self.losses else []

    # ------------------------------------------------------------------ resume support

    def state(self) -> dict:
        """The sums of the steps taken so far (empty before the first step)."""
        if not self.sizes:
            return {}
        self.score()
        state = {"losses": torch.stack(self.losses), "sums": dict(self.sums), "sizes": list(self.sizes),
                 "lrs": list(self.lrs), "lr0": self.lr0}
        if self.gathered:
            state["gathered"], state["gathered_targets"] = on_host(self.gathered, self.gathered_targets)
        return state

    @classmethod
    def from_state(cls, state: dict, task, device: torch.device, elapsed: float) -> "EpochSums":
        """Continue an unfinished epoch from ``state()``; a state whose sums name other
        metrics belongs to another task and is refused."""
        if "sums" not in state:
            raise ValueError("the checkpoint's unfinished epoch has no metric sums (written by an older "
                             "netcoach); resume it with that version or start the run again")
        if set(state["sums"]) - set(task.metric_names):
            raise ValueError(f"the checkpoint's unfinished epoch holds sums of {sorted(state['sums'])}, "
                             f"but task {task.name} reports {list(task.metric_names)}; resume "
                             "with the task the run was trained with")
        sums = cls(task, state["lr0"], bool(task.epoch_metric_names))
        sums.losses = list(state["losses"].to(device).unbind())
        sums.sums = {k: v.to(device) for k, v in state["sums"].items()}
        sums.sizes, sums.lrs = list(state["sizes"]), list(state["lrs"])
        if "gathered" in state:
            sums.gathered = [state["gathered"].to(device)]
            sums.gathered_targets = [state["gathered_targets"].to(device)]
        sums.elapsed = float(state.get("elapsed", elapsed))
        return sums


def on_host(outs: list[torch.Tensor], targets: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Gathered outputs (float) and targets, on the host (one move each)."""
    if not outs:
        return torch.empty(0), torch.empty(0)
    return torch.cat(outs).float().cpu(), torch.cat(targets).cpu()


def add_sums(sums: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> None:
    """Add one batch's (or chunk's) metric sums into ``sums``, on the device (new tensors,
    never in place, so a captured state keeps its values)."""
    for name, value in found.items():
        sums[name] = sums[name] + value if name in sums else value


def means(sums: dict[str, torch.Tensor], n: int, prefix: str) -> dict[str, float]:
    """``{prefix}_<metric>``: each device-side sum divided by the sample count, read on the host."""
    if not sums:
        return {}
    values = torch.stack([v.double() for v in sums.values()]).tolist()  # one read for all metrics
    return {f"{prefix}_{name}": v / max(n, 1) for name, v in zip(sums, values)}


def add_to_group(group_loss: Optional[torch.Tensor], loss: torch.Tensor, weight: float,
                 first: bool) -> torch.Tensor:
    """The group's loss so far plus this micro-batch's weighted (detached) loss."""
    part = loss.detach() if weight == 1.0 else loss.detach() * weight
    return part if first else group_loss + part
