"""netcoach's tasks against scikit-learn baselines on the same splits.

For each of 5 split seeds (``data.split_seed``), netcoach trains the tabular recipe
(``recipes/tabular.toml``) and a scikit-learn baseline is fitted on the same training
split (netcoach's validation split only picks its best epoch and, for binary, its
threshold); both are scored on the same test split. Goals:

- ``diabetes`` regression: netcoach's mean test R² >= 0.95 x that of a standardized Ridge;
- ``breast_cancer`` binary: mean test accuracy >= 0.97 and mean ROC AUC >= 0.99
  (logistic regression shown for reference);
- multi-label (``make_multilabel_classification``, 5 labels): mean test micro-F1 >= that
  of a one-vs-rest logistic regression.

Each case prints one line per seed, the means, and last the ratio netcoach / baseline.
Run: ``PYTHONPATH=. python bench/tasks.py [--cases diabetes,breast_cancer,multilabel]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import netcoach  # noqa: E402

RECIPE = ROOT / "recipes" / "tabular.toml"
SEEDS = range(5)


def train(seed: int, data=None, **overrides):
    over = {"data.split_seed": str(seed), "diagnose.preflight": "false", "train.threads": "1"}
    over.update({k: str(v) for k, v in overrides.items()})
    return netcoach.train(netcoach.load_config(RECIPE, overrides=over), data=data, save=False,
                          progress=False)


def splits(result):
    """(x_train, y_train, x_test, y_test) of a run's bundle as numpy, inputs as stored."""
    d = result.data
    return tuple(t.cpu().numpy() for t in (d.train.x, d.train.y, d.test.x, d.test.y))


def scaled(model):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), model)


def case_diabetes(extra: dict) -> tuple[str, float, float, bool]:
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    ours, base = [], []
    for seed in SEEDS:
        r = train(seed, **{"data.name": "diabetes", "task.name": "regression", **extra})
        x_tr, y_tr, x_te, y_te = splits(r)
        ridge = scaled(Ridge()).fit(x_tr, y_tr)
        ours.append(r.summary["test"]["test_r2"])
        base.append(r2_score(y_te, ridge.predict(x_te)))
        print(f"  diabetes seed {seed}: netcoach R2 {ours[-1]:.4f}  ridge R2 {base[-1]:.4f}", flush=True)
    a, b = statistics.mean(ours), statistics.mean(base)
    print(f"diabetes regression: mean test R2 netcoach {a:.4f}, standardized Ridge {b:.4f} "
          f"(goal: netcoach >= 0.95 x Ridge)")
    return "diabetes R2", a, b, a >= 0.95 * b


def case_breast_cancer(extra: dict) -> tuple[str, float, float, bool]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score

    acc, auc, base_acc, base_auc = [], [], [], []
    for seed in SEEDS:
        r = train(seed, **{"data.name": "breast_cancer", "task.name": "binary", **extra})
        x_tr, y_tr, x_te, y_te = splits(r)
        lr = scaled(LogisticRegression(max_iter=5000)).fit(x_tr, y_tr)
        acc.append(r.summary["test"]["test_acc"])
        auc.append(r.summary["test"]["test_auc"])
        base_acc.append(accuracy_score(y_te, lr.predict(x_te)))
        base_auc.append(roc_auc_score(y_te, lr.predict_proba(x_te)[:, 1]))
        print(f"  breast_cancer seed {seed}: netcoach acc {acc[-1]:.4f} AUC {auc[-1]:.4f} "
              f"(threshold {r.summary['task']['threshold']:.3f})  logistic acc {base_acc[-1]:.4f} "
              f"AUC {base_auc[-1]:.4f}", flush=True)
    a, u = statistics.mean(acc), statistics.mean(auc)
    print(f"breast_cancer binary: mean test accuracy netcoach {a:.4f} (logistic {statistics.mean(base_acc):.4f}), "
          f"ROC AUC {u:.4f} (logistic {statistics.mean(base_auc):.4f}) (goal: accuracy >= 0.97, AUC >= 0.99)")
    return "breast_cancer accuracy", a, statistics.mean(base_acc), a >= 0.97 and u >= 0.99


def multilabel_set():
    from sklearn.datasets import make_multilabel_classification

    x, y = make_multilabel_classification(n_samples=1500, n_features=20, n_classes=5, n_labels=2,
                                          random_state=0)
    return x.astype(np.float32), y.astype(np.float32)


def case_multilabel(extra: dict) -> tuple[str, float, float, bool]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier

    data = multilabel_set()
    ours, base = [], []
    for seed in SEEDS:
        r = train(seed, data=data, **{"task.name": "multilabel", **extra})
        x_tr, y_tr, x_te, y_te = splits(r)
        ovr = scaled(OneVsRestClassifier(LogisticRegression(max_iter=5000))).fit(x_tr, y_tr)
        ours.append(r.summary["test"]["test_f1_micro"])
        base.append(f1_score(y_te, ovr.predict(x_te), average="micro"))
        print(f"  multilabel seed {seed}: netcoach micro-F1 {ours[-1]:.4f}  one-vs-rest logistic "
              f"{base[-1]:.4f}", flush=True)
    a, b = statistics.mean(ours), statistics.mean(base)
    print(f"multilabel (make_multilabel_classification, 1500 x 20, 5 labels): mean test micro-F1 "
          f"netcoach {a:.4f}, one-vs-rest logistic regression {b:.4f} (goal: netcoach >= baseline)")
    return "multilabel micro-F1", a, b, a >= b


CASES = {"diabetes": case_diabetes, "breast_cancer": case_breast_cancer, "multilabel": case_multilabel}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override on top of the recipe (repeatable)")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.set)
    started = time.perf_counter()
    results = [CASES[name](extra) for name in args.cases.split(",")]
    print(f"({time.perf_counter() - started:.0f} s)")
    ok = all(r[3] for r in results)
    print("ratio netcoach / baseline: " + "; ".join(f"{name} {a / b:.3f}" for name, a, b, _ in results)
          + f"  -> goals {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
