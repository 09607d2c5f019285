"""Imbalance tools from the course: the balanced sampler (every batch holds every class,
deterministic and resumable mid-epoch), class weights, and the output bias at the prior."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_class_weight

import netcoach
from netcoach.api import build_trainer
from netcoach.config import ConfigError
from netcoach.data.balanced import balanced_order
from netcoach.data.base import Split
from netcoach.data.loader import DeviceLoader
from netcoach.diagnose.preflight import run_preflight
from netcoach.tasks import build_task
from netcoach.train.callbacks import Callback
from netcoach.train.checkpoint import load_training_state, save_training_state
from netcoach.train.state import capture, restore


def _imbalanced(n_major=950, n_minor=50, d=6, seed=0):
    g = np.random.default_rng(seed)
    y = np.array([0] * n_major + [1] * n_minor)
    x = g.normal(size=(len(y), d)).astype(np.float32) + y[:, None] * 1.5
    return x, y


def _loader(y, batch_size=32, seed=0):
    y = torch.as_tensor(y)
    split = Split(torch.arange(len(y)).float().unsqueeze(1), y)
    return DeviceLoader(split, batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
                        sampler="balanced")


@pytest.mark.parametrize("n_minor", [50, 10])  # more minority samples than batches, and fewer
def test_with_95_5_imbalance_every_balanced_batch_holds_the_minority_class(n_minor):
    y = np.array([0] * (1000 - n_minor) + [1] * n_minor)
    loader = _loader(y)
    for _ in range(2):  # two epochs, two different orders
        batches = [yb for _, yb in loader]
        assert len(batches) == len(loader) == 32 and sum(len(b) for b in batches) == 1000
        assert all(int(b.sum()) >= 1 for b in batches)
    # with enough minority samples the epoch keeps the class proportions exactly (a permutation)
    if n_minor == 50:
        order = balanced_order(torch.as_tensor(y), 32, torch.Generator().manual_seed(3))
        assert sorted(order.tolist()) == list(range(1000))


def test_balanced_batches_hold_every_class_of_several():
    y = torch.randint(0, 5, (1003,), generator=torch.Generator().manual_seed(1))
    order = balanced_order(y, 32, torch.Generator().manual_seed(2))
    full = [order[i:i + 32] for i in range(0, 1003 - 1003 % 32, 32)]
    assert all(set(y[b].tolist()) == {0, 1, 2, 3, 4} for b in full)
    assert torch.equal(torch.bincount(y[order], minlength=5), torch.bincount(y, minlength=5))


def test_balanced_loader_resumes_mid_epoch_exactly():
    y = np.array([0] * 900 + [1] * 70 + [2] * 30)
    straight = _loader(y, seed=5)
    next(iter(straight))  # epoch 1: its order drawn, one batch taken
    want = [xb.clone() for xb, _ in straight]  # epoch 2 in full
    first = _loader(y, seed=5)
    next(iter(first))
    it = iter(first)
    done = [next(it)[0].clone() for _ in range(4)]
    state = copy.deepcopy(first.state_dict())
    resumed = _loader(y, seed=99)  # another generator: the state decides
    resumed.load_state_dict(state)
    rest = [xb.clone() for xb, _ in resumed]
    assert len(done) + len(rest) == len(want)
    assert all(torch.equal(a, b) for a, b in zip(done + rest, want))


def test_a_run_with_the_balanced_sampler_resumes_mid_epoch_bit_exactly(tmp_path):
    x, y = _imbalanced(270, 30)
    cfg = netcoach.load_config(overrides={
        "task.name": "binary", "data.sampler": "balanced", "model.name": "mlp", "model.width": "16",
        "train.epochs": "2", "data.batch_size": "16", "diagnose.preflight": "false",
        "run.dir": str(tmp_path)})

    class Snapshot(Callback):
        state = None

        def on_batch_end(self, trainer, batch):
            if trainer.epoch == 1 and trainer.loaders["train"].position == 3 and Snapshot.state is None:
                Snapshot.state = copy.deepcopy(capture(trainer))

    want = build_trainer(cfg, data=(x, y), callbacks=[Snapshot()]).fit()
    assert Snapshot.state["partial"]["gathered"].shape == (3 * 16, 1)  # the epoch's outputs so far
    save_training_state(tmp_path, "last", Snapshot.state)  # through the checkpoint files
    resumed = build_trainer(cfg, data=(x, y))
    restore(resumed, load_training_state(tmp_path, "last"))
    got = resumed.fit()
    keys = ("train_loss", "train_acc", "train_auc", "train_f1", "val_loss", "val_acc", "val_auc", "val_f1")
    assert [{k: e[k] for k in keys} for e in got] == [{k: e[k] for k in keys} for e in want]


def test_the_balanced_sampler_needs_class_labels(tmp_path):
    cfg = netcoach.load_config(overrides={"data.name": "diabetes", "task.name": "regression",
                                          "data.sampler": "balanced", "run.dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="data.sampler balanced: task regression has no classes to "
                                          "balance; use data.sampler shuffle"):
        netcoach.train(cfg)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"needs one class index per sample, got targets of shape \(4, 2\)"):
        DeviceLoader(Split(torch.zeros(4, 1), torch.zeros(4, 2)), 2, shuffle=True,
                     generator=torch.Generator(), sampler="balanced")


def test_auto_class_weights_are_inverse_frequencies_and_weight_the_loss():
    y = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    task = build_task("classification", class_weights="auto")
    task.fit(y, 3)
    # N / (K n_c) = 100 / (3 * [60, 30, 10])
    assert task.weights.tolist() == pytest.approx([100 / 180, 100 / 90, 100 / 30])
    assert task.weights.tolist() == pytest.approx(compute_class_weight("balanced", classes=np.arange(3), y=y.numpy()))
    logits = torch.randn(100, 3, generator=torch.Generator().manual_seed(0)).double()
    w = task.weights[y.numpy()]
    want = log_loss(y.numpy(), logits.softmax(1).numpy(), sample_weight=w)
    assert float(task.loss(logits, y)) == pytest.approx(want, rel=1e-9)
    with pytest.raises(ConfigError, match="loss.class_weights: 2 weights given for 3 classes"):
        build_task("classification", class_weights="1,2").fit(y, 3)


def _prior_entropy(p):
    p = np.asarray(p, dtype=np.float64)
    return float(-(p * np.log(p)).sum())


@pytest.mark.parametrize("task_name, counts", [("binary", [950, 50]), ("classification", [700, 200, 100])])
def test_with_bias_init_prior_the_initial_loss_matches_the_prior_entropy(tmp_path, task_name, counts):
    g = np.random.default_rng(0)
    y = np.concatenate([np.full(c, k) for k, c in enumerate(counts)])
    x = g.normal(size=(len(y), 8)).astype(np.float32)
    cfg = netcoach.load_config(overrides={
        "task.name": task_name, "model.name": "mlp", "model.bias_init": "prior", "train.epochs": "1",
        "diagnose.checks": "initial_loss", "diagnose.batch_size": "1000", "run.dir": str(tmp_path)})
    trainer = build_trainer(cfg, data=(x, y))
    check = run_preflight(trainer, cfg)[0]
    prior = np.asarray(counts) / sum(counts)  # the stratified training split keeps these exactly
    # binary: H(p) = -(p ln p + (1-p) ln(1-p)) of p = 0.05 = 0.19852; 3 classes: 0.80182
    entropy = _prior_entropy(prior)
    assert check["details"]["expected"] == pytest.approx(entropy, rel=1e-9)
    assert abs(check["details"]["measured"] - entropy) < 0.05
    assert check["status"] == "pass" and "prior" in check["reason"]
    bias = trainer.model.head_layer.bias.detach().double().numpy()
    want = [math.log(prior[1] / prior[0])] if task_name == "binary" else np.log(prior)
    assert bias == pytest.approx(want, rel=1e-5)
    # without it the untrained model starts at chance: ln 2 / ln 3, far from the prior's entropy
    plain_cfg = netcoach.load_config(overrides={"task.name": task_name, "model.name": "mlp",
                                                "diagnose.checks": "initial_loss", "run.dir": str(tmp_path)})
    expected = run_preflight(build_trainer(plain_cfg, data=(x, y)), plain_cfg)[0]["details"]["expected"]
    assert expected == pytest.approx(math.log(max(len(counts), 2)))
