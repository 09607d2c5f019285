"""Screenshots for docs/, rendered by headless Chromium: the report of a digits run (with an
LR-finder sweep added by ``lr-find --run``), the report of a run on a CIFAR-10 image folder
(a small subset), and a compare page. Each page is checked as the browser test checks it
(``report.legibility``: overlapping, cut or tiny text; console errors); exits 1 on a problem.

    python bench/report_screenshots.py [--cifar FOLDER] [--work DIR]

``--cifar`` is a folder with one sub-folder per class (default: a subset of
../shared/datasets/cifar10 unpacked into --work, 100 images per class).
"""

from __future__ import annotations

import argparse
import sys
import tarfile
from pathlib import Path

import netcoach
from netcoach.cli import main as cli
from netcoach.report.browser import Browser
from netcoach.report.compare import compare_runs, write_comparison
from netcoach.report.entry import write_report
from netcoach.report.legibility import check_page

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CIFAR_TAR = ROOT.parent / "shared" / "datasets" / "cifar10" / "cifar10-train-jpeg.tar.gz"
PER_CLASS = 100


def cifar_subset(work: Path) -> Path:
    """``PER_CLASS`` images per class of the shared CIFAR-10 folder, unpacked once into ``work``."""
    out = work / "cifar-subset"
    if out.is_dir():
        return out / "train"
    wanted = {f"{i:04d}.jpg" for i in range(PER_CLASS)}
    with tarfile.open(CIFAR_TAR) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.rsplit("/", 1)[-1] in wanted]
        tar.extractall(out, members=members, filter="data")
    return out / "train"


def train(runs: Path, name: str, **overrides) -> Path:
    """A finished run of that name in ``runs`` (kept from an earlier call; its report rebuilt
    by this code), else a new one."""
    if (runs / name / "summary.json").exists():
        write_report(runs / name)
        return runs / name
    cfg = netcoach.load_config(overrides={"model.name": "cnn", "model.width": "16", "run.dir": str(runs),
                                          "run.name": name, **overrides})
    return netcoach.train(cfg, progress=False).run_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", type=Path, help="image folder (one sub-folder per class)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/netcoach-shots"),
                        help="where the runs and the CIFAR subset go (default: %(default)s)")
    args = parser.parse_args()
    runs = args.work / "runs"  # delete it to train the runs again
    digits = train(runs, "digits-adam", **{"train.epochs": "8", "augment.transforms": "crop,cutout"})
    if not (digits / "lr_find.json").exists():
        cli(["lr-find", "--run", str(digits), "--num", "120", "--end-exp", "1"])
    same = train(runs, "digits-adam-again", **{"train.epochs": "8", "augment.transforms": "crop,cutout"})
    sgd = train(runs, "digits-sgd", **{"train.epochs": "8", "optim.name": "momentum", "optim.lr": "0.05",
                                       "augment.transforms": "crop", "augment.crop_padding": "1"})
    cifar = train(runs, "cifar-folder", **{"data.name": "folder", "train.epochs": "10",
                                           "data.path": str(args.cifar or cifar_subset(args.work)),
                                           "augment.transforms": "hflip,crop"})
    pages = {"report-digits.png": digits / "report.html", "report-cifar.png": cifar / "report.html",
             "compare-digits.png": write_comparison(compare_runs([digits, same, sgd]),
                                                    runs / "comparison")["html"]}
    problems = 0
    with Browser() as browser:
        for png, page in pages.items():
            result = check_page(page, 1280, 900, screenshot=DOCS / png, browser=browser)
            problems += len(result.problems)
            print(f"{DOCS / png}: {result.images} pictures, {result.texts} text boxes checked; "
                  f"problems: {result.problems or 'none'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
