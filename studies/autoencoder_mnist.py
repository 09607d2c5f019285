"""The course's MNIST autoencoder (one hidden layer of 256 units) without and with dropout, and
unsupervised pretraining of the encoder for a classifier with 100 labels per class.

Part 1 (deck 001, "MNIST: автокодировщик с 1 скрытым слоем и 256 ... нейронами" after
Srivastava et al. 2014, fig. 7): ``mlp_ae`` depth 1, width 256, ReLU, trained on all 60,000
MNIST training images without labels, once without dropout and once with dropout p = 0.5 on
the 256 hidden units (``model.dropout``: the code the decoder reads). Printed: the test
reconstruction error of each; saved: their learned features (the 256 units' input weights as
28x28 images) side by side, and inputs beside reconstructions.

Part 2 (deck 001, "Обучение без учителя" as a weapon against overfitting): an ``mlp``
classifier of the same shape (784-256-10) trained on 100 labelled images per class, from
scratch and from each autoencoder's encoder (``model.init_from``), the same seeds, data,
epochs, init and optimizer otherwise. The pretrained encoders are fine-tuned as netcoach's
transfer options do it: the encoder frozen for the first half of the epochs (only the new
head trains), then trained with a tenth of the learning rate. Printed: mean ± std test
accuracy over the seeds and the gain.

Every network starts from N(0, 0.01^2) weights (``model.init normal``): with PyTorch's
default uniform init, hidden units that barely train keep a random pattern as large as the
learned ones, which hides the features in the pictures and in what the classifier reads
(measured: see the results file).

Data: the autoencoders validate on the first 2,000 t10k images; the classifiers validate on
50 other labelled training images per class and are tested on the other 8,000 t10k images, so
no test image was seen in pretraining, not even for checkpoint selection.

    PYTHONPATH=. nice -n 10 python studies/autoencoder_mnist.py [--ae-epochs 10] [--ft-epochs 30] [--seeds 3]

Autoencoder runs are cached under /work/cache/autoencoder (``--cache``); ``--fresh`` retrains them.
Writes studies/results/autoencoder_mnist.md and the PNGs named there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import load_file

import netcoach
from netcoach.data import DataBundle, Split
from netcoach.report.autoencoder import plot_features, plot_reconstructions
from netcoach.report.images import to_display
from netcoach.train.checkpoint import load_weights
from studies.activations_norms import _shared_root, _take
from studies.shared_data import mnist

RESULTS = Path(__file__).resolve().parent / "results"
AE_VAL = 2000     # t10k images that select the autoencoders' best epoch (never tested on)
PER_CLASS = 100   # labelled training images per class for the classifiers
VAL_PER_CLASS = 50
COMMON = {"train.device": "cpu", "train.threads": "1", "report.enabled": "false",
          "diagnose.preflight": "false", "optim.name": "adam", "optim.lr": "0.001",
          "model.depth": "1", "model.width": "256", "model.activation": "relu",
          "model.init": "normal", "model.init_std": "0.01"}
VARIANTS = {"no dropout": {}, "dropout 0.5": {"model.dropout": "0.5"}}


def _split(x: np.ndarray, y: np.ndarray, idx) -> Split:
    return Split(torch.from_numpy(x[idx].copy()), torch.from_numpy(y[idx].copy()))


def bundles() -> tuple[DataBundle, DataBundle]:
    """(the autoencoders' data: all 60,000 training images; the classifiers' data)."""
    xtr, ytr, xte, yte = mnist(_shared_root() / "mnist")
    names = [str(i) for i in range(10)]
    head, tail = np.arange(AE_VAL), np.arange(AE_VAL, len(xte))
    ae = DataBundle("mnist-all-unlabelled", _split(xtr, ytr, np.arange(len(xtr))), _split(xte, yte, head),
                    _split(xte, yte, tail), 10, names, scale=255.0)
    labelled = _take(ytr, PER_CLASS)
    val = _take(ytr, VAL_PER_CLASS, offset=PER_CLASS)
    clf = DataBundle(f"mnist-{PER_CLASS}-per-class", _split(xtr, ytr, labelled), _split(xtr, ytr, val),
                     _split(xte, yte, tail), 10, names, scale=255.0)
    return ae, clf


def autoencoder(bundle: DataBundle, label: str, overrides: dict, epochs: int, cache: Path,
                fresh: bool) -> Path:
    """The run folder of the autoencoder ``label`` (trained once, then read from the cache,
    keyed by its whole configuration)."""
    key = hashlib.sha1(json.dumps([COMMON, overrides, epochs], sort_keys=True).encode()).hexdigest()[:10]
    folder = cache / f"{label.replace(' ', '_').replace('.', '')}-{key}"
    runs = sorted(folder.glob("*/summary.json")) if folder.exists() else []
    if runs and not fresh:
        return runs[-1].parent
    config = netcoach.load_config(overrides={**COMMON, **overrides, "task.name": "autoencoder",
                                             "model.name": "mlp_ae", "train.epochs": str(epochs),
                                             "data.batch_size": "128", "train.seed": "0",
                                             "run.dir": str(folder)})
    return netcoach.train(config, data=bundle).run_dir


def classifier(bundle: DataBundle, seed: int, epochs: int, init_from: Path | None) -> dict:
    extra = {"model.init_from": str(init_from), "transfer.freeze": "backbone",
             "transfer.unfreeze_epoch": str(epochs // 2), "transfer.backbone_lr_mult": "0.1"} if init_from else {}
    config = netcoach.load_config(overrides={**COMMON, **extra, "model.name": "mlp", "train.epochs": str(epochs),
                                             "data.batch_size": "32", "train.seed": str(seed)})
    result = netcoach.train(config, data=bundle, save=False)
    return {"acc": result.summary["test"]["test_acc"], "notes": result.summary.get("notes", [])}


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * std:.2f}"


def side_by_side(paths: list[Path], out: Path) -> Path:
    images = [Image.open(p).convert("RGB") for p in paths]
    canvas = Image.new("RGB", (sum(i.width for i in images) + 16 * (len(images) - 1),
                               max(i.height for i in images)), "white")
    left = 0
    for img in images:
        canvas.paste(img, (left, 0))
        left += img.width + 16
    canvas.save(out)
    return out


def pictures(run: Path, label: str, bundle: DataBundle) -> tuple[Path, Path]:
    """Features (the 256 units' input weights) and 16 test reconstructions of one run, drawn
    into its run folder (the results keep them side by side)."""
    weights = load_weights(run / "checkpoints" / "best.safetensors")
    features = plot_features(weights["backbone.1.weight"].numpy(), (1, 28, 28),
                             run / "study_features.png", f"{label}: 256 hidden units")
    pred = load_file(str(run / "predictions.safetensors"))
    recon = plot_reconstructions(to_display(pred["labels"][:16], bundle.scale),
                                 to_display(pred["reconstructions"][:16], 1.0), pred["errors"][:16],
                                 run / "study_reconstructions.png")
    return features, recon


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ae-epochs", type=int, default=10)
    p.add_argument("--ft-epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--cache", type=Path, default=Path("/work/cache/autoencoder"))
    p.add_argument("--fresh", action="store_true", help="retrain the cached autoencoders")
    args = p.parse_args()
    started = time.perf_counter()
    ae_data, clf_data = bundles()
    lines = ["# Results of studies/autoencoder_mnist.py", "",
             f"    PYTHONPATH=. nice -n 10 python studies/autoencoder_mnist.py --ae-epochs {args.ae_epochs} "
             f"--ft-epochs {args.ft_epochs} --seeds {args.seeds}", "",
             "## 1. Autoencoder 784-256-784 (ReLU), all 60,000 training images, no labels", "",
             f"Adam 1e-3, batch 128, {args.ae_epochs} epochs, MSE on pixels in [0, 1]; best epoch by "
             f"validation loss on t10k[:{AE_VAL}], tested on t10k[{AE_VAL}:].", "",
             "| autoencoder | test reconstruction MSE | test PSNR dB | best epoch |", "|---|---|---|---|"]
    runs, feature_pngs = {}, []
    for label, overrides in VARIANTS.items():
        run = autoencoder(ae_data, label, overrides, args.ae_epochs, args.cache, args.fresh)
        runs[label] = run
        summary = json.loads((run / "summary.json").read_text())
        test = summary["test"]
        lines.append(f"| {label} | {test['test_mse']:.5f} | {test['test_psnr']:.2f} | {summary['best_epoch']} |")
        print(lines[-1], flush=True)
        feature_pngs.append(pictures(run, label, ae_data))
    both = side_by_side([f for f, _ in feature_pngs], RESULTS / "autoencoder_features.png")
    recon = side_by_side([r for _, r in feature_pngs], RESULTS / "autoencoder_reconstructions.png")
    lines += ["", f"Learned features, without (left) and with dropout (right): `{both.relative_to(RESULTS.parent)}`; "
              f"inputs and reconstructions: `{recon.relative_to(RESULTS.parent)}`.", "",
              f"## 2. Classifier 784-256-10 with {PER_CLASS} labels per class", "",
              f"Adam 1e-3, batch 32, {args.ft_epochs} epochs, best epoch by validation accuracy on "
              f"{VAL_PER_CLASS} other labelled images per class; test: t10k[{AE_VAL}:] "
              f"({len(clf_data.test):,} images); seeds 0..{args.seeds - 1}. Fine-tuned: encoder frozen "
              f"for {args.ft_epochs // 2} epochs, then trained at lr x 0.1 (`transfer.freeze backbone`, "
              f"`transfer.unfreeze_epoch {args.ft_epochs // 2}`, `transfer.backbone_lr_mult 0.1`).", "",
              "| start | test acc % (mean ± std) | per seed |", "|---|---|---|"]
    results = {"from scratch": [classifier(clf_data, s, args.ft_epochs, None)["acc"] for s in range(args.seeds)]}
    for label, run in runs.items():
        found = [classifier(clf_data, s, args.ft_epochs, run) for s in range(args.seeds)]
        results[f"encoder of the AE, {label}"] = [f["acc"] for f in found]
        note = next((n for n in found[0]["notes"] if n.startswith("init_from")), "")
        print(f"  {note}", flush=True)
    for label, accs in results.items():
        lines.append(f"| {label} | {_mean_std(accs)} | {', '.join(f'{100 * a:.2f}' for a in accs)} |")
        print(lines[-1], flush=True)
    scratch = statistics.mean(results["from scratch"])
    lines.append("")
    for label in list(results)[1:]:
        gain = statistics.mean(results[label]) - scratch
        lines.append(f"Gain of the {label} over scratch: {100 * gain:+.2f} points (mean of {args.seeds} seeds).")
        print(lines[-1], flush=True)
    lines += ["", f"total {time.perf_counter() - started:.0f} s"]
    (RESULTS / "autoencoder_mnist.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'autoencoder_mnist.md'}")


if __name__ == "__main__":
    main()
