"""Training: the loop, callbacks, checkpoints and the run folder."""

from netcoach.train.averaging import WeightAverage
from netcoach.train.builtin import BestCheckpoint, Checkpointer, MetricsLogger, StepCheckpointer
from netcoach.train.callbacks import Callback, CallbackList
from netcoach.train.early_stopping import EarlyStopping
from netcoach.train.guard import NanGuard, NonFiniteError
from netcoach.train.loggers import CSVLogger, StepsLogger, TensorBoardLogger
from netcoach.train.progress import ProgressBar
from netcoach.train.run import RunExistsError, RunFolder
from netcoach.train.trainer import Trainer

__all__ = ["BestCheckpoint", "CSVLogger", "Callback", "CallbackList", "Checkpointer", "EarlyStopping",
           "MetricsLogger", "NanGuard", "NonFiniteError", "ProgressBar", "RunExistsError", "RunFolder",
           "StepCheckpointer", "StepsLogger", "TensorBoardLogger", "Trainer", "WeightAverage"]
