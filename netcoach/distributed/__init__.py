"""Data-parallel training on torch.distributed: many processes, one run.

PyTorch does the work: ``torch.distributed.run`` (elastic launch) starts the processes,
``init_process_group`` joins them, ``DistributedDataParallel`` averages the gradients
and the collectives here reduce the metrics. netcoach adds only the glue:

- ``launch``: ``netcoach train --dist.nproc N`` relaunches itself through the elastic
  launcher and turns a failed worker into one line naming the rank and the reason.
- ``setup``: the process group and the ``Runtime`` of a launched process, the device
  per local rank, SyncBatchNorm and the DDP wrapper.
- ``reduce``: the few collectives the trainer needs once per epoch (metric sums),
  per checkpoint (each rank's generator states) and per decision (stop, NaN).
"""
