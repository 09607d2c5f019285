"""The doctor against its labelled corpus (bench/doctor_corpus.py): every synthetic curve gets
its verdict, the cached real digits runs agree at >= 95%, and the four verdicts that used to
be wrong now read right, with remedies that respect the run's config."""

from __future__ import annotations

import pytest

from bench.doctor_corpus import config_of, real, synthetic
from netcoach.diagnose.doctor import MIN_EPOCHS, RANK, diagnose_history
from netcoach.diagnose.remedies import remedies

SYNTHETIC = {case["name"]: case for case in synthetic()}
VERDICTS = ("healthy", "overfitting", "underfitting", "lr_too_high", "lr_too_low", "diverging",
            "bad_init", "data_leakage")


def _diagnose(case):
    return diagnose_history(case["history"], case["summary"], config_of(case))


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_curve_gets_its_labelled_verdict(name):
    case = SYNTHETIC[name]
    found = _diagnose(case)
    assert found[0]["label"] == case["expected"], found
    assert [f["label"] for f in found] == sorted((f["label"] for f in found), key=RANK.index)


def test_corpus_covers_every_verdict_synthetic_and_real():
    assert set(VERDICTS) <= {c["expected"] for c in SYNTHETIC.values()}
    runs = real()
    assert len(runs) >= 30 and set(VERDICTS) <= {c["expected"] for c in runs}


def test_real_digits_runs_agree_with_their_labels_at_95_percent():
    runs = real()
    misses = [(c["name"], [f["label"] for f in _diagnose(c)]) for c in runs
              if _diagnose(c)[0]["label"] != c["expected"]]
    assert len(misses) <= 0.05 * len(runs), misses


def test_rise_after_the_best_epoch_is_overfitting_whatever_the_monitor():
    case = SYNTHETIC["overfitting_rise_after_best_any_monitor"]
    assert config_of(case).train.monitor == "val_acc"
    [f] = _diagnose(case)
    assert f["label"] == "overfitting" and f["epochs"] == [3, 8]
    assert "turned at epoch 3" in f["evidence"] and "0.0470" in f["evidence"] and "0.2280" in f["evidence"]
    assert f["values"]["best_val_loss"] == pytest.approx(0.047)
    assert f["values"]["last_val_loss"] == pytest.approx(0.228)


def test_bad_init_is_not_called_a_learning_rate_problem():
    found = _diagnose(SYNTHETIC["bad_init_not_a_learning_rate_problem"])
    assert [f["label"] for f in found] == ["bad_init"]
    assert "initial_loss" in found[0]["evidence"] and "init_units" in found[0]["evidence"]
    assert found[0]["values"]["failed_checks"] == ["initial_loss", "init_units"]
    assert not any("learning rate" in r for r in found[0]["remedies"])


def test_underfitting_cnn_is_not_told_to_use_a_cnn_or_drop_absent_regularization():
    [f] = _diagnose(SYNTHETIC["underfitting_cnn_unregularized"])
    assert f["label"] == "underfitting"
    text = " ".join(f["remedies"])
    assert "CNN" not in text and "reduce regularization" not in text
    assert "model.width, now 128" in text


def test_underfitting_remedies_name_only_the_regularizers_that_are_on():
    import netcoach

    mlp = netcoach.load_config(overrides={"model.name": "mlp", "model.dropout": "0.5",
                                          "loss.label_smoothing": "0.1"})
    text = " ".join(remedies("underfitting", mlp))
    assert "a CNN for images" in text
    assert "reduce regularization (model.dropout = 0.5, loss.label_smoothing = 0.1)" in text
    assert "weight_decay" not in text
    over = " ".join(remedies("overfitting", mlp))
    assert "increase dropout (model.dropout, now 0.5)" in over and "add weight decay" in over


def test_one_epoch_run_is_too_few_epochs_not_fell_from_x_to_x():
    [f] = _diagnose(SYNTHETIC["too_few_epochs_one"])
    assert f["label"] == "too_few_epochs" and f["values"]["epochs_run"] == 1
    assert "only 1 epoch " in f["evidence"] and f"at least {MIN_EPOCHS}" in f["evidence"]
    assert "fell from" not in f["evidence"]


def test_nan_is_diverging_even_below_the_minimum_epochs():
    [f] = diagnose_history([{"epoch": 1, "train_loss": float("nan"), "val_loss": float("nan")}], {})
    assert f["label"] == "diverging"


def test_leakage_finding_quotes_the_shared_sample_counts():
    found = _diagnose(SYNTHETIC["data_leakage_with_healthy_curves"])
    assert found[0]["label"] == "data_leakage"
    assert found[0]["values"] == {"val_in_train": 180.0, "test_in_train": 175.0}
    assert "deduplicate" in found[0]["remedies"][0]
