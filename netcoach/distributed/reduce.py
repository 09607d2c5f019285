"""The collectives netcoach needs, each a thin layer over ``torch.distributed``.

Every function here must be called by every rank of the group at the same point,
like any collective. With one process (no group) each one returns its input, so
the trainer calls them unconditionally where it needs them.

Metric sums are reduced once per epoch in float64: sums of ``loss x n``, sample
counts and the task's metric sums are additive, so their all-reduced totals divided
by the total count are exactly the means one process would compute over all the
samples. Per-rank state (generator states, partial sums) travels as safetensors
bytes, never as pickles (``all_gather_object`` would pickle).
"""

from __future__ import annotations

import json

import torch
import torch.distributed as dist

META = "__meta__"  # the JSON part of a gathered state, stored as a uint8 tensor


def active() -> bool:
    """Whether this process belongs to a process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _comm_device() -> torch.device:
    """Where collectives' tensors must live: the current CUDA device for NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``values`` over all ranks (float64 in, float64 out)."""
    if not active():
        return values
    out = values.to(_comm_device(), torch.float64).clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(values.device)


def any_rank(flag: torch.Tensor) -> torch.Tensor:
    """1.0 (as float32, on the flag's device) when ``flag`` is true on any rank, else 0.0.

    The NaN guard uses it per step, so every rank raises at the same step and DDP's
    gradient collectives never wait for a rank that left the loop.
    """
    value = flag.detach().to(torch.float32).reshape(())
    if not active():
        return value
    out = value.to(_comm_device()).clone()
    dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return out.to(flag.device)


def broadcast_flag(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (a stop decision is made once, by the main process)."""
    if not active():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_comm_device())
    dist.broadcast(t, src=0)
    return bool(t.item())


def broadcast_floats(values: list[float]) -> list[float]:
    """Rank 0's ``values`` on every rank (learning rates after a plateau or rollback decision)."""
    if not active() or not values:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    dist.broadcast(t, src=0)
    return t.tolist()


def broadcast_text(text: str) -> str:
    """Rank 0's ``text`` on every rank (e.g. the run folder it created)."""
    if not active():
        return text
    data = torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8) if text else \
        torch.zeros(0, dtype=torch.uint8)
    size = torch.tensor([len(data)], dtype=torch.int64, device=_comm_device())
    dist.broadcast(size, src=0)
    buf = torch.zeros(int(size.item()), dtype=torch.uint8, device=_comm_device())
    if dist.get_rank() == 0:
        buf.copy_(data.to(buf.device))
    dist.broadcast(buf, src=0)
    return bytes(buf.cpu().tolist()).decode("utf-8")


def barrier() -> None:
    """Wait until every rank arrives (no-op for one process)."""
    if active():
        dist.barrier()


def _all_gather_bytes(data: bytes) -> list[bytes]:
    """Every rank's ``data`` (of any length), in rank order, on every rank."""
    device = _comm_device()
    size = torch.tensor([len(data)], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    longest = max(int(s.item()) for s in sizes)
    buf = torch.zeros(longest, dtype=torch.uint8, device=device)
    buf[:len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)
    bufs = [torch.zeros_like(buf) for _ in sizes]
    dist.all_gather(bufs, buf)
    return [bytes(b[:int(s.item())].cpu().numpy().tobytes()) for b, s in zip(bufs, sizes)]


def all_gather_state(meta, tensors: dict[str, torch.Tensor]) -> list[tuple[object, dict[str, torch.Tensor]]]:
    """Every rank's ``(meta, tensors)`` in rank order: ``meta`` is JSON-able, ``tensors``
    CPU tensors by name (``netcoach.train.checkpoint.flatten`` splits a state into both)."""
    if not active():
        return [(meta, tensors)]
    from safetensors.torch import load as st_load  # imported where used: `import netcoach` stays cheap
    from safetensors.torch import save as st_save

    payload = dict(tensors)
    payload[META] = torch.frombuffer(bytearray(json.dumps(meta).encode("utf-8")), dtype=torch.uint8)
    gathered = []
    for data in _all_gather_bytes(st_save({k: v.contiguous() for k, v in payload.items()})):
        found = st_load(data)
        text = bytes(found.pop(META).numpy().tobytes()).decode("utf-8")
        gathered.append((json.loads(text), found))
    return gathered


def reduce_epoch(step_losses: list[float], sizes: list[int],
                 sums: dict[str, torch.Tensor]) -> tuple[list[float], list[int], dict[str, torch.Tensor]]:
    """One epoch's records summed over the ranks, in one all-reduce.

    Args:
        step_losses: this rank's mean loss of each optimizer step.
        sizes: this rank's samples of each step.
        sums: this rank's metric sums (device tensors).

    Returns: each step's mean loss over all ranks' samples, each step's total samples,
    and the metric sums over all ranks (float64).
    """
    if not active():
        return step_losses, sizes, sums
    steps = len(step_losses)
    names = list(sums)
    flat = torch.tensor([v * n for v, n in zip(step_losses, sizes)] + [float(n) for n in sizes],
                        dtype=torch.float64)
    if names:
        flat = torch.cat([flat, torch.stack([sums[k].detach().double().cpu().reshape(()) for k in names])])
    total = all_reduce_sum(flat).tolist()
    loss_n, counts = total[:steps], [int(round(c)) for c in total[steps:2 * steps]]
    device = next(iter(sums.values())).device if names else torch.device("cpu")
    reduced = {k: torch.tensor(v, dtype=torch.float64, device=device) for k, v in zip(names, total[2 * steps:])}
    return [s / max(c, 1) for s, c in zip(loss_n, counts)], counts, reduced


def all_reduce_dict(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Scalar tensors summed over the ranks by name, in one all-reduce (float64, on the
    first value's device). Every rank must pass the same names."""
    if not active() or not values:
        return values
    names = list(values)
    device = values[names[0]].device
    total = all_reduce_sum(torch.stack([values[k].detach().double().reshape(()).cpu() for k in names]))
    return {k: v.to(device) for k, v in zip(names, total.unbind())}
