"""``netcoach report <run>``: (re)build report.html from a run folder."""

from __future__ import annotations

import argparse

from rich.console import Console


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="(re)build a run's report.html from its folder",
        description="Build report.html (plots embedded, readable without a server) from what the "
                    "run folder holds; works for finished and crashed runs.",
        allow_abbrev=False)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from netcoach.report import write_report
    from netcoach.train.run import RunFolder

    console = Console()
    for folder in args.runs:
        run = RunFolder(folder)
        if run.path.is_dir():  # a missing folder gets write_report's "not a run folder"
            run.lock()  # a report of a run still training would read half-written records
        path = write_report(folder)
        run.release()
        console.print(f"report: {path}", highlight=False)
    return 0
