"""Fault injection: kill a training run at random points, resume it, compare every file.

One uninterrupted reference run, then ``--trials`` runs that each die by SIGKILL at a
random point and are resumed with ``netcoach.train(resume=...)``:

  batch   after a random training batch (mid-epoch, between checkpoints or not)
  write   inside a random file write of the run (checkpoint tensors, last.json, the
          weights of best/last/EMA, logs, summary, report.html and its plots): half
          of the file is in the temp name, the rename never happens
  report  inside a random write of the report (plots, report.html)
  twice   a random write, then again inside a random write of the resumed run
          (kills during resume), then a second resume

Each process is a ``fork`` of this one (torch is imported once), with one thread, so
the runs are deterministic. After the resume, every file of the run folder is compared
byte for byte with the reference, except what legitimately differs (``EXEMPT``, printed):
wall-clock times, the process id in ``.lock``, the time-stamped name of the state
tensor file, and ``resumed_from`` in the summary. The trial folder's path is replaced by
a placeholder first (``config.toml`` and the report name it).

Run: ``PYTHONPATH=. python bench/faults.py [--trials 50] [--seed 0]``; the last line is
the count of bit-identical resumed runs and the time it took.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the fault injector is the tests' own

import netcoach  # noqa: E402
from helpers.kill import Killer  # noqa: E402

OVERRIDES = {"model.name": "mlp", "model.width": "16", "train.epochs": "3", "schedule.name": "step",
             "schedule.step_size": "1", "schedule.gamma": "0.7", "checkpoint.every_steps": "5",
             "checkpoint.min_interval_s": "0",  # every checkpoint written: kills land between them
             "log.csv": "true", "average.ema": "true", "average.ema_decay": "0.9",
             "diagnose.preflight": "false", "report.enabled": "true", "train.threads": "1",
             "run.name": "run"}
STEPS = 3 * 17  # 3 epochs of digits' 1077 training images in batches of 64

# file (relative path, or a pattern) -> what legitimately differs in it
EXEMPT = {
    ".lock": "whole file: the PID of the process that last held the lock",
    "env.json": "'started' (the clock time) and 'git_revision' stay, only 'started' is removed",
    "metrics.jsonl": "'epoch_time', 'samples_per_s' of each row (wall times)",
    "metrics.csv": "the epoch_time and samples_per_s columns (wall times)",
    "summary.json": "'wall_time_s', and 'resumed_from' (only a resumed run has it); 'epoch_time', "
                    "'samples_per_s' inside its best/final rows",
    "checkpoints/*.json": "'elapsed' (training seconds so far) and the name of the state tensor file",
    "checkpoints/state/*.safetensors": "the file name (step + clock nanoseconds); the content is compared",
    "*.safetensors": "compared as tensors + metadata: safetensors writes its metadata map in "
                     "the order of a per-process hash map, so the header bytes may differ",
    "report.html": "the build time and build duration in the footer, and wall-time cells "
                   "(epoch_time, samples/s, wall time; table cells are blanked, numbers are "
                   "compared through the JSON records above)",
}
TIMES = ("epoch_time", "samples_per_s", "wall_time_s", "elapsed", "started", "resumed_from")


# ------------------------------------------------------------------ the dying run
def in_child(fn) -> int:
    """Run ``fn`` in a forked child; its exit status (negative: killed by that signal)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            torch.set_num_threads(1)
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported by the status
            print(f"child failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def train(folder: Path, kill_batch: int = 0, kill_write: int = 0) -> list[str]:
    """One run that dies after batch ``kill_batch`` or inside write ``kill_write`` (0: never);
    the file name of each of its writes, in order."""
    killer = Killer(kill_batch=kill_batch, kill_write=kill_write)  # every write counts
    config = netcoach.load_config(overrides={**OVERRIDES, "run.dir": str(folder)})
    netcoach.train(config, callbacks=killer.install(), progress=False)
    return killer.written


def resume(folder: Path, kill_write: int = 0) -> None:
    killer = Killer(kill_write=kill_write)
    netcoach.train(resume=folder / "run", callbacks=killer.install(), progress=False)


def count_writes(folder: Path) -> list[str]:
    """The file name of each write of a whole run, in order (the reference, in a child)."""
    out = folder / "writes.json"

    def run():
        out.write_text(json.dumps(train(folder)))

    assert in_child(run) == 0
    return json.loads(out.read_text())


# ------------------------------------------------------------------ comparing
def scrub(obj):
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if k not in TIMES and k != "tensors"}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


