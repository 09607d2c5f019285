"""``netcoach train``: train a model as configured and write a run folder."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from rich.console import Console

from netcoach.cli.options import PREFIX, add_config_options, chosen_recipe, config_from_args
from netcoach.distributed.launch import LaunchError, launch, recorded
from netcoach.distributed.setup import check_config, init_runtime, launched, shutdown
from netcoach.train.callbacks import Callback


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model and write a run folder",
        description="Train a model as configured (defaults <- --config file <- --section.key flags), "
                    "evaluate the best checkpoint on the test split, and write runs/<name>/.",
        allow_abbrev=False)
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    p.add_argument("--resume", metavar="RUN",
                   help="continue the run in folder RUN from its last checkpoint (also mid-epoch) "
                        "with its own config; only --train.epochs and logging/report flags may change")
    add_config_options(p)
    p.set_defaults(func=run, takes_config=True)


def run(args: argparse.Namespace) -> int:
    from netcoach.api import resume_config

    if args.resume:
        overrides = {k[len(PREFIX):]: v for k, v in vars(args).items() if k.startswith(PREFIX)}
        config = resume_config(args.resume, overrides=overrides)
    else:
        config = config_from_args(args)
    check_config(config)
    if config.ensemble.members > 1 and not args.resume:
        return run_members(config, not args.quiet)
    if config.dist.nproc > 1 and not launched():  # this process becomes the launcher
        try:
            launch(config.dist.nproc, args.argv)
        except LaunchError as err:
            print(f"netcoach: error: {err}", file=sys.stderr)
            return 1
        return 0
    return (recorded(train_here) if launched() else train_here)(args, config)


def train_here(args: argparse.Namespace, config) -> int:
    """Train in this process (one of a launched job's, or the only one); only the main
    process shows progress and the outcome."""
    import netcoach

    from netcoach.diagnose import PreflightFailed

    runtime = init_runtime(config)
    console = Console(soft_wrap=True, highlight=False)
    recipe, picked = (None, False) if args.resume else chosen_recipe(args)
    if recipe is not None and runtime.is_main:
        why = (f"the fast recipe for {recipe.dataset}; give --model.name to choose the model yourself"
               if picked else "--recipe")
        console.print(f"recipe: {recipe.name} ({why}): {recipe.summary}")
    reporter = StartReporter(console, quiet=args.quiet) if runtime.is_main else None
    ctrl_c = [] if launched() else [CtrlC(console)]  # a launched job's launcher owns Ctrl-C
    try:
        result = netcoach.train(config, progress=not args.quiet and runtime.is_main,
                                resume=args.resume, runtime=runtime, reporter=reporter,
                                callbacks=ctrl_c)
    except PreflightFailed as err:
        print(f"netcoach: error: {err}", file=sys.stderr)
        return 1
    finally:
        if reporter is not None:
            reporter.close()
        shutdown()
    if runtime.is_main:
        print_outcome(console, result)
    if result.summary.get("interrupted"):
        return INTERRUPTED
    return 1 if result.summary.get("failure") else 0


def run_members(config, progress: bool) -> int:
    """``--ensemble.members K``: K seeds one after another (each outcome printed as it ends),
    then their ensemble."""
    from netcoach.cli.ensemble_cmd import print_ensemble
    from netcoach.ensemble.seeds import train_members

    console = Console(soft_wrap=True, highlight=False)
    failed = []

    def on_run(result) -> None:
        print_outcome(console, result)
        failed.extend([result.run_dir] if result.summary.get("failure") else [])

    result = train_members(config, progress=progress, on_run=on_run)
    console.print(f"group: {result.group.group_dir}")
    print_ensemble(console, result.ensemble.summary, result.ensemble.path)
    return 1 if failed else 0


INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


class CtrlC(Callback):
    """Ctrl-C during training: the first asks the trainer to stop after the current step
    (the API then writes the checkpoint, summary and report), the second exits at once.
    The handler is installed only while ``fit`` runs; outside it Ctrl-C behaves as usual.

    The handler itself prints nothing: a signal arrives in the middle of whatever the main
    thread does, also inside the live progress display's own write, and a line printed there
    garbles the display. Its message is printed at the next batch boundary instead, through
    ``sys.stderr``: while the progress display (a console of its own) is live, rich routes that
    stream above the bars, where a second console's output would land between them and be
    erased with them."""

    MESSAGE = "interrupt: stopping after the current step and saving (Ctrl-C again to exit at once)"

    def __init__(self, console: Console):
        self.console, self.trainer, self.previous, self.pending = console, None, None, False

    def on_fit_start(self, trainer) -> None:
        self.trainer = trainer
        self.previous = signal.signal(signal.SIGINT, self.handle)

    def on_batch_end(self, trainer, batch: dict) -> None:
        self._say()

    def on_fit_end(self, trainer, logs: dict) -> None:
        signal.signal(signal.SIGINT, self.previous or signal.default_int_handler)
        self._say()

    def _say(self) -> None:
        if self.pending:
            self.pending = False
            print(self.MESSAGE, file=sys.stderr, flush=True)

    def handle(self, signum, frame) -> None:
        if self.trainer.interrupted:
            raise KeyboardInterrupt  # the second Ctrl-C: exit now (netcoach.cli exits 130)
        self.trainer.interrupt()
        self.pending = True


class StartReporter:
    """Prints what ``train`` does before epoch 1: the slow steps as they start, a bar while a
    large image folder is decoded, the compact preflight block (one line per warn/fail with
    its fix), and where a resumed run continues."""

    STYLE = {"warn": "yellow", "fail": "bold red"}
    DECODE_BAR_MIN = 2000  # images; a smaller folder decodes in about a second, without a bar

    def __init__(self, console: Console, quiet: bool = False):
        self.console, self.quiet = console, quiet
        self.decoding = None  # the decode bar while image files are decoded
        self._decode_task, self._decode_start = None, 0.0

    def __call__(self, event: str, value) -> None:
        from rich.markup import escape

        from netcoach.diagnose import summary_lines

        if event == "stage" and not self.quiet:
            self.console.print(f"[dim]{escape(value)} ...[/dim]")
        elif event == "decode" and not self.quiet and value["total"] >= self.DECODE_BAR_MIN:
            self.decoded(value["done"], value["total"])
        elif event == "preflight":
            flagged = [c for c in value if c["status"] != "pass"]
            lines = summary_lines(value)
            if self.quiet and not flagged:
                return
            self.console.print(escape(lines[0]))
            for check, line in zip(flagged, lines[1:]):
                self.console.print(f"[{self.STYLE.get(check['status'], '')}]{escape(line)}[/]")
        elif event == "resume":
            where = (f", batch {value['batches_done'] + 1} of {value['batches']}"
                     if value.get("batches_done") else "")
            self.console.print(f"resuming at epoch {value['epoch'] + 1}{where} (after optimizer step "
                               f"{value['step']})")


    def decoded(self, done: int, total: int) -> None:
        """The decode bar (transient: it leaves one summary line when the folder is done)."""
        if self.decoding is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.decoding = Progress(TextColumn("decoding images"), BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), console=self.console, transient=True)
            self.decoding.start()
            self._decode_task = self.decoding.add_task("decode", total=total)
            self._decode_start = time.perf_counter()
        self.decoding.update(self._decode_task, completed=done)
        if done >= total:
            self.close()
            took = max(time.perf_counter() - self._decode_start, 1e-9)
            self.console.print(f"[dim]decoded {total:,} images in {took:.1f} s ({total / took:,.0f} "
                               f"images/s)[/dim]")

    def close(self) -> None:
        """Stop a decode bar that an error left open, so the terminal is left clean."""
        if self.decoding is not None:
            self.decoding.stop()
            self.decoding = None


def print_outcome(console: Console, result) -> None:
    """Notes, test metrics, weight averages, the doctor's findings and where the run is."""
    summary = result.summary
    for note in summary.get("notes", []):
        console.print(note)
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in summary["test"].items())
    console.print(f"best epoch {summary['best_epoch']}  {metrics}")
    for kind, values in summary.get("averages", {}).items():
        console.print(f"{kind}: " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))
    snap = summary.get("snapshots")
    if snap:
        key = snap["primary"]
        console.print(f"snapshot ensemble of {len(snap['members'])}: {key} {snap['ensemble'][key]:.4f}  "
                      f"(final weights alone {snap['final'][key]:.4f})")
    distill = summary.get("distill")
    if distill:
        key, t = distill["primary"], distill["teacher"]
        base = distill.get("baseline")
        console.print(f"distillation: teacher {key} {t['test'][key]:.4f} ({t['parameters']:,} parameters)"
                      + (f"  from scratch {base['test'][key]:.4f}" if base else "")
                      + f"  distilled {summary['test'][key]:.4f} ({summary['parameters']:,} parameters)")
    for finding in summary.get("doctor", []):
        console.print(f"doctor: [bold]{finding['label']}[/bold] — {finding['evidence']}")
        for remedy in finding.get("remedies", [])[:3]:
            console.print(f"  try: {remedy}")
    stopped = summary.get("interrupted")
    if stopped:
        console.print(f"[yellow]interrupted in epoch {stopped['epoch'] + 1} after optimizer step "
                      f"{stopped['step']} (checkpoint, summary and report written)[/yellow]")
        if stopped.get("resume"):
            console.print(f"resume with: {stopped['resume']}")
    if summary.get("failure"):
        console.print(f"[red]training stopped: {summary['failure']}[/red]")
    if result.run_dir is not None:
        report = result.run_dir / "report.html"
        if report.exists():
            console.print(f"report: {report}")
        console.print(f"run folder: {result.run_dir}")
