"""``netcoach predict RUN INPUT...``: predictions of a finished run for new inputs, as CSV."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="predict with a finished run (images, a folder, a CSV or an npz) into a CSV",
        description="Apply the run's model and its stored data handling (normalization, CSV "
                    "preprocessing) to new inputs: image files, folders of images, a .csv with the "
                    "training columns, or an .npz with an array x. Writes one CSV row per input: the "
                    "predicted class and each class's probability, or the predicted values.",
        allow_abbrev=False)
    p.add_argument("run", help="run folder written by netcoach train, or an ensemble folder (netcoach ensemble)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image file, folder, .csv or .npz")
    p.add_argument("--out", metavar="FILE", help="write the CSV here (default: standard output)")
    p.add_argument("--which", default="best", help="checkpoint: best (default) or last (an ensemble: the one it was built from)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from netcoach.predict import prediction_table
    from netcoach.utils.io import atomic_write_text

    table, notes = prediction_table(args.run, args.inputs, which=args.which)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    text = table.to_csv(index=False)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"{len(table)} predictions written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
