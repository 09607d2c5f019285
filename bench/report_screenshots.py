"""Screenshots of a digits run's report and of a compare page, rendered by headless Chromium,
for docs/ (docs/report-digits.png, docs/compare-digits.png). Prints any console errors.

    python bench/report_screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import netcoach
from netcoach.report.browser import screenshot
from netcoach.report.compare import compare_runs, write_comparison

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="netcoach-shots-") as tmp:
        runs = []
        for name, over in (("adam", {}), ("sgd", {"optim.name": "momentum", "optim.lr": "0.05"})):
            cfg = netcoach.load_config(overrides={"model.name": "cnn", "model.width": "16",
                                                  "train.epochs": "6", "run.dir": tmp, "run.name": name,
                                                  **over})
            runs.append(netcoach.train(cfg, progress=False).run_dir)
        pages = {"report-digits.png": runs[0] / "report.html",
                 "compare-digits.png": write_comparison(compare_runs(runs), Path(tmp) / "cmp")["html"]}
        errors = 0
        for png, page in pages.items():
            shot = screenshot(page, DOCS / png, 1280, 2400)
            errors += len(shot.console)
            print(f"{DOCS / png}: console errors {shot.console or 'none'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
