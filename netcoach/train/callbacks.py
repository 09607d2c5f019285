"""The callback API: six hooks, each given the trainer (its state) and a logs dict.

A callback stops training by setting ``trainer.stop_training = True``, never by
raising. A callback whose state must survive a resume sets ``state_key`` and
implements ``state_dict()``/``load_state_dict(state)`` (tensors, numbers, strings,
lists and dicts; see ``netcoach.train.state``). Hooks, in the order the loop calls them::

    on_fit_start(trainer)
      on_epoch_start(trainer)
        on_batch_end(trainer, batch)      # batch: {"loss": device tensor, "size": int,
                                          #         "stepped": bool (an optimizer step was taken;
                                          #         False for all but the last of a grad_accum group)}
      on_eval_end(trainer, logs)          # logs hold train_* and val_* of the epoch
      on_epoch_end(trainer, logs)         # after the schedule stepped and epoch += 1
    on_fit_end(trainer, logs)
"""

from __future__ import annotations

from typing import Iterable

from netcoach.config import ConfigError


class Callback:
    """Base class: override the hooks you need."""

    def on_fit_start(self, trainer) -> None: ...
    def on_epoch_start(self, trainer) -> None: ...
    def on_batch_end(self, trainer, batch: dict) -> None: ...
    def on_eval_end(self, trainer, logs: dict) -> None: ...
    def on_epoch_end(self, trainer, logs: dict) -> None: ...
    def on_fit_end(self, trainer, logs: dict) -> None: ...


HOOKS = ("on_fit_start", "on_epoch_start", "on_batch_end", "on_eval_end", "on_epoch_end", "on_fit_end")


class CallbackList:
    """Dispatches each hook to the callbacks that override it.

    Only overriding callbacks are called, so an unused per-batch hook costs nothing
    in the hot loop.
    """

    def __init__(self, callbacks: Iterable[Callback] = ()):
        self.callbacks = list(callbacks)
        self._bound = {
            hook: [getattr(cb, hook) for cb in self.callbacks
                   if getattr(type(cb), hook, None) is not getattr(Callback, hook)]
            for hook in HOOKS
        }

    def __iter__(self):
        return iter(self.callbacks)

    def call(self, hook: str, *args) -> None:
        for fn in self._bound[hook]:
            fn(*args)

    def has(self, hook: str) -> bool:
        return bool(self._bound[hook])


def monitored_value(logs: dict, key: str, option: str) -> float:
    """``logs[key]``, or a ConfigError naming the option and the metrics that are logged."""
    if key not in logs:
        raise ConfigError(f"{option}: '{key}' is not logged; available: {', '.join(sorted(logs))}")
    return logs[key]
