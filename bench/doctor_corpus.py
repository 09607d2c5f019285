"""The doctor's labelled corpus: synthetic curves for every verdict and edge case, and real
short digits runs built to be each kind (cached as JSON so the tests stay fast).

A case is ``{"name", "expected", "history", "summary", "overrides"}``: ``expected`` is the
doctor's headline (first) verdict, ``overrides`` rebuild the run's config. The real runs'
labels come from how they were built (the recipe), never from the doctor's output.

    python bench/doctor_corpus.py     # re-train the real runs into tests/fixtures/doctor_runs/
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the curve rows are the doctor tests' own

from helpers.curves import curve_rows  # noqa: E402

REAL_DIR = ROOT / "tests" / "fixtures" / "doctor_runs"
LN10 = math.log(10)
NAN = float("nan")


def _check(name, status, reason="", **details):
    return {"check": name, "status": status, "reason": reason, "details": details}


PASSING = [_check("initial_loss", "pass", "initial loss 2.31 vs ln 10 = 2.303", measured=2.31,
                  expected=LN10, ratio=2.31 / LN10),
           _check("init_units", "pass", "2 activation layers"),
           _check("data_leakage", "pass", "no exact duplicates", val_in_train=0, test_in_train=0)]
BAD_INIT = [_check("initial_loss", "fail", "initial loss 41.2 vs ln 10 = 2.303: the untrained model is "
                   "confidently wrong", measured=41.2, expected=LN10, ratio=41.2 / LN10),
            _check("init_units", "fail", "at init net.1: 97% saturated (limit 50%)", flagged=["net.1"]),
            _check("data_leakage", "pass", "no exact duplicates", val_in_train=0, test_in_train=0)]
LEAKY = [PASSING[0], PASSING[1],
         _check("data_leakage", "warn", "180 of 360 val and 175 of 360 test samples also appear in train",
                val_in_train=180, test_in_train=175)]


def _case(name, expected, history, preflight=PASSING, **overrides):
    return {"name": name, "expected": expected, "history": history,
            "summary": {"preflight": preflight, "num_classes": 10},
            "overrides": {"model.name": "mlp", **overrides}}


def synthetic() -> list[dict]:
    """Hand-made curves: one or more per verdict, and the four wrong verdicts of the past."""
    dec = [2.0, 1.0, 0.6, 0.4, 0.3, 0.25, 0.22, 0.2]
    acc = [0.5, 0.75, 0.85, 0.9, 0.92, 0.93, 0.94, 0.945]
    return [
        _case("healthy_falling", "healthy", curve_rows(dec, [v * 1.05 for v in dec], acc, [a - 0.01 for a in acc])),
        _case("healthy_noisy_small_bump", "healthy",
              curve_rows(dec, [2.0, 1.05, 0.62, 0.43, 0.33, 0.335, 0.3, 0.29], acc, [a - 0.02 for a in acc])),
        _case("overfitting_classic", "overfitting",
              curve_rows([1.0, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02], [1.1, 0.8, 0.6, 0.55, 0.6, 0.7, 0.8, 0.9])),
        # the past miss: val_loss 0.047 -> 0.228 over the last four epochs, train loss already
        # tiny (it fell by less than 30%), the checkpoint picked by val_acc
        _case("overfitting_rise_after_best_any_monitor", "overfitting",
              curve_rows([0.3, 0.08, 0.02, 0.012, 0.01, 0.009, 0.0085, 0.008],
                    [0.2, 0.07, 0.047, 0.09, 0.13, 0.17, 0.2, 0.228],
                    [0.9, 0.97, 0.995, 0.998, 0.999, 1.0, 1.0, 1.0],
                    [0.9, 0.96, 0.975, 0.972, 0.975, 0.976, 0.975, 0.974]),
              **{"train.monitor": "val_acc"}),
        _case("overfitting_accuracy_gap", "overfitting",
              curve_rows([1.0, 0.5, 0.2, 0.1, 0.05], [1.0, 0.8, 0.75, 0.74, 0.74],
                    [0.6, 0.85, 0.95, 0.98, 0.99], [0.55, 0.7, 0.76, 0.78, 0.78])),
        _case("underfitting_flat_high", "underfitting",
              curve_rows([2.0, 1.8, 1.75, 1.74, 1.735, 1.733], [2.1, 1.9, 1.85, 1.84, 1.835, 1.833],
                    [0.3] * 6, [0.28] * 6)),
        # the past miss: a CNN without regularization was told "a CNN" and "less regularization"
        _case("underfitting_cnn_unregularized", "underfitting",
              curve_rows([2.1, 1.6, 1.45, 1.4, 1.38, 1.37], [2.1, 1.62, 1.48, 1.43, 1.41, 1.40],
                    [0.25, 0.4, 0.47, 0.5, 0.51, 0.51], [0.25, 0.39, 0.46, 0.49, 0.5, 0.5]),
              **{"model.name": "cnn", "optim.weight_decay": "0", "model.dropout": "0"}),
        _case("lr_too_high_stuck_at_chance", "lr_too_high",
              curve_rows([2.9, 2.6, 2.55, 2.5, 2.52], [2.7, 2.6, 2.56, 2.55, 2.57], [0.1] * 5, [0.1] * 5),
              **{"optim.lr": "0.5"}),
        _case("lr_too_high_oscillating", "lr_too_high",
              curve_rows([1.0, 1.5, 0.9, 1.4, 0.8, 1.3, 0.9], [1.0, 1.5, 0.9, 1.4, 0.8, 1.3, 0.9])),
        _case("lr_too_low_slow_linear", "lr_too_low",
              curve_rows([2.30 - 0.02 * i for i in range(10)], [2.31 - 0.02 * i for i in range(10)]),
              **{"optim.name": "sgd", "optim.lr": "1e-4"}),
        _case("diverging_nan", "diverging", curve_rows([2.3, 5.0, NAN], [2.3, 9.0, NAN]), **{"optim.lr": "5"}),
        _case("diverging_rising", "diverging", curve_rows([2.0, 2.5, 3.0, 4.0], [2.0, 2.6, 3.1, 4.2])),
        # the past miss: a bad init was called lr_too_high right above its preflight FAILs
        _case("bad_init_not_a_learning_rate_problem", "bad_init",
              curve_rows([9.5, 4.0, 3.1, 2.8, 2.7], [6.0, 3.5, 3.0, 2.8, 2.75], [0.1, 0.15, 0.2, 0.2, 0.2],
                    [0.1, 0.15, 0.2, 0.2, 0.2]), preflight=BAD_INIT,
              **{"model.init": "normal", "model.init_std": "3"}),
        _case("bad_init_then_nan", "bad_init", curve_rows([40.0, NAN, NAN], [30.0, NAN, NAN]), preflight=BAD_INIT),
        _case("data_leakage_with_healthy_curves", "data_leakage",
              curve_rows(dec, [v * 0.95 for v in dec], acc, acc), preflight=LEAKY),
        _case("data_leakage_initial_loss_below_chance", "data_leakage", curve_rows(dec, dec, acc, acc),
              preflight=[_check("initial_loss", "warn", "far better than chance", measured=0.5,
                                expected=LN10, ratio=0.5 / LN10)]),
        # the past miss: "validation loss fell from 0.1524 to 0.1524" after one epoch
        _case("too_few_epochs_one", "too_few_epochs", curve_rows([0.4], [0.1524], [0.9], [0.95])),
        _case("too_few_epochs_two", "too_few_epochs", curve_rows([0.8, 0.4], [0.5, 0.3], [0.8, 0.9], [0.85, 0.9])),
        _case("plateau_flat_low", "plateau",
              curve_rows([1.0, 0.3] + [0.2] * 7, [1.05, 0.35] + [0.25] * 7, [0.95] * 9, [0.93] * 9)),
    ]


# ------------------------------------------------------------------------------ real runs

BASE = {"model.name": "mlp", "report.enabled": "false", "diagnose.monitor": "false",
        "diagnose.checks": "initial_loss,init_units,data"}


def recipes() -> list[dict]:
    """How each real run is built: ``expected``, config ``overrides`` and a data recipe
    (``subset`` training samples, ``pool`` for average pooling, ``duplicate`` to repeat
    every sample so the splits share them)."""
    out = []
    for seed, width in enumerate((64, 128, 256, 128, 64, 256)):
        out.append(("healthy", {"model.width": str(width), "train.epochs": "8", "train.seed": str(seed)}, {}))
    for seed in range(5):  # 60 training samples, memorised by a wide net
        out.append(("overfitting", {"model.width": "512", "train.epochs": "60", "data.batch_size": "16",
                                    "train.seed": str(seed)}, {"subset": 100, "subset_seed": seed}))
    for seed, (width, epochs) in enumerate(((1, 8), (1, 10), (2, 8), (1, 12))):  # a 1-2 unit bottleneck
        out.append(("underfitting", {"model.width": str(width), "model.depth": "1", "optim.lr": "1e-2",
                                     "train.epochs": str(epochs), "train.seed": str(seed)}, {}))
    for lr in ("10", "3", "1", "0.5"):
        out.append(("lr_too_high", {"optim.lr": lr, "train.epochs": "5"}, {}))
    for lr, epochs in (("1e-4", "6"), ("5e-5", "6"), ("1e-4", "8"), ("2e-4", "6")):
        out.append(("lr_too_low", {"optim.name": "sgd", "optim.momentum": "0", "optim.lr": lr,
                                   "train.epochs": epochs}, {}))
    for lr in ("50", "100", "200", "500"):
        out.append(("diverging", {"optim.name": "sgd", "optim.momentum": "0.9", "optim.lr": lr,
                                  "train.epochs": "4"}, {}))
    for std, act in (("3", "relu"), ("1", "tanh"), ("5", "tanh"), ("2", "sigmoid")):
        out.append(("bad_init", {"model.init": "normal", "model.init_std": std, "model.activation": act,
                                 "train.epochs": "5"}, {}))
    for seed in range(4):
        out.append(("data_leakage", {"train.epochs": "6", "train.seed": str(seed)}, {"duplicate": True}))
    return [{"name": f"{label}_{i:02d}", "expected": label, "overrides": over, "data": data}
            for i, (label, over, data) in enumerate(out)]


def _data(recipe: dict):
    """The digits arrays for a data recipe, or None for the standard digits source."""
    if not recipe:
        return None
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.images.astype(np.uint8)[:, None], digits.target
    if "subset" in recipe:
        idx = np.random.RandomState(recipe.get("subset_seed", 0)).permutation(len(y))[:recipe["subset"]]
        x, y = x[idx], y[idx]
    if "pool" in recipe:
        pooled = torch.nn.functional.avg_pool2d(torch.as_tensor(x).float(), recipe["pool"])
        x = pooled.round().clamp(0, 255).to(torch.uint8).numpy()
    if recipe.get("duplicate"):
        x, y = np.concatenate([x, x]), np.concatenate([y, y])
    return x, y


def train_case(recipe: dict) -> dict:
    """Train one recipe (no run folder) and keep what the doctor reads."""
    import netcoach

    overrides = {**BASE, **recipe["overrides"]}
    result = netcoach.train(netcoach.load_config(overrides=overrides), data=_data(recipe["data"]),
                            save=False, progress=False)
    summary = {k: result.summary[k] for k in ("preflight", "best_epoch", "epochs_run", "failure")
               if k in result.summary}
    summary["num_classes"] = result.data.num_classes
    return {"name": recipe["name"], "expected": recipe["expected"], "data": recipe["data"],
            "overrides": overrides, "history": result.history, "summary": summary}


def real() -> list[dict]:
    """The cached real runs (tests/fixtures/doctor_runs/*.json)."""
    return [json.loads(p.read_text()) for p in sorted(REAL_DIR.glob("*.json"))]


def config_of(case: dict):
    import netcoach

    return netcoach.load_config(overrides=case["overrides"])


def main() -> int:
    from netcoach.utils.io import atomic_write_text

    REAL_DIR.mkdir(parents=True, exist_ok=True)
    wanted = set(sys.argv[1:])
    for recipe in recipes():
        if wanted and recipe["name"] not in wanted:
            continue
        case = train_case(recipe)
        atomic_write_text(REAL_DIR / f"{recipe['name']}.json", json.dumps(case, indent=1, default=float))
        print(recipe["name"], "written", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
