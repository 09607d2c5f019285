"""Distillation on a CIFAR-10 subset: a small CNN student, distilled from a 15x larger CNN
teacher, against the same student trained from scratch (mean of 3 seeds).

The data is ``--per-class`` images of each class from the shared CIFAR-10 training folder
(``../shared/datasets/cifar10``, JPEG), unpacked once into ``--cache``, read with netcoach's
``folder`` source, split 70 / 10 / 20 into train / validation / a held-out test split
(stratified, split seed 0). Every run uses that same split.

- teacher: ``cnn`` width 256 (64-128-256 channels, about 372k parameters), flips and crops,
  one-cycle Adam; trained once and kept in ``--cache`` (reused while its config is the same,
  like the from-scratch students, which ``--scratch-only`` can train beside it);
- student: ``cnn`` width 64 (16-32-64 channels, about 24k parameters, < 1/10 of the
  teacher's), no augmentation, so the teacher's logits are computed once per training image
  and cached for the whole run (the summary says so); from scratch and distilled (T 4, alpha
  0.7) with seeds 0, 1, 2, the distilled run given its from-scratch twin as
  ``distill.baseline`` so its summary holds teacher, baseline and student side by side.

Printed: teacher and student parameters and test accuracies, each seed, and the gain of
the distilled students' mean over the from-scratch mean last (goal: >= 0.5 points).

Run: ``PYTHONPATH=. nice -n 10 python bench/distill.py [--per-class 2000] [--epochs 6]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import netcoach  # noqa: E402
from netcoach.train.run import RunFolder  # noqa: E402

ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10" / "cifar10-train-jpeg.tar.gz"
CACHE = Path("/work/cache/ensembles2")


def subset_folder(cache: Path, per_class: int) -> Path:
    """``cache/cifar10-<per_class>pc/<class>/<NNNN>.jpg``: the first ``per_class`` images of each
    class of the archive, extracted once (written under a temporary name, renamed when complete)."""
    target = cache / f"cifar10-{per_class}pc"
    if target.is_dir():
        return target
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".cifar10-"))
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if member.isfile() and len(parts) >= 3 and parts[-1].endswith(".jpg") \
                    and int(Path(parts[-1]).stem) < per_class:
                dest = tmp / parts[-2] / parts[-1]
                dest.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
    tmp.rename(target)
    return target


def base(data: Path, cache: Path, runs: Path, epochs: int) -> dict:
    return {"data.name": "folder", "data.path": str(data), "data.cache_dir": str(cache / "decode"),
            "data.val_fraction": "0.1", "data.test_fraction": "0.2", "data.batch_size": "128",
            "data.download": "false", "model.name": "cnn", "optim.name": "adam", "optim.lr": "0.003",
            "schedule.name": "onecycle", "train.epochs": str(epochs), "run.dir": str(runs),
            "diagnose.preflight": "false", "diagnose.monitor": "false", "report.enabled": "false",
            "log.steps": "false"}


def train(over: dict, **extra):
    return netcoach.train(netcoach.load_config(overrides={**over, **extra}), progress=False)


def cached_run(over: dict, cache: Path, name: str, **extra) -> Path:
    """A finished run of ``over`` + ``extra`` in ``cache/runs/<name>-<hash of its overrides>``,
    trained when absent. Every run is cached, so the work can be shared by processes: the
    from-scratch students need no teacher (``--scratch-only`` trains them while the teacher
    trains), and ``--seed`` runs one seed's students. The key is the overrides, not the code:
    clear the cache after changing netcoach."""
    key = {k: v for k, v in {**over, **extra}.items() if k != "run.dir"}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache / "runs" / f"{name}-{digest}"
    if (folder / "summary.json").is_file():
        print(f"{name}: cached {folder}")
        return folder
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted training: start over
    started = time.perf_counter()
    run = train({**over, "run.dir": str(folder.parent)}, **extra, **{"run.name": folder.name}).run_dir
    print(f"{name}: trained {run} in {time.perf_counter() - started:.0f} s")
    return run


TEACHER = {"model.width": "256", "augment.transforms": "hflip,crop", "train.seed": "0"}
STUDENT = {"model.width": "64", "train.threads": "1"}  # one thread: small convs on a busy machine


def acc(metrics: dict) -> float:
    return 100 * metrics["test_acc"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=2000)
    parser.add_argument("--teacher-epochs", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=6, help="student epochs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed", type=int, help="only this seed (several processes can share the seeds; "
                                                  "a last run without --seed prints all from the cache)")
    parser.add_argument("--temperature", default="4")
    parser.add_argument("--alpha", default="0.7")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--teacher-only", action="store_true", help="train (or find) the teacher and stop")
    parser.add_argument("--scratch-only", action="store_true",
                        help="train (or find) the from-scratch students and stop (no teacher needed)")
    args = parser.parse_args()
    if not ARCHIVE.is_file():
        print(f"CIFAR-10 not found at {ARCHIVE}; this benchmark needs the shared datasets")
        return 1
    started = time.perf_counter()
    args.cache.mkdir(parents=True, exist_ok=True)
    data = subset_folder(args.cache, args.per_class)
    with tempfile.TemporaryDirectory() as tmp:
        over = base(data, args.cache, Path(tmp), args.epochs)
        seeds = [args.seed] if args.seed is not None else list(range(args.seeds))
        if args.scratch_only:
            for seed in seeds:
                cached_run(over, args.cache, f"scratch-{seed}", **STUDENT, **{"train.seed": str(seed)})
            return 0
        teacher = cached_run(over, args.cache, "teacher", **TEACHER, **{"train.epochs": str(args.teacher_epochs)})
        t_summary, t_config = RunFolder(teacher).summary(), RunFolder(teacher).config()
        print(f"teacher: cnn width 256, {t_summary['parameters']:,} parameters, {t_config.train.epochs} epochs "
              f"as its config.toml records, test_acc {acc(t_summary['test']):.2f}% ({args.per_class * 10} images, "
              f"20% held out for test)")
        if args.teacher_only:
            return 0
        distill = {"distill.teacher": str(teacher), "distill.temperature": args.temperature,
                   "distill.alpha": args.alpha}
        print(f"students: cnn width 64, no augmentation, {args.epochs} epochs, T {args.temperature}, "
              f"alpha {args.alpha}, seeds {', '.join(map(str, seeds))}")
        scratch, distilled = [], []
        for s in seeds:
            a = cached_run(over, args.cache, f"scratch-{s}", **STUDENT, **{"train.seed": str(s)})
            b = RunFolder(cached_run(over, args.cache, f"distilled-{s}", **STUDENT, **distill,
                                     **{"train.seed": str(s), "distill.baseline": str(a)})).summary()
            d = b["distill"]  # teacher, baseline and distilled student side by side, as the report shows
            scratch.append(acc(d["baseline"]["test"]))
            distilled.append(acc(b["test"]))
            print(f"  seed {s}: teacher {acc(d['teacher']['test']):.2f}% ({d['teacher']['parameters']:,} "
                  f"parameters)  from scratch {scratch[-1]:.2f}% ({d['baseline']['parameters']:,})  "
                  f"distilled {distilled[-1]:.2f}% ({b['parameters']:,} = 1/"
                  f"{d['teacher']['parameters'] / b['parameters']:.1f} of the teacher; "
                  f"teacher logits {d['teacher_logits']})")
        gain = statistics.mean(distilled) - statistics.mean(scratch)
        print(f"  mean of {len(seeds)}: from scratch {statistics.mean(scratch):.2f}%  distilled "
              f"{statistics.mean(distilled):.2f}%")
        print(f"total {time.perf_counter() - started:.0f} s (runs found in the cache took none)")
        print(f"gain of distillation: {gain:+.2f} points (goal >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
