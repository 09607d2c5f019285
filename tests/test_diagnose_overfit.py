"""The overfit-one-batch check steps through the trainer's own step on a copy."""

from __future__ import annotations

import torch

import netcoach
from netcoach.api import build_trainer
from netcoach.diagnose.overfit import check_overfit_batch
from netcoach.diagnose.preflight import sample_batch


def _trainer(tmp_path, **over):
    base = {"model.name": "mlp", "model.dropout": "0.3", "run.dir": str(tmp_path / "runs"),
            "diagnose.preflight": "false", "report.enabled": "false"}
    return build_trainer(netcoach.load_config(overrides={**base, **over}))


def _loss_without_dropout(trainer, x, y, autocast: bool) -> float:
    model = trainer.model
    model.eval()  # this mlp has dropout but no batch norm: eval == train without dropout
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return float(trainer.task.loss(model(x), y))


def test_overfit_check_uses_the_runs_precision_and_leaves_the_model_untouched(tmp_path):
    trainer = _trainer(tmp_path, **{"train.precision": "bf16"})
    x, y = sample_batch(trainer, 16)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    found = check_overfit_batch(trainer, x, y, steps=300, lr=1e-2)
    assert found["status"] == "pass", found["reason"]
    # the first step's loss is the bf16-autocast loss of the untouched model (dropout off)
    assert found["details"]["initial_loss"] == _loss_without_dropout(trainer, x, y, autocast=True)
    assert found["details"]["initial_loss"] != _loss_without_dropout(trainer, x, y, autocast=False)
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


def test_overfit_check_with_a_one_step_budget_fails(tmp_path):
    trainer = _trainer(tmp_path)
    x, y = sample_batch(trainer, 16)
    found = check_overfit_batch(trainer, x, y, steps=1, lr=1e-2)
    assert found["status"] == "fail" and found["details"]["steps"] == 1


def test_loss_target_is_absolute_with_an_accuracy_and_also_relative_without():
    from netcoach.diagnose.overfit import loss_target
    from netcoach.tasks import Autoencoder, Classification, Regression

    assert loss_target(Classification(), 2.30) == 0.1      # ln 10 start: 0.1, with 100% accuracy
    assert loss_target(Classification(), 0.05) == 0.1      # never tighter for an accuracy task
    assert loss_target(Regression(), 1.0) == 0.1           # standardized targets: unchanged
    assert loss_target(Regression(), 5.0) == 0.1           # never looser than 0.1
    assert abs(loss_target(Autoencoder(), 0.246) - 0.0246) < 1e-12  # [0, 1] pixels start near 0.25


def test_an_autoencoder_memorises_its_batch_to_a_tenth_of_its_initial_loss(tmp_path):
    trainer = _trainer(tmp_path, **{"task.name": "autoencoder", "data.name": "digits", "model.name": "mlp_ae",
                                    "model.dropout": "0"})
    x, y = sample_batch(trainer, 16)
    found = check_overfit_batch(trainer, x, y, steps=300, lr=1e-3)
    d = found["details"]
    assert found["status"] == "pass", found["reason"]
    assert d["loss"] <= 0.1 * d["initial_loss"] < 0.1  # an absolute 0.1 would have passed at once
