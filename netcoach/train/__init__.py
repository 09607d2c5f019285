"""Training: the loop, callbacks, checkpoints and the run folder."""

from netcoach.train.builtin import BestCheckpoint, MetricsLogger
from netcoach.train.callbacks import Callback, CallbackList
from netcoach.train.progress import ProgressBar
from netcoach.train.run import RunExistsError, RunFolder
from netcoach.train.trainer import Trainer

__all__ = ["BestCheckpoint", "Callback", "CallbackList", "MetricsLogger", "ProgressBar",
           "RunExistsError", "RunFolder", "Trainer"]
