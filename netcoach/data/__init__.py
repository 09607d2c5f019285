"""Data: sources (registry), splits, normalization statistics and the device loader."""

from netcoach.data import folder, npz, signals, sklearn_sets, standard, tabular  # noqa: F401  (register the sources)
from netcoach.data.base import DataBundle, Split
from netcoach.data.build import build_data, build_loaders
from netcoach.data.errors import DataError
from netcoach.data.loader import DeviceLoader
from netcoach.data.normalize import channel_stats
from netcoach.data.sources import datasets, from_arrays, from_splits

__all__ = ["DataBundle", "DataError", "DeviceLoader", "Split", "build_data", "build_loaders",
           "channel_stats", "datasets", "from_arrays", "from_splits"]