def normalized(run: Path, rel: str) -> object:
    """A file's content with the exempt parts removed (see ``EXEMPT``)."""
    path = run / rel
    if rel == ".lock":
        return None
    if rel.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, "pt") as fh:
            return (fh.metadata(), {k: fh.get_tensor(k).numpy().tobytes() for k in sorted(fh.keys())})
    data = path.read_bytes()
    try:
        text = data.decode("utf-8").replace(str(run.parent), "<TRIAL>")
    except UnicodeDecodeError:
        return data
    if rel.endswith(".json"):
        return scrub(json.loads(text))
    if rel.endswith(".jsonl"):
        return [scrub(json.loads(line)) for line in text.splitlines()]
    if rel.endswith(".csv"):
        rows = [line.split(",") for line in text.splitlines()]
        drop = {i for i, c in enumerate(rows[0]) if c in TIMES} if rows else set()
        return [[c for i, c in enumerate(r) if i not in drop] for r in rows]
    if rel == "report.html":
        import re

        text = re.sub(r"built \d{4}-\d\d-\d\d \d\d:\d\d:\d\d in [\d.]+ s", "built <TIME>", text)
        text = re.sub(r"<b>[^<]*</b><span>wall time", "<b/><span>wall time", text)
        return re.sub(r"<td>[^<]*</td>", "<td/>", text)  # table cells hold wall times
    return text


def files(run: Path) -> dict[str, object]:
    out = {}
    for path in sorted(run.rglob("*")):
        if path.is_file():
            rel = path.relative_to(run).as_posix()
            key = "checkpoints/state/<tensors>" if rel.startswith("checkpoints/state/") else rel
            out[key] = normalized(run, rel)
    return out


def differences(reference: dict, run: Path) -> list[str]:
    got = files(run)
    names = sorted(set(reference) | set(got))
    return [n for n in names if reference.get(n, "<missing>") != got.get(n, "<missing>")]


# ------------------------------------------------------------------ main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="netcoach-faults-"))
    names = count_writes(root / "reference")
    writes = len(names)
    report_from = names.index("summary.json") + 1  # the report's writes come after the summary
    reference = files(root / "reference" / "run")
    print(f"reference run: {writes} file writes ({writes - report_from} of them the report's), "
          f"{STEPS} batches, {len(reference)} files")
    print("exempt from the byte comparison:")
    for name, why in EXEMPT.items():
        print(f"  {name}: {why}")
    identical, failures, kinds, in_report = 0, [], {}, 0
    for t in range(args.trials):
        kind = ("batch", "write", "twice", "batch", "report")[t % 5]
        folder = root / f"trial-{t:03d}"
        point = (rng.randint(2, STEPS - 1) if kind == "batch" else
                 rng.randint(report_from + 1, writes) if kind == "report" else rng.randint(1, writes - 1))
        status = in_child(lambda: train(folder, *((point, 0) if kind == "batch" else (0, point))))
        where = f"{kind} {point}" + ("" if kind == "batch" else f" ({names[point - 1]})")
        in_report += kind != "batch" and point > report_from
        if kind == "twice" and status == -9:
            second = rng.randint(1, 12)
            status2 = in_child(lambda: resume(folder, second))
            where += f", then write {second} of the resume ({'killed' if status2 == -9 else 'finished'})"
        done = in_child(lambda: resume(folder)) if status == -9 else status
        diff = differences(reference, folder / "run") if done == 0 else [f"resume exit status {done}"]
        kinds[kind] = kinds.get(kind, 0) + 1
        if status != -9:
            diff = diff or []
            where += " (the run finished before the kill point)"
        if diff:
            failures.append(f"  trial {t} killed at {where}: differs in {', '.join(diff)}")
        else:
            identical += 1
    for line in failures:
        print(line)
    elapsed = time.perf_counter() - started
    print(f"kills: {', '.join(f'{n} {k}' for k, n in kinds.items())} ({in_report} during report "
          f"writes); folder {root}")
    print(f"{identical}/{args.trials} resumed runs bit-identical to the uninterrupted run over every "
          f"file of the run folder, in {elapsed:.0f} s")
    return 0 if identical == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
