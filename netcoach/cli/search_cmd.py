"""``netcoach search``: a hyperparameter study on Optuna over a search-space file."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from netcoach.cli.options import add_config_options, config_from_args


def register(subparsers) -> None:
    from netcoach.experiments.spec import PRUNERS, SAMPLERS

    p = subparsers.add_parser(
        "search", help="hyperparameter search on Optuna (grid, random, TPE; pruning; workers)",
        description="Search the config keys of --space (TOML: \"optim.lr\" = {log_uniform = [1e-4, 1e-1]}, "
                    "uniform, int, choice) around the base config. Every trial's runs are ordinary run "
                    "folders under <run.dir>/<study>/; running the same command again resumes the study, "
                    "and more workers (other machines too) join it by running it against the same storage.",
        allow_abbrev=False)
    p.add_argument("--space", required=True, metavar="FILE", help="search-space TOML file")
    p.add_argument("--study", metavar="NAME", help="study name and folder (default: the space file's name)")
    p.add_argument("--sampler", default="tpe", choices=SAMPLERS, help="how trials are chosen (default: tpe)")
    p.add_argument("--pruner", default="none", choices=PRUNERS,
                   help="stop unpromising trials early on the per-epoch validation metric (default: none)")
    p.add_argument("--trials", type=int, metavar="N", help="trials of the study in all (finished or running)")
    p.add_argument("--timeout", type=float, metavar="S", help="stop starting trials after S seconds")
    p.add_argument("--seeds", type=int, default=1, metavar="K",
                   help="runs per trial with seeds train.seed .. +K-1; the trial's value is their mean")
    p.add_argument("--workers", type=int, default=1, metavar="W", help="worker processes on this machine")
    p.add_argument("--storage", metavar="URL",
                   help="journal file path or RDB URL such as postgresql://user@host/db "
                        "(default: <run.dir>/<study>/study.journal)")
    p.add_argument("--sampler-seed", type=int, default=0, metavar="SEED", help="seed of the sampler")
    p.add_argument("--grid-points", type=int, default=3, metavar="P",
                   help="values per range dimension of the grid sampler (default: 3)")
    p.add_argument("--retry-failed", action="store_true",
                   help="re-run failed trials (e.g. of a killed worker) with the same parameters")
    p.add_argument("--heartbeat", type=float, default=10.0, metavar="S",
                   help="seconds between a running trial's heartbeats; another host's trial without "
                        "one for 3 intervals is marked failed (default: 10)")
    p.add_argument("--no-report", action="store_true", help="do not write study.html at the end")
    p.add_argument("--progress", action="store_true", help="show each run's progress bar")
    add_config_options(p)
    p.set_defaults(func=run, takes_config=True)


def run(args: argparse.Namespace) -> int:
    import optuna

    from netcoach.experiments.space import load_space
    from netcoach.experiments.spec import StudySpec
    from netcoach.experiments.study import WorkerError, run_study
    from netcoach.experiments.study_report import write_study_report

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = config_from_args(args)
    spec = StudySpec(name=args.study or Path(args.space).stem, base=base, space=load_space(args.space, base),
                     sampler=args.sampler, pruner=args.pruner, trials=args.trials, timeout=args.timeout,
                     seeds=args.seeds, storage=args.storage, sampler_seed=args.sampler_seed,
                     grid_points=args.grid_points, retry_failed=args.retry_failed,
                     heartbeat_s=args.heartbeat)
    console = Console(soft_wrap=True, highlight=False)
    try:
        study = run_study(spec, args.workers, on_trial=lambda t: console.print(trial_line(t)),
                          progress=args.progress)
    except WorkerError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    print_outcome(console, study)
    if not args.no_report:
        console.print(f"study report: {write_study_report(spec)}")
    console.print(f"study folder: {spec.folder}")
    return 0


def trial_line(trial) -> str:
    value = "" if trial.value is None else f" value {trial.value:.4f}"
    params = "  ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    reason = trial.user_attrs.get("fail_reason")
    extra = f"  ({reason})" if reason and trial.state.name == "FAIL" else ""
    return f"trial {trial.number:>3} {trial.state.name:<8}{value}  {params}{extra}"


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_outcome(console: Console, study) -> None:
    from collections import Counter

    from netcoach.report.stats import spread

    counts = Counter(t.state.name for t in study.trials)
    console.print("trials: " + ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items())))
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not done:
        console.print("no trial completed")
        return
    best = study.best_trial
    values = best.user_attrs.get("values") or [best.value]
    console.print(f"best trial {best.number}: {spread(values).text()}  "
                  + "  ".join(f"{k}={_short(v)}" for k, v in best.params.items()))
