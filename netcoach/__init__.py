"""netcoach: train neural networks the way practitioners do, and see why.

The public API (no star imports): configs, training, loading runs.
"""

from netcoach.api import RunResult, build_trainer, load_config, load_run, train
from netcoach.config import Config, ConfigError
from netcoach.data import DataBundle, from_arrays
from netcoach.ensemble import load_ensemble
from netcoach.train import Callback
from netcoach.version import __version__

__all__ = ["Callback", "Config", "ConfigError", "DataBundle", "FeatureExtractor", "RunResult",
           "__version__", "build_trainer", "from_arrays", "load_config", "load_ensemble", "load_run",
           "train"]


def __getattr__(name: str):
    """``netcoach.FeatureExtractor`` on first use: it imports scikit-learn, which plain
    training never needs."""
    if name == "FeatureExtractor":
        from netcoach.transfer.features import FeatureExtractor

        return FeatureExtractor
    raise AttributeError(f"module 'netcoach' has no attribute {name!r}")
