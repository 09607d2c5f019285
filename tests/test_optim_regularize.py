"""Regularization pieces against the course's update rules."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from netcoach.config import Config, OptimConfig
from netcoach.config.schema import RegularizeConfig
from netcoach.optim import build_optimizer
from netcoach.optim.regularize import UpdateRules


def config(**reg) -> Config:
    return replace(Config(), regularize=RegularizeConfig(**reg))


def setup(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    return model, x, y


def c0(model, x, y):
    return ((model(x) - y) ** 2).mean()


def step(model, rules, opt, x, y, t=0):
    opt.zero_grad()
    loss = c0(model, x, y)
    if rules.has_penalty:
        loss = loss + rules.penalty(model)
    loss.backward()
    rules.before_step(t)
    opt.step()
    rules.after_step()


def grads_c0(model, x, y):
    model.zero_grad()
    c0(model, x, y).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_l2_penalty_with_sgd_is_weight_decay_and_spares_biases():
    lr, lam, n = 0.1, 5.0, 50
    model, x, y = setup()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = grads_c0(model, x, y)
    rules = UpdateRules(model, config(l2=lam), n_train=n)
    opt = build_optimizer(model, OptimConfig(name="sgd", lr=lr))
    step(model, rules, opt, x, y)
    for name, p in model.named_parameters():
        if name.endswith("weight"):   # w <- (1 - lr lam / n) w - lr dC0/dw
            expect = (1 - lr * lam / n) * before[name] - lr * g[name]
        else:                         # biases: plain gradient step
            expect = before[name] - lr * g[name]
        assert torch.allclose(p.detach(), expect, atol=1e-6), name
    w = [p for nm, p in model.named_parameters() if nm.endswith("weight")]
    assert torch.isclose(rules.penalty(model), lam / (2 * n) * sum((p ** 2).sum() for p in w))


def test_l1_moves_weights_by_constant_with_sgn0_zero():
    lr, lam, n = 0.1, 2.0, 10
    model, x, y = setup()
    with torch.no_grad():
        model[0].weight[0, 0] = 0.0   # sgn(0) := 0
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = grads_c0(model, x, y)
    rules = UpdateRules(model, config(l1=lam), n_train=n)
    step(model, rules, build_optimizer(model, OptimConfig(name="sgd", lr=lr)), x, y)
    for name, p in model.named_parameters():
        shift = lr * lam / n * torch.sign(before[name]) if name.endswith("weight") else 0.0
        expect = before[name] - lr * g[name] - shift
        assert torch.allclose(p.detach(), expect, atol=1e-6), name
    assert torch.isclose(model[0].weight[0, 0], -lr * g["0.weight"][0, 0], atol=1e-7)


def test_decoupled_decay_with_adam_equals_adamw_on_weights_only():
    lam, lr = 0.1, 0.01
    model, x, y = setup()
    twin, _, _ = setup()
    opt = build_optimizer(model, OptimConfig(name="adam", lr=lr))
    rules = UpdateRules(model, config(weight_decay=lam), optimizer=opt)
    ref = build_optimizer(twin, OptimConfig(name="adamw", lr=lr, weight_decay=lam))
    none = UpdateRules(twin, None)
    for t in range(5):
        step(model, rules, opt, x, y, t)
        step(twin, none, ref, x, y, t)
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        assert torch.allclose(a, b, atol=1e-7), name


def test_max_norm_keeps_every_neuron_below_c():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    x, y = torch.randn(6, 1, 6, 6), torch.randn(6, 5)
    c = 0.5
    with torch.no_grad():
        model[2].weight[0].mul_(0.0).add_(0.01)  # one small row: must stay untouched
    rules = UpdateRules(model, config(max_norm=c))
    opt = build_optimizer(model, OptimConfig(name="sgd", lr=1.0))
    small_before = model[2].weight[0].detach().clone()
    opt.zero_grad()
    rules.after_step()
    assert torch.equal(model[2].weight[0], small_before)
    for t in range(3):
        step(model, rules, opt, x, y, t)
        for w in (model[0].weight, model[2].weight):
            norms = w.detach().flatten(1).norm(dim=1)
            assert (norms <= c + 1e-6).all()
    assert model[2].bias.abs().max() > 0  # biases are not constrained


@pytest.mark.parametrize("theta", [0.01, 0.1, 100.0])
def test_clip_by_global_norm_keeps_direction(theta):
    model, x, y = setup()
    c0(model, x, y).backward()
    g0 = torch.cat([p.grad.flatten() for p in model.parameters()])
    UpdateRules(model, config(clip_norm=theta)).before_step(0)
    g1 = torch.cat([p.grad.flatten() for p in model.parameters()])
    expect = min(theta, g0.norm()) / g0.norm() * g0   # g <- min(theta, |g|)/|g| g
    assert g1.norm() <= theta * (1 + 1e-6)
    assert torch.allclose(g1, expect, rtol=1e-5, atol=1e-9)


def test_clip_by_value():
    model, x, y = setup()
    c0(model, x, y).backward()
    g0 = [p.grad.clone() for p in model.parameters()]
    UpdateRules(model, config(clip_value=0.05)).before_step(0)
    for p, g in zip(model.parameters(), g0):
        assert torch.equal(p.grad, g.clamp(-0.05, 0.05))


def test_gradient_noise_variance_is_annealed_and_reproducible():
    eta, gamma = 0.3, 0.55
    model = nn.Linear(400, 500)
    rules = UpdateRules(model, config(noise_eta=eta, noise_gamma=gamma))
    draws = {}
    for t in (0, 99):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        rules.before_step(t)
        draws[t] = model.weight.grad.clone()
        expect = eta / (1 + t) ** gamma                 # variance eta/(1+t)^gamma
        assert abs(draws[t].var().item() / expect - 1) < 0.02
        assert abs(draws[t].mean().item()) < 4 * (expect / draws[t].numel()) ** 0.5
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    rules.before_step(99)
    assert torch.equal(model.weight.grad, draws[99])    # same step, same noise (exact resume)


def test_invalid_values_are_rejected():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="regularize.max_norm"):
        UpdateRules(model, config(max_norm=0.0))
    with pytest.raises(ValueError, match="regularize.l2"):
        UpdateRules(model, config(l2=-1.0))


def _bn_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Tanh(), nn.Linear(3, 2))


def test_weight_decay_with_a_users_sgd_over_model_parameters_spares_biases_and_norms():
    # One group holding everything: whether a parameter decays must come from the model.
    lam, lr = 0.5, 0.1
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    decayed, plain = _bn_model(), _bn_model()
    w0 = {n: p.detach().clone() for n, p in decayed.named_parameters()}
    opt_d = torch.optim.SGD(decayed.parameters(), lr=lr)
    opt_p = torch.optim.SGD(plain.parameters(), lr=lr)
    assert len(opt_d.param_groups) == 1 and "decay" not in opt_d.param_groups[0]
    step(decayed, UpdateRules(decayed, config(weight_decay=lam), optimizer=opt_d), opt_d, x, y)
    step(plain, UpdateRules(plain, config(weight_decay=0.0), optimizer=opt_p), opt_p, x, y)
    got, ref = dict(decayed.named_parameters()), dict(plain.named_parameters())
    for name in ("0.bias", "1.weight", "1.bias", "3.bias"):  # biases and BN scale/shift
        assert torch.equal(got[name], ref[name]), name
    for name in ("0.weight", "3.weight"):  # w <- (1 - lr lambda) w, then the same gradient step
        expected = ref[name] - lr * lam * w0[name]
        assert torch.allclose(got[name], expected, atol=1e-7), name
        assert not torch.allclose(got[name], ref[name]), name


def test_adamw_from_a_parameter_list_with_its_model_spares_biases_and_norms():
    lr, lam = 0.1, 0.5
    model = _bn_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = build_optimizer(list(model.parameters()), OptimConfig(name="adamw", lr=lr, weight_decay=lam),
                          owner=model)
    for p in model.parameters():  # zero gradient: AdamW's step is its decay alone
        p.grad = torch.zeros_like(p)
    opt.step()
    for name, p in model.named_parameters():
        factor = (1 - lr * lam) if name in ("0.weight", "3.weight") else 1.0
        assert torch.allclose(p, before[name] * factor, atol=1e-7), name
