"""The update's sections: the optimizer ([optim]), the learning-rate schedule ([schedule]),
and the penalties, clipping, noise and constraints around each step ([regularize]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from netcoach.config.schema.fields import opt


@dataclass(frozen=True)
class OptimConfig:
    name: str = opt("adam", "optimizer (registry name): gd, sgd, momentum, nesterov, adagrad, rmsprop, "
                            "adam, adamw, adadelta, radam")
    lr: float = opt(1e-3, "learning rate", above=0.0)
    momentum: float = opt(0.9, "momentum coefficient alpha (momentum, nesterov)", min=0.0, max=1.0)
    betas: list[float] = opt([0.9, 0.999], "Adam-type moment decay rates (beta1, beta2)", min=0.0, below=1.0)
    eps: float = opt(1e-8, "numerical-stability term in adaptive optimizers", min=0.0)
    weight_decay: float = opt(0.0, "weight decay (decoupled for adamw, L2-in-gradient otherwise)", min=0.0)
    rho: float = opt(0.9, "decay of the running average of squared gradients (rmsprop beta, adadelta gamma)", min=0.0, max=1.0)
    bias_correction: bool = opt(True, "adam: divide the moments by (1 - beta^t); false gives the "
                                      "course's first Adam formula")
    adadelta_accumulator: str = opt("ema", "adadelta: running average of squared gradients (ema, as "
                                           "Zeiler and torch) or their running sum (sum, as the course's slide)",
                                    choices=("ema", "sum"))
    initial_accumulator: float = opt(0.0, "adagrad: starting value v0 of the squared-gradient sum "
                                          "(torch's default 0; Keras uses 0.1)", min=0.0)
    norm_bias_lr_mult: float = opt(1.0, "multiply the lr of normalization-layer biases (shifts) by "
                                        "this and divide their weight decay by it, so lr x decay per "
                                        "step is unchanged (airbench's bias_scaler 64)", above=0.0)
    decay_bias_norm: bool = opt(False, "also apply weight decay, L1/L2 and max-norm to biases and "
                                       "normalization parameters (excluded by default)")
    fused: bool = opt(True, "adam, adamw: torch's fused kernel, one pass over all parameters (a 2x128 "
                            "MLP on digits trains ~25% faster on the CPU); false: torch's for-loop "
                            "step, which rounds differently in the last bits")


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = opt("constant", "learning-rate schedule (registry name): constant, step, multistep, "
                                "exponential, plateau, cyclic, cosine_restarts, onecycle")
    step_size: int = opt(10, "epochs between decays (step schedule)", min=1)
    gamma: float = opt(0.1, "decay factor (step, multistep, exponential per epoch, plateau)", above=0.0)
    milestones: list[int] = opt([50, 75], "epochs at which multistep multiplies the lr by gamma", min=1)
    monitor: str = opt("val_loss", "plateau: the metric of the epoch logs it watches")
    mode: str = opt("auto", "plateau: whether the monitored metric is better when smaller (min) or larger "
                            "(max); auto: from its name (loss, error -> min; acc, f1 -> max)",
                    choices=("auto", "min", "max"))
    patience: int = opt(5, "plateau: epochs without improvement before the lr is multiplied by gamma", min=0)
    threshold: float = opt(1e-4, "plateau: relative change that counts as an improvement", min=0.0)
    min_lr: float = opt(0.0, "lowest lr (plateau floor, cosine_restarts minimum, cyclic lower bound when > 0)", min=0.0)
    max_lr: Optional[float] = opt(None, "peak lr of cyclic and onecycle (default: 10 x optim.lr for "
                                        "cyclic, optim.lr for onecycle)", above=0.0)
    half_cycle_epochs: float = opt(2.0, "cyclic: epochs from the lower to the upper bound", above=0.0)
    t0_epochs: int = opt(10, "cosine_restarts: epochs of the first cycle", min=1)
    t_mult: int = opt(1, "cosine_restarts: each cycle is t_mult times longer than the previous one", min=1)
    pct_start: float = opt(0.3, "onecycle: fraction of the steps spent increasing the lr", above=0.0, below=1.0)
    div_factor: float = opt(25.0, "onecycle: the lr starts at max_lr / div_factor", above=0.0)
    final_div_factor: float = opt(1e4, "onecycle: the lr ends at max_lr / div_factor / final_div_factor",
                                  above=0.0)
    anneal_strategy: str = opt("cos", "onecycle: the shape of both phases, a half cosine (cos) or a "
                                      "straight line (linear)", choices=("cos", "linear"))
    warmup_steps: int = opt(0, "linear warmup over this many optimizer steps, on top of any schedule", min=0)
    grow_batch: bool = opt(False, "instead of decaying the lr, grow the training batch by the same "
                                  "factors (Smith et al. 2017; per-epoch schedules only)")


@dataclass(frozen=True)
class RegularizeConfig:
    l2: float = opt(0.0, "L2 penalty lambda: C = C0 + lambda/(2n) sum w^2 (n = training samples)", min=0.0)
    l1: float = opt(0.0, "L1 penalty lambda: C = C0 + lambda/n sum |w|", min=0.0)
    weight_decay: float = opt(0.0, "decoupled weight decay: w <- (1 - lr*lambda) w before each step", min=0.0)
    max_norm: Optional[float] = opt(None, "max-norm: each neuron's incoming weight vector is projected "
                                          "back to norm <= c after every step", above=0.0)
    clip_norm: Optional[float] = opt(None, "clip gradients to global norm <= theta", above=0.0)
    clip_value: Optional[float] = opt(None, "clip each gradient entry to [-v, v]", above=0.0)
    noise_eta: float = opt(0.0, "gradient noise: Gaussian with variance eta/(1+t)^gamma (0: off)", min=0.0)
    noise_gamma: float = opt(0.55, "gradient noise annealing exponent gamma", min=0.0)
