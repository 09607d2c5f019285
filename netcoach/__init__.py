"""netcoach: train neural networks the way practitioners do, and see why.

The public API (no star imports): configs, training, loading runs.
"""

from netcoach.api import RunResult, build_trainer, load_config, load_run, train
from netcoach.config import Config, ConfigError
from netcoach.data import DataBundle, from_arrays
from netcoach.ensemble import load_ensemble
from netcoach.train import Callback
from netcoach.version import __version__

__all__ = ["Callback", "Config", "ConfigError", "DataBundle", "RunResult", "__version__",
           "build_trainer", "from_arrays", "load_config", "load_ensemble", "load_run", "train"]
