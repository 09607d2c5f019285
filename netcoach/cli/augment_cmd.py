"""``netcoach augment preview``: a PNG grid of training images under the configured pipeline."""

from __future__ import annotations

import argparse

from netcoach.cli.options import add_action, add_config_options, config_from_args


def register(subparsers) -> None:
    preview = add_action(
        subparsers, "augment", "look at the training augmentation",
        "preview", "write a PNG grid of training images as the model sees them",
        "Each row: a training image, then VIEWS independent draws of the configured "
        "augmentation (augment.transforms, in order, with their probabilities).")
    preview.add_argument("--out", default="augment_preview.png", help="PNG file to write "
                         "(default: %(default)s)")
    preview.add_argument("--samples", type=int, default=8, help="training images, one per row (default: 8)")
    preview.add_argument("--views", type=int, default=7, help="augmented draws per image (default: 7)")
    add_config_options(preview)
    preview.set_defaults(func=run_preview, takes_config=True)


def run_preview(args: argparse.Namespace) -> int:
    import torch

    from netcoach.augment.preview import augment_warnings, write_preview
    from netcoach.data import build_data

    if args.samples < 1 or args.views < 1:
        raise ValueError(f"--samples and --views must be >= 1, got {args.samples} and {args.views}")
    config = config_from_args(args)
    bundle = build_data(config, torch.device("cpu"))
    path = write_preview(args.out, bundle, config.augment, config.train.seed, args.samples, args.views)
    print(f"wrote {path} ({args.samples} images x {args.views} augmented views of "
          f"{', '.join(config.augment.transforms) or 'nothing'})")
    for warning in augment_warnings(config.augment, bundle.input_shape):
        print(f"warning: {warning}")
    return 0
