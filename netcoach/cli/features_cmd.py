"""``netcoach features``: a run's backbone features for every split, optionally fed to scikit-learn."""

from __future__ import annotations

import argparse

from rich.console import Console

from netcoach.cli.options import PREFIX, add_config_options
from netcoach.config import ConfigError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "features", help="write a run's backbone features (+ labels) and try a scikit-learn classifier",
        description="Compute the backbone features of RUN's best weights for the train, val and test "
                    "splits of the run's data (or of --data.* flags), write them to --out as .npz "
                    "(train_x, train_y, val_x, ...), and with --classifier train that scikit-learn "
                    "classifier on the training features and print its accuracy next to the head's.",
        allow_abbrev=False)
    p.add_argument("run", metavar="RUN", help="run folder whose backbone computes the features")
    p.add_argument("--out", metavar="FILE.npz", help="where to write the features (default: none written)")
    p.add_argument("--classifier", choices=("logreg", "svm", "knn", "rf"),
                   help="train this scikit-learn classifier on the training features")
    add_config_options(p)
    p.set_defaults(func=run, takes_config=True)


def run(args: argparse.Namespace) -> int:
    from netcoach.tasks import build_task
    from netcoach.transfer.features import fit_classifier, run_data_config, split_features, write_npz

    if args.config:
        raise ConfigError("features: --config is not used (the run's own config.toml is); give "
                          "changes such as the new data as --data.* flags")
    overrides = {k[len(PREFIX):]: v for k, v in vars(args).items() if k.startswith(PREFIX)}
    config = run_data_config(args.run, overrides)
    splits = split_features(args.run, config)
    console = Console(soft_wrap=True, highlight=False)
    dims = {split: tuple(f.shape) for split, (f, _, _) in splits.items()}
    console.print("features: " + "  ".join(f"{s} {d[0]}x{d[1]}" for s, d in dims.items()))
    if args.out:
        write_npz(args.out, splits)
        console.print(f"written: {args.out}")
    if args.classifier:
        task = build_task(config.task, config.loss)
        result = fit_classifier(args.classifier, splits, config.train.seed, not task.targets_are_inputs)
        for split in ("val", "test"):
            if result[f"{split}_acc"] is not None:
                head = result[f"head_{split}_acc"]
                console.print(f"{split}: {args.classifier} {result[f'{split}_acc']:.4f}"
                              + (f"  network head {head:.4f}" if head is not None else ""))
    return 0
