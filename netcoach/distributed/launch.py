"""Starting a multi-process job on this machine through PyTorch's elastic launcher.

``launch(nproc, argv)`` does what ``torchrun --standalone --nproc-per-node N -m
netcoach ARGV`` does, through ``torch.distributed.run``'s own API, so the rendezvous
(a free local port), worker monitoring and teardown are PyTorch's: when one worker
fails - an exception or a signal such as SIGKILL - the launcher stops all the others.
We only turn its report into one line naming the rank and the reason.
"""

from __future__ import annotations

import os
import signal

from typing import Callable, Optional, Sequence

from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, record

MODULE = "netcoach"


class LaunchError(RuntimeError):
    """A worker of a launched job failed; the message names its rank and the reason."""


def launcher_args(nproc: int, argv: Sequence[str]) -> list[str]:
    """The ``torch.distributed.run`` command line for ``nproc`` local workers running
    ``python -m netcoach ARGV``."""
    if nproc < 1:
        raise ValueError(f"dist.nproc must be >= 1, got {nproc}")
    return ["--standalone", "--nproc-per-node", str(nproc), "--module", MODULE, *argv]


def launch(nproc: int, argv: Sequence[str]) -> None:
    """Run ``netcoach ARGV`` in ``nproc`` processes and wait for all of them.

    Raises:
        LaunchError: a worker failed (every other worker has been stopped).
    """
    from torch.distributed.run import get_args_parser, run  # the launcher, only when launching

    try:
        run(get_args_parser().parse_args(launcher_args(nproc, argv)))
    except ChildFailedError as err:
        raise LaunchError(failure_line(err)) from None


def root_failure(err: ChildFailedError):
    """(rank, failure) to report, the likeliest cause first:

    1. a worker killed by a signal other than SIGTERM without recording an exception
       (SIGKILL, SIGABRT, SIGSEGV): its peers then fail in their collectives, record that,
       and may be stopped earlier;
    2. a worker that recorded an exception (the earliest);
    3. a worker stopped by SIGTERM without one: what the launcher sends the remaining
       workers once one has failed, so it is the cause only when nothing else is;
    4. otherwise the first worker that failed.
    """
    ranked = sorted((tier, f.timestamp, rank) for rank, f in err.failures.items()
                    if (tier := _cause_tier(f)) is not None)
    if ranked:
        rank = ranked[0][2]
        return rank, err.failures[rank]
    return err.get_first_failure()


def _cause_tier(failure) -> Optional[int]:
    """``root_failure``'s rank of a failure (0 first); None for an exit status without a record."""
    if os.path.isfile(failure.error_file):
        return 1
    if failure.exitcode is not None and failure.exitcode < 0:
        return 2 if failure.exitcode == -signal.SIGTERM else 0
    return None


def failure_line(err: ChildFailedError) -> str:
    """``rank R failed: REASON`` for the worker whose failure ended the job (``root_failure``)."""
    rank, failure = root_failure(err)
    message = failure.message
    if isinstance(message, dict):  # an error file written by ``record``: {"message": ..., ...}
        message = message.get("message", "")
    reason = str(message).strip().splitlines()[-1] if str(message).strip() else ""
    if not reason or "enable traceback" in reason:
        reason = f"exit status {failure.exitcode}"
    return (f"rank {rank} (pid {failure.pid}) failed: {reason}; the launcher stopped the other "
            f"processes (a run with a checkpoint continues with --resume RUN and the same --dist.nproc)")


def recorded(fn: Callable) -> Callable:
    """``fn`` that, inside a launched worker, leaves its exception for the launcher to
    report (torch elastic's ``record``), then raises it as before."""
    return record(fn)
