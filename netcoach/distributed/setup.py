"""Joining a launched job: the process group, this process's ``Runtime`` and the model
wrappers (SyncBatchNorm, DistributedDataParallel).

A process started by ``torch.distributed.run`` (or ``torchrun``) finds ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in its environment;
``init_process_group("env://")`` reads them. Each process trains on one device: its
local rank's GPU with NCCL, or the CPU with gloo.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as dist
from torch import nn

from netcoach.config import Config, ConfigError
from netcoach.utils.runtime import Runtime, resolve_device

LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
TIMEOUT = timedelta(minutes=10)  # a collective waiting longer than this means a rank is gone


def launched() -> bool:
    """Whether this process was started by the elastic launcher (torchrun)."""
    return all(v in os.environ for v in LAUNCH_VARS)


def backend_for(device: torch.device, option: str) -> str:
    """The process-group backend: ``auto`` is NCCL for CUDA devices and gloo otherwise."""
    if option == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if option == "nccl" and device.type != "cuda":
        raise ConfigError(f"dist.backend: nccl needs CUDA devices, but this process trains on {device}; "
                          f"use auto or gloo")
    if option not in ("gloo", "nccl"):
        raise ConfigError(f"dist.backend: unknown {option!r}; valid: auto, gloo, nccl")
    return option


def local_device(device_option: str, local_rank: int) -> torch.device:
    """One device per process: the local rank's GPU when training on CUDA, else the CPU."""
    device = resolve_device(device_option)
    if device.type != "cuda":
        return device
    if device.index is not None and device_option != "auto":
        raise ConfigError(f"train.device: {device_option!r} names one GPU, but a launched process uses "
                          f"its local rank's GPU; use auto or cuda")
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(f"local rank {local_rank} has no GPU: only {torch.cuda.device_count()} visible; "
                          f"use --dist.nproc <= {torch.cuda.device_count()}")
    return torch.device("cuda", local_rank)


def init_runtime(config: Config) -> Runtime:
    """Join the launched job's process group; the ``Runtime`` of this process.

    Called once per process, before anything is built. Outside a launched process it
    returns the one-process runtime of ``train.device``.
    """
    if not launched():
        return Runtime.local(config.train.device)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = local_device(config.train.device, int(os.environ["LOCAL_RANK"]))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend_for(device, config.dist.backend), init_method="env://",
                                timeout=TIMEOUT)
    return Runtime(device, rank, world)


def shutdown() -> None:
    """Leave the process group (at the end of a launched process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def seed_rank(seed: int, runtime: Runtime) -> None:
    """Give each rank its own stream of torch's global generator (dropout masks differ
    across ranks as they would across the batches of one process). Rank 0 keeps the
    stream of a one-process run; called after the model's (shared) initialisation."""
    if runtime.rank > 0:
        torch.manual_seed((seed * 1_000_003 + runtime.rank) % 2**63)


def check_config(config: Config) -> None:
    """The [dist] options that can be judged before any process starts."""
    dc = config.dist
    if dc.nproc < 1:
        raise ConfigError(f"dist.nproc must be >= 1 (1: one process, no launch), got {dc.nproc}")
    if dc.sync_bn and dc.nproc > 1 and resolve_device(config.train.device).type != "cuda":
        raise ConfigError(SYNC_BN_CPU.format(device=config.train.device))


SYNC_BN_CPU = ("dist.sync_bn: torch's SyncBatchNorm runs on CUDA devices only (train.device {device} "
               "trains on the CPU); leave dist.sync_bn false there, or use a norm that needs no batch "
               "statistics (model.norm layer or group)")


def convert_sync_bn(model: nn.Module, runtime: Runtime, sync_bn: bool) -> nn.Module:
    """``model`` with SyncBatchNorm layers when ``dist.sync_bn`` is set (state-dict keys are
    unchanged, so checkpoints load into the plain model). One process: unchanged."""
    if not sync_bn or not runtime.distributed:
        return model
    if runtime.device.type != "cuda":
        raise ConfigError(SYNC_BN_CPU.format(device=runtime.device))
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def wrap(model: nn.Module, runtime: Runtime) -> Optional[nn.Module]:
    """``DistributedDataParallel(model)`` for a multi-process runtime, else None.

    DDP averages the gradients over the ranks during ``backward``; the trainer keeps
    the plain module as ``trainer.model`` (checkpoints and callbacks see the same
    module and names as in one process) and trains through the wrapper.
    """
    if not runtime.distributed or not dist.is_initialized():
        return None
    ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)
