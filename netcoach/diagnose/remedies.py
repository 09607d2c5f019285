"""The course's remedies for each of the doctor's verdicts, fitted to the run's own config.

A remedy that is already in place is never advised: "reduce regularization" names only the
regularizers that are on (and is left out when none is), "a CNN for images" is offered only
to a fully connected model, "add dropout" becomes "increase dropout (now 0.3)" when dropout
is already used, "use Adam" is not offered to an Adam run. Without a config (an old run
folder) the generic advice is given.
"""

from __future__ import annotations

from typing import Optional

from netcoach.config import Config

FULLY_CONNECTED = ("mlp", "linear")
ADAPTIVE = ("adam", "adamw", "radam", "rmsprop", "adagrad", "adadelta")


def active_regularizers(config: Config) -> dict[str, float]:
    """The regularization settings that are on (non-zero), by their config key."""
    values = {
        "optim.weight_decay": config.optim.weight_decay,
        "regularize.weight_decay": config.regularize.weight_decay,
        "regularize.l1": config.regularize.l1,
        "model.dropout": config.model.dropout,
        "model.block_dropout": config.model.block_dropout,
        "model.input_dropout": config.model.input_dropout,
        "loss.label_smoothing": config.loss.label_smoothing,
    }
    return {k: v for k, v in values.items() if v}


def _setting(key: str, value) -> str:
    return f"{key} = {value:g}" if isinstance(value, float) else f"{key} = {value}"


def overfitting(config: Optional[Config]) -> list[str]:
    if config is None:
        return ["collect more training data", "augment the data (augment.transforms)",
                "increase weight decay (optim.weight_decay)", "add dropout (model.dropout)",
                "stop early: keep the weights of the epoch where validation loss turned (the best "
                "checkpoint does)", "use a smaller model or a pretrained network (transfer learning)"]
    transforms = list(config.augment.transforms)
    return [
        "collect more training data",
        f"augment more strongly (augment.transforms now {', '.join(transforms)})" if transforms
        else "augment the data (augment.transforms)",
        f"increase weight decay (optim.weight_decay, now {config.optim.weight_decay:g})"
        if config.optim.weight_decay else "add weight decay (optim.weight_decay, e.g. 5e-4)",
        f"increase dropout (model.dropout, now {config.model.dropout:g})" if config.model.dropout
        else "add dropout (model.dropout, e.g. 0.5)",
        "stop early: keep the weights of the epoch where validation loss turned (the best "
        "checkpoint does)",
        "use a smaller model or a pretrained network (transfer learning)",
    ]


def underfitting(config: Optional[Config]) -> list[str]:
    if config is None:
        return ["use a bigger model (model.width, model.depth) or a better-suited architecture",
                "train longer (train.epochs)", "re-tune the learning rate (LR finder)"]
    bigger = f"use a bigger model (model.width, now {config.model.width}; model.depth)"
    if config.model.name in FULLY_CONNECTED:
        bigger += " or a CNN for images (model.name cnn)"
    out = [bigger, f"train longer (train.epochs, now {config.train.epochs})"]
    regs = active_regularizers(config)
    if regs:
        out.append("reduce regularization (" + ", ".join(_setting(k, v) for k, v in regs.items()) + ")")
    out.append(f"re-tune the learning rate (optim.lr now {config.optim.lr:g}; LR finder)")
    return out


def lr_too_high(config: Optional[Config]) -> list[str]:
    lr = f"optim.lr, now {config.optim.lr:g}" if config is not None else "optim.lr"
    out = [f"lower the learning rate ({lr}; e.g. 10x lower, Adam with 3e-4 is a safe start)",
           "find it with the LR finder (netcoach lr-find)"]
    if config is None or not (config.schedule.warmup_steps or config.regularize.clip_norm):
        out.append("add warm-up (schedule.warmup_steps) or gradient clipping (regularize.clip_norm)")
    return out


def lr_too_low(config: Optional[Config]) -> list[str]:
    lr = f"optim.lr, now {config.optim.lr:g}" if config is not None else "optim.lr"
    out = [f"raise the learning rate ({lr}; 3-10x) or find it with the LR finder"]
    if config is None or config.optim.name not in ADAPTIVE:
        out.append("use Adam (3e-4 .. 1e-3) or SGD with momentum")
    out.append("train longer (train.epochs)")
    return out


def plateau(config: Optional[Config]) -> list[str]:
    out = []
    if config is None or config.schedule.name == "constant":
        out.append("decay the learning rate (schedule.name step/cosine_restarts or plateau)")
    out += ["stop early: more epochs at this learning rate do not help",
            "if the plateau is too high: a bigger model or less regularization"]
    return out


def diverging(config: Optional[Config]) -> list[str]:
    return lr_too_high(config) + ["check the input normalization and the initial loss (netcoach check)"]


def bad_init(config: Optional[Config]) -> list[str]:
    return ["fix the initialization before tuning anything else: He init for ReLU, Xavier/Glorot "
            "for tanh/sigmoid (model.init), small last-layer weights so the initial loss is near chance",
            "check the input normalization (data.normalize): unscaled inputs saturate units",
            "re-run netcoach check until initial_loss and init_units pass"]


def data_leakage(config: Optional[Config]) -> list[str]:
    return ["deduplicate the data before splitting (netcoach data info lists the duplicates)",
            "make sure no label information is in the inputs",
            "treat the validation and test scores as optimistic until then"]


def too_few_epochs(config: Optional[Config]) -> list[str]:
    return ["train for more epochs (train.epochs) before judging the learning curves"]


def healthy(config: Optional[Config]) -> list[str]:
    return ["nothing urgent; next: learning-rate decay, then a hyperparameter search for the last points"]


BY_LABEL = {f.__name__: f for f in (overfitting, underfitting, lr_too_high, lr_too_low, plateau,
                                     diverging, bad_init, data_leakage, too_few_epochs, healthy)}


def remedies(label: str, config: Optional[Config] = None) -> list[str]:
    """The remedies for ``label``, leaving out what ``config`` already does."""
    return BY_LABEL[label](config)
