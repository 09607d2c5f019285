"""Fault injection: a training run that dies by SIGKILL at a chosen point.

``Killer(kill_batch=N)`` kills the process after its N-th training batch;
``Killer(kill_write=N)`` kills it inside the N-th counted atomic write, with half of
the file in the temporary name and the rename never done (what a power cut leaves).
Writes are counted at ``netcoach.utils.io.atomic_path``, which every run-folder write
goes through (the report's plots and images included); ``under``, ``names`` and
``thread`` narrow which writes count and where they must happen.

``run_killed(overrides, ...)`` trains in a fresh interpreter (this file run as a
script) that must die by SIGKILL; ``Killer.install()`` patches the current process
(``bench/faults.py`` forks first).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Killer:
    """Where the run dies (0: never) and which writes count."""

    kill_batch: int = 0
    kill_write: int = 0
    under: Optional[str] = None   # count only writes below a folder of this name
    names: tuple = ()             # ... and whose file name contains one of these
    thread: Optional[str] = None  # the thread every counted write must happen on
    written: list = field(default_factory=list)  # names of the counted writes so far

    def counts(self, target: Path) -> bool:
        return ((self.under is None or self.under in target.parts)
                and (not self.names or any(n in target.name for n in self.names)))

    def install(self) -> list:
        """Patch this process's atomic writes; returns the callbacks to pass to ``netcoach.train``."""
        import netcoach
        from netcoach.report import images, plots
        from netcoach.utils import io

        real, killer = io.atomic_path, self

        @contextmanager
        def dying(target, *args, **kwargs):
            with real(target, *args, **kwargs) as tmp:
                yield tmp
                if not killer.counts(Path(target)):
                    return
                if killer.thread is not None:
                    assert threading.current_thread().name == killer.thread, \
                        f"{Path(target).name} written on thread {threading.current_thread().name}"
                killer.written.append(Path(target).name)
                if len(killer.written) == killer.kill_write:
                    with open(tmp, "r+b") as fh:
                        fh.truncate(tmp.stat().st_size // 2)
                    os.kill(os.getpid(), signal.SIGKILL)

        io.atomic_path = plots.atomic_path = images.atomic_path = dying

        class KillAtBatch(netcoach.Callback):
            seen = 0

            def on_batch_end(self, trainer, batch):
                KillAtBatch.seen += 1
                if KillAtBatch.seen == killer.kill_batch:
                    os.kill(os.getpid(), signal.SIGKILL)

        return [KillAtBatch()] if self.kill_batch else []


def run_killed(overrides: dict, timeout: float = 120, **where) -> subprocess.CompletedProcess:
    """Train ``overrides`` (``{"section.key": "value"}``) in a fresh interpreter with one
    torch thread and a ``Killer(**where)``; it must die by SIGKILL (its stderr otherwise)."""
    spec = {"overrides": overrides, "killer": asdict(Killer(**where))}
    proc = subprocess.run([sys.executable, __file__, json.dumps(spec)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=timeout)
    assert proc.returncode == -signal.SIGKILL, f"exit {proc.returncode}, not SIGKILL: {proc.stderr[-2000:]}"
    return proc


def _child(argv: list[str]) -> None:
    import torch

    torch.set_num_threads(1)
    import netcoach

    spec = json.loads(argv[0])
    killer = Killer(**{**spec["killer"], "names": tuple(spec["killer"]["names"])})
    callbacks = killer.install()
    netcoach.train(netcoach.load_config(overrides=spec["overrides"]), callbacks=callbacks, progress=False)


if __name__ == "__main__":
    _child(sys.argv[1:])
