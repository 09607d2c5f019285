"""Each optimizer against a direct implementation of the course's formula (10 steps on a quadratic),
and gradient descent on the course's worked example f(x) = x^4 + x + 2."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netcoach.config import OptimConfig
from netcoach.optim import build_optimizer, optimizers
from netcoach.optim.params import param_groups



@pytest.fixture(autouse=True)
def float64():
    """Formulas are compared to 1e-10, not to float32 rounding (restored after each test)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


A = torch.tensor([[3.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.3]], dtype=torch.float64)
B = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
THETA0 = torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
STEPS = 10


def grad(theta: torch.Tensor) -> torch.Tensor:
    """Gradient of L = 1/2 theta^T A theta - b^T theta."""
    return A @ theta - B


def run_ours(name: str, **kw) -> list[torch.Tensor]:
    """Trajectory of our registered optimizer on the quadratic."""
    p = nn.Parameter(THETA0.clone())
    opt = build_optimizer([p], OptimConfig(name=name, **kw))
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = 0.5 * p @ A @ p - B @ p
        loss.backward()
        opt.step()
        out.append(p.detach().clone())
    return out


def assert_traj(ours, ref, tol=1e-10):
    for t, (a, b) in enumerate(zip(ours, ref)):
        assert torch.allclose(a, b, atol=tol, rtol=tol), f"step {t + 1}: {a} != {b}"


def test_momentum_matches_course():
    lr, a = 0.1, 0.9
    theta, v, ref = THETA0.clone(), torch.zeros(3), []
    for _ in range(STEPS):
        v = a * v - lr * grad(theta)   # v <- alpha v - gamma grad L(theta)
        theta = theta + v              # theta <- theta + v
        ref.append(theta.clone())
    assert_traj(run_ours("momentum", lr=lr, momentum=a), ref)


def test_nesterov_lookahead_and_shifted_forms_agree():
    lr, a = 0.1, 0.9
    # Look-ahead form: gradient at theta + alpha v.
    theta, v, look = THETA0.clone(), torch.zeros(3), []
    shifted_of_look = []
    for _ in range(STEPS):
        v = a * v - lr * grad(theta + a * v)
        theta = theta + v
        look.append(theta.clone())
        shifted_of_look.append(theta + a * v)  # theta^ = theta + alpha v
    # Shifted-parameter form: theta^ <- theta^ - gamma grad(theta^) + alpha v_{t+1}.
    th, v, shifted = THETA0.clone(), torch.zeros(3), []
    for _ in range(STEPS):
        g = grad(th)
        v = a * v - lr * g
        th = th - lr * g + a * v
        shifted.append(th.clone())
    assert_traj(shifted, shifted_of_look)           # the same trajectory, seen through theta^ = theta + av
    assert_traj(run_ours("nesterov", lr=lr, momentum=a), shifted)  # torch steps the shifted form


def test_adagrad_matches_course():
    lr, eps = 0.5, 1e-8
    theta, v, ref = THETA0.clone(), torch.zeros(3), []
    for _ in range(STEPS):
        g = grad(theta)
        v = v + g ** 2
        theta = theta - lr / torch.sqrt(v + eps) * g   # course: eps inside the root
        ref.append(theta.clone())
    assert_traj(run_ours("adagrad", lr=lr, eps=eps), ref, tol=1e-7)  # torch: sqrt(v) + eps
    assert_traj(run_ours("adagrad", lr=lr, eps=0.0), ref, tol=1e-7)


@pytest.mark.parametrize("init", [0.1, 2.0])
def test_adagrad_initial_accumulator_is_the_course_v0(init):
    lr = 0.5
    theta, v, ref = THETA0.clone(), torch.full((3,), init, dtype=THETA0.dtype), []
    for _ in range(STEPS):
        g = grad(theta)
        v = v + g ** 2
        theta = theta - lr / torch.sqrt(v) * g
        ref.append(theta.clone())
    assert_traj(run_ours("adagrad", lr=lr, eps=0.0, initial_accumulator=init), ref, tol=1e-7)
    assert OptimConfig().initial_accumulator == 0.0  # torch's default; Keras's is 0.1


def test_adagrad_rejects_a_negative_initial_accumulator():
    with pytest.raises(ValueError, match="optim.initial_accumulator"):
        build_optimizer([nn.Parameter(torch.zeros(1))], OptimConfig(name="adagrad", initial_accumulator=-1.0))


def test_rmsprop_matches_course():
    lr, beta, eps = 0.01, 0.9, 1e-8
    theta, v, ref = THETA0.clone(), torch.zeros(3), []
    for _ in range(STEPS):
        g = grad(theta)
        v = beta * v + (1 - beta) * g ** 2
        theta = theta - lr / torch.sqrt(v + eps) * g
        ref.append(theta.clone())
    assert_traj(run_ours("rmsprop", lr=lr, rho=beta, eps=eps), ref, tol=1e-7)


