"""``netcoach lr-find``: sweep the learning rate, suggest one, write lr_find.json and a plot."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from rich.console import Console

from netcoach.cli.options import PREFIX, add_config_options, config_from_args
from netcoach.optim.lr_finder import RULES, default_lrs
from netcoach.train.lr_find import lr_find
from netcoach.train.resume import with_overrides
from netcoach.utils.io import atomic_write_json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "lr-find", help="find a learning rate: sweep it exponentially and plot the loss",
        description="Train one batch per learning rate from 10^start to 10^end (log-spaced), "
                    "record the (smoothed) loss, stop when it diverges and suggest a learning rate. "
                    "Model, optimizer and data order are left exactly as they were. Writes "
                    "lr_find.json and lr_find.png into --out (default: a new folder under run.dir).",
        allow_abbrev=False)
    p.add_argument("--out", metavar="DIR", help="output folder (default: <run.dir>/lr-find-<data>-<model>-<time>)")
    p.add_argument("--run", metavar="RUN", help="sweep with run folder RUN's config (flags still apply) and "
                                                "write lr_find.json into it, so its report shows the sweep")
    p.add_argument("--start-exp", type=float, default=-8.0, help="log10 of the first lr (default: -8)")
    p.add_argument("--end-exp", type=float, default=0.0, help="log10 of the last lr (default: 0)")
    p.add_argument("--num", type=int, default=200, help="number of learning rates, one batch each (default: 200)")
    p.add_argument("--smoothing", type=float, default=0.98, help="moving-average beta of the loss (default: 0.98)")
    p.add_argument("--diverge", type=float, default=4.0,
                   help="stop when the smoothed loss exceeds this multiple of its minimum (default: 4)")
    p.add_argument("--rule", choices=sorted(RULES), default="min/10",
                   help="how the suggestion is picked: " + "; ".join(f"{k}: {v}" for k, v in RULES.items()))
    add_config_options(p)
    p.set_defaults(func=run, takes_config=True)


EDGE = 0.05  # the lowest loss in the last 5% of the sweep: the sweep ended too early


def edge_warning(record: dict) -> str | None:
    """Why the suggestion cannot be trusted when the sweep's lowest smoothed loss is at its
    end (the loss may keep falling beyond the last lr) and the sweep was not stopped by a
    diverging loss; None otherwise."""
    smoothed = record["smoothed"]
    finite = [i for i, v in enumerate(smoothed) if math.isfinite(v)]
    if record["stopped_early"] or len(finite) < 3:
        return None
    low = min(finite, key=lambda i: smoothed[i])
    if low < len(smoothed) * (1 - EDGE) - 1:
        return None
    return (f"the lowest loss is at the end of the sweep (lr {record['lrs'][low]:.3g} of max "
            f"{record['lrs'][-1]:.3g}): the loss may still fall beyond it, so the suggestion is "
            "uncertain; extend the sweep with a larger --end-exp")


def run(args: argparse.Namespace) -> int:
    import netcoach
    from netcoach.train.run import RunFolder

    folder = RunFolder(args.run) if args.run else None
    if folder is not None and not folder.config_path.is_file():
        raise FileNotFoundError(f"--run {args.run}: no config.toml there; is it a netcoach run folder?")
    config = config_from_args(args) if folder is None else with_overrides(folder.config(), {
        k[len(PREFIX):]: v for k, v in vars(args).items() if k.startswith(PREFIX)})
    lrs = default_lrs(args.start_exp, args.end_exp, args.num)
    trainer = netcoach.build_trainer(config)
    record = lr_find(trainer, lrs, smoothing=args.smoothing, diverge=args.diverge, rule=args.rule)
    record["warning"] = edge_warning(record)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if folder is not None:
        out = folder.path
        folder.write_lr_find(record)
    else:
        out = Path(args.out) if args.out else Path(config.run.dir) / f"lr-find-{config.data.name}-{config.model.name}-{stamp}"
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "lr_find.json", record)
    from netcoach.report.plots import plot_lr_find

    console = Console(soft_wrap=True)
    console.print(f"plot: {plot_lr_find(record, out / 'lr_find.png')}", highlight=False)
    steps = len(record["lrs"])
    stop = " (stopped early: loss diverged)" if record["stopped_early"] else ""
    suggestion = "none" if record["suggestion"] is None else f"{record['suggestion']:.3g}"
    console.print(f"{steps} steps{stop}; suggested lr {suggestion} -- {record['rule']}", highlight=False)
    if record["warning"]:
        console.print(f"[yellow]warning: {record['warning']}[/yellow]", highlight=False)
    console.print(f"record: {out / 'lr_find.json'}", highlight=False)
    if folder is not None and (folder.report_path.exists() or config.report.enabled):
        from netcoach.report import write_report

        folder.lock()  # the report reads the whole folder: not while a run writes it
        try:
            console.print(f"report (with the sweep): {write_report(folder.path)}", highlight=False)
        finally:
            folder.release()
    return 0
