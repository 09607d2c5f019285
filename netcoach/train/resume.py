"""Continuing a run: which config it continues with, and putting its last state back.

A resumed run must end exactly as an uninterrupted one, so only options that cannot
change the result may differ from the run's own config: ``train.epochs`` (train
longer; the new value is written back to ``config.toml`` so re-running it
reproduces the run) and reporting/logging options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from netcoach.config import Config, ConfigError, apply_overrides, to_dict
from netcoach.train.checkpoint import load_training_state
from netcoach.train.run import RunFolder
from netcoach.train.state import restore

# What may differ on resume: the length of the run, and settings that change only speed or
# what is written, never the arithmetic of a training step.
RESUMABLE_CHANGES = ("train.epochs", "train.threads", "data.eval_batch_size", "report.", "diagnose.",
                     "log.")


def as_override_text(value: Any) -> str:
    """A Python value as the command line would spell it (``true``, ``a,b``, ``none``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(as_override_text(v) for v in value)
    return "none" if value is None else str(value)


def with_overrides(config: Config, overrides: Optional[Mapping[str, Any]]) -> Config:
    """``config`` with ``{"section.key": value}`` applied (strings or typed values)."""
    if not overrides:
        return config
    return apply_overrides(config, {k: v if isinstance(v, str) else as_override_text(v)
                                    for k, v in overrides.items()})


def flat(config: Config) -> dict:
    """``{"section.key": value}`` of every option."""
    return {f"{section}.{key}": value for section, values in to_dict(config).items()
            for key, value in values.items()}


def resume_config(run_dir: str | Path, config: Optional[Config] = None,
                  overrides: Optional[Mapping[str, Any]] = None) -> Config:
    """The config to continue ``run_dir`` with: the run's own, with ``overrides``
    applied. Only ``RESUMABLE_CHANGES`` may differ from the saved config."""
    run = RunFolder(run_dir)
    if not run.config_path.is_file():
        raise FileNotFoundError(f"--resume {run_dir}: no config.toml there; is it a netcoach run folder?")
    saved = run.config()
    new = with_overrides(config or saved, overrides)
    before = flat(saved)
    changed = [k for k, v in flat(new).items() if before.get(k) != v
               and not k.startswith(RESUMABLE_CHANGES) and not k.startswith("run.")]
    if changed:
        raise ConfigError(f"--resume {run_dir}: cannot change {', '.join(changed)} when resuming "
                          f"(only {', '.join(RESUMABLE_CHANGES)} may change)")
    return new


def restore_run(trainer, run: RunFolder) -> dict:
    """Load the run's last checkpoint into ``trainer``, cut the per-epoch logs back to
    it, and return where training continues (``{"epoch", "step"}``).

    A run stopped before its first checkpoint restarts from the beginning: the trainer
    is exactly as freshly built, so the result still equals an uninterrupted run.
    """
    if run.has_checkpoint("last"):
        restore(trainer, load_training_state(run.checkpoints, "last"))
    run.truncate_epoch_logs(trainer.epoch)
    return {"epoch": trainer.epoch, "step": trainer.step}
