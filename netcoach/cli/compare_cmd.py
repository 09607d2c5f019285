"""``netcoach compare <run> <run> ...``: a table of runs and their differing config keys."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="compare runs side by side (table, differing config keys, curves)",
        description="Tabulate runs (test metrics, best validation value, parameters, epochs, time, "
                    "and every config key that differs), overlay their validation curves, and "
                    "write comparison.html / .md / .csv. RUN may be a glob such as 'runs/*'.",
        allow_abbrev=False)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders or glob patterns")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: <common parent of the runs>/comparison)")
    p.add_argument("--group-by", metavar="KEY[,KEY]", default=None,
                   help="also group the runs by these config keys (e.g. model.norm_position) and print "
                        "mean ± std of every metric per group (written to groups.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from netcoach.report import html
    from netcoach.report.compare import compare_runs, write_comparison

    comp = compare_runs(args.runs)
    grouping = _grouping(comp, args.group_by)
    files = write_comparison(comp, args.out)
    table = Table(title=f"{len(comp.runs)} runs")
    for i, col in enumerate(comp.columns):
        table.add_column(col, justify="left" if i == 0 or col in comp.differing else "right")
    for row in comp.rows:
        table.add_row(*(html.fmt(v) for v in row))
    console = Console()
    if not console.is_terminal:  # piped or captured: print the full table instead of eliding cells
        cells = [comp.columns] + [[html.fmt(v) for v in row] for row in comp.rows]
        console = Console(width=max(80, sum(max(len(r[i]) for r in cells) + 4 for i in range(len(comp.columns)))))
    console.print(table)
    differing = ", ".join(comp.differing) if comp.differing else "none (apart from run.*)"
    console.print(f"differing config keys: {differing}", highlight=False)
    if grouping is not None:
        files["groups"] = _print_groups(console, grouping, files["md"].parent)
    for kind, path in files.items():
        console.print(f"{kind}: {path}", highlight=False)
    return 0


def _grouping(comp, group_by):
    from netcoach.report.compare import group_runs

    if not group_by:
        return None
    return group_runs(comp, [k.strip() for k in group_by.split(",") if k.strip()])


def _print_groups(console: Console, grouping, out_dir):
    from netcoach.report import html
    from netcoach.report.compare import grouping_markdown
    from netcoach.utils.io import atomic_write_text

    table = Table(title=f"{len(grouping.rows)} groups by {', '.join(grouping.keys)} (mean ± std)")
    for i, col in enumerate(grouping.columns):
        table.add_column(col, justify="left" if i < len(grouping.keys) else "right")
    for row in grouping.rows:
        table.add_row(*(html.fmt(v) for v in row))
    console.print(table)
    path = out_dir / "groups.md"
    atomic_write_text(path, grouping_markdown(grouping))
    return path