@pytest.mark.parametrize("bias_correction", [True, False])
def test_adam_matches_course(bias_correction):
    lr, a, b, eps = 0.05, 0.9, 0.999, 1e-8
    theta, m, v, ref = THETA0.clone(), torch.zeros(3), torch.zeros(3), []
    for t in range(1, STEPS + 1):
        g = grad(theta)
        m = a * m + (1 - a) * g
        v = b * v + (1 - b) * g ** 2
        mh, vh = (m / (1 - a ** t), v / (1 - b ** t)) if bias_correction else (m, v)
        theta = theta - lr * mh / torch.sqrt(vh + eps)   # course: eps inside the root
        ref.append(theta.clone())
    ours = run_ours("adam", lr=lr, betas=[a, b], eps=eps, bias_correction=bias_correction)
    assert_traj(ours, ref, tol=1e-5)  # eps placement: O(eps/sqrt(v)) apart
    ours0 = run_ours("adam", lr=lr, betas=[a, b], eps=0.0, bias_correction=bias_correction)
    theta, m, v = THETA0.clone(), torch.zeros(3), torch.zeros(3)
    for t in range(1, STEPS + 1):  # eps = 0: placement does not matter, equal to rounding
        g = grad(theta)
        m, v = a * m + (1 - a) * g, b * v + (1 - b) * g ** 2
        mh, vh = (m / (1 - a ** t), v / (1 - b ** t)) if bias_correction else (m, v)
        theta = theta - lr * mh / torch.sqrt(vh)
    assert torch.allclose(ours0[-1], theta, atol=1e-12)
    if not bias_correction:  # the two variants really differ (first step ~3x larger without it)
        assert not torch.allclose(ours[0], run_ours("adam", lr=lr, betas=[a, b], eps=eps)[0])


def _adadelta_ref(sum_accumulator: bool, rho: float, eps: float):
    theta, v, s, ref = THETA0.clone(), torch.zeros(3), torch.zeros(3), []
    for _ in range(STEPS):
        g = grad(theta)
        v = v + g ** 2 if sum_accumulator else rho * v + (1 - rho) * g ** 2
        dw = -torch.sqrt(s + eps) / torch.sqrt(v + eps) * g
        theta = theta + dw
        s = rho * s + (1 - rho) * dw ** 2   # course: eta <- gamma eta + (1 - gamma) dw^2
        ref.append(theta.clone())
    return ref


@pytest.mark.parametrize("accumulator", ["sum", "ema"])
def test_adadelta_matches_course(accumulator):
    rho, eps = 0.9, 1e-6
    ours = run_ours("adadelta", lr=1.0, rho=rho, eps=eps, adadelta_accumulator=accumulator)
    assert_traj(ours, _adadelta_ref(accumulator == "sum", rho, eps))


def test_adamw_and_radam_match_torch():
    for name, cls, kw in [("adamw", torch.optim.AdamW, {"weight_decay": 0.1}),
                          ("radam", torch.optim.RAdam, {})]:
        p = nn.Parameter(THETA0.clone())
        ref = cls([p], lr=0.05, **kw)
        ours = run_ours(name, lr=0.05, **kw)
        for t in range(STEPS):
            ref.zero_grad()
            (0.5 * p @ A @ p - B @ p).backward()
            ref.step()
            assert torch.allclose(ours[t], p.detach(), atol=1e-12), name


def f(x):
    return x ** 4 + x + 2


COURSE_TABLE = [1.000, -0.001, -0.201, -0.395, -0.546, -0.616, -0.629]


def test_gd_course_table_forward_difference():
    """The course's numbers come from the forward difference with h = 0.001: match to 3 decimals."""
    x, xs = 1.0, []
    for _ in range(len(COURSE_TABLE)):
        xs.append(x)
        x = x - 0.2 * (f(x + 0.001) - f(x)) / 0.001
    assert [round(v, 3) for v in xs] == COURSE_TABLE
    for _ in range(20):
        x = x - 0.2 * (f(x + 0.001) - f(x)) / 0.001
    assert round(x, 3) == -0.630


def test_gd_optimizer_follows_course_table():
    """Our 'gd' (exact autograd derivative) follows the table to rounding and reaches -1/2^(2/3)."""
    x = nn.Parameter(torch.tensor(1.0))
    opt = build_optimizer([x], OptimConfig(name="gd", lr=0.2))
    xs = []
    for _ in range(40):
        xs.append(float(x.detach()))
        opt.zero_grad()
        f(x).backward()
        opt.step()
    for ours, course in zip(xs, COURSE_TABLE):
        assert abs(ours - course) < 0.0025   # table rounds a forward difference to 3 decimals
    assert abs(xs[-1] - (-1 / 2 ** (2 / 3))) < 1e-6


@pytest.mark.parametrize("name", optimizers.names())
def test_every_optimizer_decreases_the_quadratic(name):
    lr = 1.0 if name == "adadelta" else 0.05
    traj = run_ours(name, lr=lr)
    loss = lambda th: float(0.5 * th @ A @ th - B @ th)  # noqa: E731
    assert loss(traj[-1]) < loss(THETA0)


def test_param_groups_exclude_bias_and_norm():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.LayerNorm(8),
                          nn.Linear(8, 3))
    groups, report = param_groups(model, weight_decay=0.01)
    assert report["decay"] == ["0.weight", "4.weight"]
    assert set(report["no_decay"]) == {"0.bias", "1.weight", "1.bias", "3.weight", "3.bias", "4.bias"}
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0]
    _, everything = param_groups(model, 0.01, decay_bias_norm=True)
    assert everything["no_decay"] == [] and len(everything["decay"]) == 8
    opt = build_optimizer(model, OptimConfig(name="sgd", lr=0.1, weight_decay=0.01))
    assert opt.group_report["decay"] == ["0.weight", "4.weight"]


def test_unknown_optimizer_lists_names():
    with pytest.raises(Exception, match="radam"):
        build_optimizer([nn.Parameter(torch.zeros(1))], OptimConfig(name="adamw2"))
    with pytest.raises(ValueError, match="optim.lr"):
        build_optimizer([nn.Parameter(torch.zeros(1))], OptimConfig(name="sgd", lr=0.0))
