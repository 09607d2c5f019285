"""Which config settings apply to a run, so the report's summary lists only those (no
``vgg_layout`` for a cnn, no ``rho`` for adam). A key not named here applies always.

The tables mirror what each builder reads (models/, optim/optimizers.py, optim/schedules.py);
a setting missing from a table is shown, never hidden, so a stale table errs on the side
of showing too much.
"""

from __future__ import annotations

# key -> (the section key it depends on, the values for which it applies)
MODEL = {
    "vgg_layout": ("name", {"vgg"}),
    "resnet_depth": ("name", {"resnet"}),
    "width_mult": ("name", {"lenet5", "vgg", "resnet", "resnet9"}),
    "norm_groups": ("norm", {"group"}),
    "init_std": ("init", {"normal"}),
    "bias_value": ("bias_init", {"constant"}),
    "leaky_slope": ("activation", {"leaky_relu"}),
    "maxout_pieces": ("activation", {"maxout"}),
}
OPTIM = {
    "momentum": ("name", {"momentum", "nesterov"}),
    "betas": ("name", {"adam", "adamw", "radam"}),
    "eps": ("name", {"adagrad", "rmsprop", "adam", "adamw", "adadelta", "radam"}),
    "rho": ("name", {"rmsprop", "adadelta"}),
    "bias_correction": ("name", {"adam"}),
    "adadelta_accumulator": ("name", {"adadelta"}),
    "initial_accumulator": ("name", {"adagrad"}),
}
SCHEDULE = {
    "step_size": ("name", {"step"}),
    "gamma": ("name", {"step", "multistep", "exponential", "plateau"}),
    "milestones": ("name", {"multistep"}),
    "monitor": ("name", {"plateau"}),
    "mode": ("name", {"plateau"}),
    "patience": ("name", {"plateau"}),
    "threshold": ("name", {"plateau"}),
    "min_lr": ("name", {"plateau", "cosine_restarts", "cyclic"}),
    "max_lr": ("name", {"cyclic", "onecycle"}),
    "half_cycle_epochs": ("name", {"cyclic"}),
    "t0_epochs": ("name", {"cosine_restarts"}),
    "t_mult": ("name", {"cosine_restarts"}),
    "pct_start": ("name", {"onecycle"}),
}
TABLES = {"model": MODEL, "optim": OPTIM, "schedule": SCHEDULE}


def applicable(section_name: str, section: dict) -> dict:
    """``section`` without the keys that do not apply to its own choices."""
    rules = TABLES.get(section_name, {})
    out = {}
    for key, value in section.items():
        rule = rules.get(key)
        if rule is None or section.get(rule[0]) in rule[1]:
            out[key] = value
    return out
