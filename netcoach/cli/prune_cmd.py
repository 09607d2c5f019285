"""``netcoach prune``: iterative magnitude pruning of a run, fine-tuning after each round."""

from __future__ import annotations

import argparse

from rich.console import Console


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prune", help="prune a run's weights by magnitude in rounds, fine-tuning after each",
        description="Globally prune the smallest-magnitude weights of RUN's best model (conv and linear "
                    "weights; biases and norms are kept) in --rounds rounds to --amount sparsity, "
                    "fine-tuning --finetune-epochs after each round with the run's recipe. Writes "
                    "OUT/prune.json (sparsity per layer, metrics per round), one run folder per round "
                    "and OUT/pruned.safetensors (pruning made permanent). Running it again with the "
                    "same settings continues an interrupted job.",
        allow_abbrev=False)
    p.add_argument("run", metavar="RUN", help="run folder to prune")
    p.add_argument("--amount", type=float, default=0.9, help="final fraction of prunable weights removed (default: 0.9)")
    p.add_argument("--rounds", type=int, default=3, help="pruning rounds (default: 3)")
    p.add_argument("--finetune-epochs", type=int, default=2, help="epochs of fine-tuning per round (default: 2)")
    p.add_argument("--rewind-epoch", type=int, default=None,
                   help="lottery ticket: reset the surviving weights to the run's epoch K (0: its init) "
                        "before each round's training")
    p.add_argument("--structured", action="store_true",
                   help="prune whole output channels per layer (L2 norm; the head is kept)")
    p.add_argument("--out", metavar="DIR", help="job folder (default: RUN-pruned next to RUN)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from netcoach.transfer.prune import prune_run

    report = prune_run(args.run, args.amount, args.rounds, args.finetune_epochs, args.rewind_epoch,
                       args.structured, args.out)
    console = Console(soft_wrap=True, highlight=False)
    dense = report["dense"]
    console.print(f"dense      sparsity {dense['sparsity']:.3f}  test_acc {dense['test'].get('test_acc', float('nan')):.4f}")
    for row in report["rounds"]:
        console.print(f"round {row['round']:<4} sparsity {row['sparsity']:.3f}  test_acc {row['test']['test_acc']:.4f}")
    last = report["rounds"][-1]
    for layer, value in last["layers"].items():
        console.print(f"  {layer:<20} {value:.3f}")
    console.print(f"pruned weights: {args.out or str(args.run).rstrip('/') + '-pruned'}/{report['export']}")
    return 0
