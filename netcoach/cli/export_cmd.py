"""``netcoach export RUN --format onnx|torch-export|safetensors``: a run's model for use
outside netcoach, checked against PyTorch before it is written, with a model card."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console


def register(subparsers) -> None:
    from netcoach.export import DEFAULT_TOLERANCE, FORMATS

    p = subparsers.add_parser(
        "export", help="export a run's (or an ensemble's) model (ONNX, torch.export, safetensors) with a model card",
        description="Write the run's model as ONNX (checked in ONNX Runtime), a torch.export "
                    ".pt2 program or safetensors weights with a JSON sidecar, plus model_card.md "
                    "beside it. The file is written only if its outputs match PyTorch's on the "
                    "run's test samples within --tolerance.",
        allow_abbrev=False)
    p.add_argument("run_dir", metavar="RUN", help="the run folder (runs/<name>), or an ensemble folder (onnx, torch-export)")
    p.add_argument("--format", required=True, metavar="|".join(FORMATS), help="export format")
    p.add_argument("--out", metavar="PATH",
                   help="file to write (default: RUN/export/FORMAT/model.EXT; a folder gets model.EXT)")
    p.add_argument("--with-preprocessing", action="store_true",
                   help="fold the run's scaling and normalization into the graph: the file takes "
                        "inputs as stored (e.g. uint8 pixels)")
    p.add_argument("--probabilities", action="store_true",
                   help="end the graph with the task's post-processing (softmax probabilities)")
    p.add_argument("--which", default="best", metavar="best|last", help="checkpoint (default: best)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"largest allowed max abs difference to PyTorch (default: {DEFAULT_TOLERANCE:g})")
    p.add_argument("--samples", type=int, default=256, help="test samples the check runs (default: 256)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from netcoach.export import ExportCheckError, export_run

    console = Console(highlight=False, soft_wrap=True)  # paths stay whole for copy and paste
    try:
        result = export_run(args.run_dir, args.format, args.out,
                            with_preprocessing=args.with_preprocessing,
                            probabilities=args.probabilities, which=args.which,
                            tolerance=args.tolerance, samples=args.samples)
    except ExportCheckError as exc:
        print(f"netcoach: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:  # an optional exporter/runtime package is not installed
        print(f"netcoach: error: {exc}", file=sys.stderr)
        return 2
    console.print(f"check: {result.check.line()}")
    for path in result.files:
        console.print(f"wrote {path}")
    return 0
